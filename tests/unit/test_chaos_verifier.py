"""The fault suite's verifier without a broker: the log folded as the design says (units,
refusals, a transfer's inbound half), and each anomaly class recognized on crafted output."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.chaos.channels_reference import from_document
from tests.chaos.log_fold import Refused, fold_log, normalize
from tests.chaos.topics_reader import Observed, catalog_in_force, policies_in_force, policy_refusal
from tests.chaos.verifier import compare

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-11-25T10:00:00Z"
CATALOG = {"S": {"sku": "S", "uoms": {"CS": 12}}}
POLICIES = from_document({"channels": {"web": {"locations": ["DC1", "DC2"]}}})


def event(event_id: str, kind: str, location: str = "DC1", qty: int | None = 1, **fields) -> dict:
    return {"event_id": event_id, "type": kind, "sku": "S", "location": location, "qty": qty, "uom": "EA",
            "source": "wms", "occurred_at": AT, **fields}


def on_log(*events: dict, partition: int = 0) -> dict[int, list]:
    return {partition: [(offset, f"{e['sku']}@{e['location']}".encode(), e) for offset, e in enumerate(events)]}


HISTORY = on_log(event("r1", "Receipt", qty=10), event("r2", "Receipt", qty=5),
                 event("q1", "ReserveRequested", qty=4, reservation_id="o1", channel="web", order_id="o1"))


def shown(fold, key: str, **changed) -> dict:
    """A position as the engine shows it (GET /positions, a location record)."""
    position = fold.positions[key]
    return {**position.view(), "version": position.changes, "sku": "S", "location": key.split("@")[1], **changed}


def observed(positions: dict | None, web: dict[str, list[tuple[int, int]]] | None = None) -> Observed:
    """positions shown by GET and as each one's location record; web: SKU -> (version, available)."""
    deltas = {sku: [{"sku": sku, "version": v, "available": a} for v, a in values] for sku, values in (web or {}).items()}
    return Observed(positions, {key: [body] for key, body in (positions or {}).items()}, {"web": deltas})


# --- the log, folded --------------------------------------------------------------------------


def test_units_and_times_are_normalized():
    got = normalize(b"S@DC1", event("e1", "Receipt", qty=2, uom="CS"), CATALOG["S"])
    assert got["qty"] == 24 and got["occurred_at"] == 1_795_600_800_000
    decoded = {**event("e1", "Receipt"), "occurred_at": datetime(2026, 11, 25, 10, tzinfo=timezone.utc)}
    assert normalize(b"S@DC1", decoded, None)["occurred_at"] == 1_795_600_800_000


@pytest.mark.parametrize("key, record, reason", [
    (b"S@DC1", None, "decode"),
    (b"S@DC2", event("e", "Receipt"), "key"),
    (b"S@DC1", event("e", "Receipt", uom="PL"), "invalid:uom"),
    (b"S@DC1", event("e", "Receipt", qty=0), "invalid:qty"),
    (b"S@DC1", event("e", "Adjustment", qty=-2), "invalid:reason"),
    (b"S@DC1", event("e", "ReturnReceived", disposition="scrapped"), "invalid:disposition"),
    (b"S@DC1", event("e", "TransferShipped", to_location="DC1"), "invalid:to_location"),
])
def test_what_the_design_dead_letters_is_refused(key, record, reason):
    with pytest.raises(Refused, match=reason):
        normalize(key, record, CATALOG["S"])


def inbound(offset: int, qty: int = 3) -> dict:
    """The half the engine writes for the shipment at offset `offset` of S@DC1's partition."""
    return event("t1:inbound", "TransferInbound", location="DC2", qty=qty, source="transfer:DC1", source_seq=offset)


def test_a_transfer_counts_once_however_often_its_half_was_written():
    shipped = on_log(event("t1", "TransferShipped", qty=3, to_location="DC2"))
    halves = on_log(inbound(0), event("x", "Receipt", location="DC2"), inbound(0, qty=99), partition=1)
    fold = fold_log({**shipped, **halves}, CATALOG)
    assert fold.positions["S@DC1"].buckets["on_hand"] == -3
    assert fold.positions["S@DC2"].buckets["incoming"] == 3  # the copy after a crash is not folded
    assert fold.lost_halves == fold.orphan_halves == []


def test_a_half_never_written_is_a_lost_write_and_still_arrives_in_the_fold():
    fold = fold_log(on_log(event("t1", "TransferShipped", qty=3, to_location="DC2")), CATALOG)
    assert fold.lost_halves == ["t1:inbound"]
    assert fold.positions["S@DC2"].buckets["incoming"] == 3
    verdict = compare(fold, observed(None), POLICIES, CATALOG)
    assert verdict.lost_writes["transfers"] == 1 and not verdict.ok


def test_a_half_for_a_shipment_not_applied_is_an_orphan():
    repeated = on_log(event("t1", "TransferShipped", qty=3, to_location="DC2"),
                      event("t1", "TransferShipped", qty=3, to_location="DC2"))  # an upstream retry
    fold = fold_log({**repeated, **on_log(inbound(0), inbound(1), partition=1)}, CATALOG)
    assert fold.orphan_halves == [("t1:inbound at S@DC2 (offset 1) names offset 1 of S@DC1: a repeat of t1 the fold "
                                   "did not apply (an upstream retry)")]
    assert fold.positions["S@DC2"].buckets["incoming"] == 3
    shown = {key: {**position.view(), "version": position.changes} for key, position in fold.positions.items()}
    verdict = compare(fold, observed(shown, {"S": [(1, 0)]}), POLICIES, CATALOG)
    assert verdict.matches and verdict.duplicates_applied == {"transfers": 1}  # the figures are right, the log is not
    assert verdict.report().startswith("ALL-POSITIONS-MATCH") and "inbound half t1:inbound" in verdict.report()


# --- catalog.items and inventory.policies as the engine keeps them ----------------------------


def avro(name: str, record: dict) -> bytes:
    from streams.wire.codec import cli_codec

    return cli_codec().encode(name, record)


def item(sku: str, **fields) -> bytes:
    return avro("Item", {"sku": sku, **fields})


def test_a_refused_catalog_record_leaves_the_item_before_it_in_force():
    catalog = catalog_in_force([
        (b"S", item("S", uoms={"CS": 12})),
        (b"T", item("T", uoms={"CS": 6})),
        (b"K", item("K", components=[{"sku": "S", "qty": 2}])),
        (b"S", b"garbage"),  # not Avro
        (b"S", b""),  # empty, not a tombstone
        (b"S", item("S", uoms={"CS": 0})),  # a unit of no eaches
        (b"S", item("S", uoms={"CS": 2_000_000})),  # over MAX_UNIT_FACTOR
        (b"S", item("T", uoms={"CS": 99})),  # a key that is not the item's SKU
        (b"\xff\xfeT", item("T", uoms={"CS": 98})),  # a key that is not UTF-8
        (b"K", item("K", components=[{"sku": "K", "qty": 1}])),  # a kit containing itself
        (b"S", item("S", components=[{"sku": "K", "qty": 1}])),  # ... through another
        (b"K", item("K", components=[{"sku": "S", "qty": 0}])),
        (b"U", item("U", base_uom="E\x07A")),  # a control character
    ])
    assert catalog == {"S": {"sku": "S", "base_uom": "EA", "uoms": {"CS": 12}, "components": []},
                       "T": {"sku": "T", "base_uom": "EA", "uoms": {"CS": 6}, "components": []},
                       "K": {"sku": "K", "base_uom": "EA", "uoms": {}, "components": [{"sku": "S", "qty": 2}]}}
    # a good record and a tombstone still change it
    assert catalog_in_force([(b"S", item("S", uoms={"CS": 12})), (b"S", b"junk"), (b"S", item("S", uoms={"CS": 24}))]
                            )["S"]["uoms"] == {"CS": 24}
    assert catalog_in_force([(b"S", item("S", uoms={"CS": 12})), (b"S", None)]) == {}


def test_kits_deeper_than_the_limit_are_refused():
    chain = [(f"K{i}".encode(), item(f"K{i}", components=[{"sku": f"K{i - 1}" if i else "S", "qty": 1}]))
             for i in range(5)]  # K0 is a kit of plain items (depth 1), K4 would be 5 deep
    assert sorted(catalog_in_force(chain)) == ["K0", "K1", "K2", "K3"]


CHANNEL = {"name": "web", "locations": ["DC1", "DC2"], "overrides": {}, "publish_interval": 2.0,
           "rule": {"buffer": 1, "allocation_percent": 50.0, "max_qty": None, "floor": None,
                    "include_incoming": False, "ring_fence": 0}}
LOCATION = {"name": "DC1", "safety_stock": 2, "overrides": {}, "reconciliation": "alert"}


def channel(**changes) -> bytes:
    return avro("ChannelPolicy", {**CHANNEL, **changes, "rule": {**CHANNEL["rule"], **changes.pop("rule", {})}})


@pytest.mark.parametrize("key, record, reason", [
    ("channel:web", {**CHANNEL, "rule": {**CHANNEL["rule"], "allocation_percent": float("nan")}},
     "invalid:channels.web.allocation_percent"),
    ("channel:web", {**CHANNEL, "rule": {**CHANNEL["rule"], "allocation_percent": 150.0}},
     "invalid:channels.web.allocation_percent"),
    ("channel:web", {**CHANNEL, "rule": {**CHANNEL["rule"], "buffer": -1}}, "invalid:channels.web.buffer"),
    ("channel:web", {**CHANNEL, "locations": []}, "invalid:channels.web.locations"),
    ("channel:web", {**CHANNEL, "locations": ["DC1", "DC1"]}, "invalid:channels.web.locations[1]"),
    ("channel:web", {**CHANNEL, "publish_interval": 0.0}, "invalid:channels.web.publish_interval"),
    ("channel:web", {**CHANNEL, "overrides": {"S": {**CHANNEL["rule"], "max_qty": -5}}},
     "invalid:channels.web.overrides.S"),
    ("channel:amazon", CHANNEL, "invalid:(key)"),
    ("channel:control", {**CHANNEL, "name": "control"}, "invalid:channels.control"),
    ("location:DC1", {**LOCATION, "safety_stock": -1}, "invalid:locations.DC1.safety_stock"),
    ("location:DC1", {**LOCATION, "reconciliation": "sometimes"}, "invalid:locations.DC1.reconciliation"),
    ("location:D@1", {**LOCATION, "name": "D@1"}, "invalid:locations.D@1"),
])
def test_a_policy_policies_apply_would_refuse_is_refused(key, record, reason):
    assert policy_refusal(key, record) == reason


def test_a_refused_policy_does_not_replace_the_one_in_force():
    good_location = avro("LocationPolicy", LOCATION)
    policies = policies_in_force([
        (b"channel:web", channel()),
        (b"location:DC1", good_location),
        (b"channel:web", b"garbage"),
        (b"channel:web", b""),
        (b"channel:web", channel(rule={"allocation_percent": float("nan")})),
        (b"channel:amazon", channel()),  # web's record under amazon's key
        (b"bogus:web", channel(rule={"buffer": 7})),
        (b"\xff\xfe", channel(rule={"buffer": 8})),
        (b"location:DC1", avro("LocationPolicy", {**LOCATION, "safety_stock": -3})),
        (b"location:DC1", avro("ChannelPolicy", {**CHANNEL, "name": "DC1"})),  # the wrong record for its key
    ])
    assert list(policies.channels) == ["web"]
    assert policies.channels["web"].rule.allocation_percent == 50.0 and policies.channels["web"].rule.buffer == 1
    assert policies.safety_stock("DC1", "S") == 2
    # a good record replaces, a tombstone removes
    later = policies_in_force([(b"channel:web", channel()), (b"channel:web", channel(rule={"buffer": 4})),
                               (b"location:DC1", good_location), (b"location:DC1", None)])
    assert later.channels["web"].rule.buffer == 4 and not later.locations


# --- anomalies on crafted output --------------------------------------------------------------


def test_output_equal_to_the_fold_is_all_positions_match():
    fold = fold_log(HISTORY, CATALOG)
    verdict = compare(fold, observed({"S@DC1": shown(fold, "S@DC1")}, {"S": [(1, 10), (2, 15), (2, 15), (3, 11)]}),
                      POLICIES, CATALOG)
    assert verdict.ok, verdict.report()
    assert verdict.report().startswith("ALL-POSITIONS-MATCH: 1 positions, 1 SKUs x 1 channels, from 3 records")
    assert verdict.resent["availability.web"] == 1  # the same version and value again: harmless


def test_a_lost_write_is_named_exactly():
    fold = fold_log(HISTORY, CATALOG)
    behind = shown(fold, "S@DC1", on_hand=10, ats=6, version=2)  # r2 never applied
    verdict = compare(fold, observed({"S@DC1": behind}, {"S": [(1, 6)]}), POLICIES, CATALOG)
    assert verdict.lost_writes == {"positions": 1, "availability.locations": 1}
    assert "exactly the fold without event r2" in verdict.report()
    assert not verdict.matches and not verdict.duplicates_applied
    # the channel shows the formula over those positions: it follows the difference, not counted again
    assert verdict.differences["availability.web"] == 1 and "availability.web" not in verdict.lost_writes


def test_a_duplicate_is_named_exactly():
    fold = fold_log(HISTORY, CATALOG)
    twice = shown(fold, "S@DC1", on_hand=20, ats=16, version=4)  # r2 applied again
    verdict = compare(fold, observed({"S@DC1": twice}, {"S": [(1, 11)]}), POLICIES, CATALOG)
    assert verdict.duplicates_applied == {"positions": 1, "availability.locations": 1}
    assert "exactly the fold with event r2 applied twice" in verdict.report()


def test_a_difference_no_single_event_explains_is_classified_by_version():
    fold = fold_log(HISTORY, CATALOG)
    verdict = compare(fold, observed({"S@DC1": shown(fold, "S@DC1", held=1, ats=10)}, {"S": [(1, 11)]}),
                      POLICIES, CATALOG)
    assert verdict.diverged == {"positions": 1, "availability.locations": 1}
    behind = compare(fold, observed({"S@DC1": shown(fold, "S@DC1", held=1, version=1)}, {"S": [(1, 11)]}),
                     POLICIES, CATALOG)
    assert behind.lost_writes["positions"] == 1 and "below the fold's 3 changes" in behind.report()


@pytest.mark.parametrize("versions, found", [
    ([(1, 10), (3, 11), (2, 12)], "version 2 after 3"),
    ([(1, 10), (2, 12), (2, 11)], "version 2 again with 11, was 12"),
])
def test_a_version_going_backwards_on_a_channel(versions, found):
    fold = fold_log(HISTORY, CATALOG)
    verdict = compare(fold, observed({"S@DC1": shown(fold, "S@DC1")}, {"S": versions}), POLICIES, CATALOG)
    assert verdict.non_monotonic == {"availability.web": 1}
    assert verdict.matches and not verdict.ok  # the last value is right, the order was not
    assert found in verdict.report()


def test_an_earlier_record_sent_again_after_newer_ones_is_resent_not_an_anomaly():
    fold = fold_log(HISTORY, CATALOG)
    history = [(1, 10), (2, 15), (3, 11), (2, 15), (3, 11)]  # a new owner sending 2 and 3 again
    verdict = compare(fold, observed({"S@DC1": shown(fold, "S@DC1")}, {"S": history}), POLICIES, CATALOG)
    assert verdict.ok, verdict.report()
    assert verdict.resent["availability.web"] == 2


def test_a_channel_that_missed_a_change_is_a_lost_write():
    fold = fold_log(HISTORY, CATALOG)
    stale = compare(fold, observed({"S@DC1": shown(fold, "S@DC1")}, {"S": [(1, 15)]}), POLICIES, CATALOG)
    assert stale.lost_writes == {"availability.web": 1}
    assert "shows 15 (version 1), the formula over the fold gives 11" in stale.report()
    missing = compare(fold, observed({"S@DC1": shown(fold, "S@DC1")}), POLICIES, CATALOG)
    assert missing.lost_writes == {"availability.web": 1}


def test_a_position_the_engine_lost_entirely():
    fold = fold_log(HISTORY, CATALOG)
    verdict = compare(fold, Observed({"S@DC1": None}, {}, {"web": {}}), POLICIES, CATALOG)
    assert verdict.lost_writes == {"positions": 1, "availability.locations": 1, "availability.web": 1}


# --- independence -----------------------------------------------------------------------------

VERIFIER = ["tests/chaos/verifier.py", "tests/chaos/verdict.py", "tests/chaos/log_fold.py",
            "tests/chaos/channels_reference.py", "tests/chaos/topics_reader.py", "tests/reference/inventory.py"]


@pytest.mark.parametrize("path", VERIFIER)
def test_the_verifier_imports_no_engine_model(path):
    tree = ast.parse((ROOT / path).read_text())
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        for name in names:
            # tests/reference's fold() takes tables.events.normalize lazily; the verifier never calls it
            if path.endswith("inventory.py") and name in ("tables.events", "tables.limits"):
                continue
            assert not name.startswith(("tables", "agents")), f"{path} imports {name}"


def test_running_the_verifier_loads_no_engine_model():
    code = ("import sys, tests.chaos.verifier as v; from tests.chaos import topics_reader; "
            "topics_reader.cli_codec(); print(' '.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    forbidden = {"tables.model", "tables.channels", "tables.position", "tables.policy", "tables.replay",
                 "tables.sku_state", "tables.publishing", "agents"}
    assert not forbidden & set(loaded.stdout.split())
