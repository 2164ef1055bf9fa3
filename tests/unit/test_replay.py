"""The clean fold (tables/replay.py) and the simulated scenarios built on it (streams/cli/simulate.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.cli import simulate
from streams.wire.records import from_json
from streams.wire.codec import load_schemas
from tables.position import BUCKETS
from tables.replay import fold

UTC = timezone.utc
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
AT_MS = 1_795_600_800_000
CATALOG = {"S": {"sku": "S", "base_uom": "EA", "uoms": {"CS": 12}}}


def ev(event_id: str, type_: str = "Receipt", *, minute: int = 0, **fields) -> dict:
    record = {"event_id": event_id, "type": type_, "sku": "S", "location": "WH1", "source": "wms",
              "occurred_at": AT + timedelta(minutes=minute), "qty": 1}
    record.update(fields)
    return record


def buckets(position) -> dict:
    return {name: getattr(position, name) for name in BUCKETS}


# --- fold --------------------------------------------------------------------------------------


def test_fold_applies_events_in_order_per_position():
    positions = fold([
        ev("a", qty=10),
        ev("b", "ReserveRequested", qty=3, reservation_id="r1", channel="web", order_id="o1", minute=1),
        ev("c", qty=2, uom="CS", location="WH2", minute=2),
        ev("d", "PickConfirmed", qty=3, reservation_id="r1", minute=3),
    ], CATALOG)
    assert set(positions) == {"S@WH1", "S@WH2"}
    wh1 = positions["S@WH1"]
    assert (wh1.on_hand, wh1.reserved, wh1.picked, wh1.ats) == (10, 0, 3, 7)
    assert wh1.version == 3 and wh1.last_event_id == "d"
    assert wh1.updated_at == AT_MS + 3 * 60_000
    assert positions["S@WH2"].on_hand == 24  # 2 CS of 12


def test_transfer_shipped_makes_incoming_at_the_destination():
    positions = fold([ev("in", qty=20), ev("t1", "TransferShipped", qty=1, uom="CS", to_location="WH2", minute=1)],
                     CATALOG)
    assert positions["S@WH1"].on_hand == 8
    dest = positions["S@WH2"]
    assert buckets(dest) == {**dict.fromkeys(BUCKETS, 0), "incoming": 12}  # in eaches
    assert dest.last_event_id == "t1:inbound"
    assert dest.source_marks == {"transfer:WH1": [2, AT_MS + 60_000]}


@pytest.mark.parametrize("inbound_first", [False, True])
def test_transfer_received_settles_incoming_whichever_comes_first(inbound_first):
    shipped = ev("t1", "TransferShipped", qty=5, to_location="WH2", minute=1)
    received = ev("t1-r", "TransferReceived", qty=5, location="WH2", from_location="WH1", minute=2)
    # The inbound half is a follow-up, applied after the records given: a receipt in the same
    # batch is "ahead" of it. To see it first, send the same inbound half (same id) as a record;
    # the follow-up is then a duplicate.
    inbound = ev("t1:inbound", "TransferInbound", qty=5, location="WH2", from_location="WH1", minute=1,
                 source="asn")
    records = [ev("in", qty=5), shipped, inbound, received] if inbound_first else [ev("in", qty=5), shipped, received]
    positions = fold(records, CATALOG)
    dest = positions["S@WH2"]
    assert (dest.on_hand, dest.incoming, dest.received_ahead) == (5, 0, 0)
    assert positions["S@WH1"].on_hand == 0


def test_fold_skips_records_the_engine_would_dead_letter():
    positions = fold([
        ev("ok", qty=4),
        ev("neg", qty=-1),  # Receipt qty must be positive
        ev("unit", qty=1, uom="PL"),  # no such unit for S
        ev("nosku", sku="Z", uom="CS"),  # CS needs the item master, Z is not in it
        ev("self", "TransferShipped", to_location="WH1"),
        ev("bad", "Nope"),
        ev("empty", source=""),
        ev("ok2", qty=1, minute=1),
    ], CATALOG)
    assert list(positions) == ["S@WH1"]
    assert positions["S@WH1"].on_hand == 5
    assert positions["S@WH1"].recent_ids == ["ok", "ok2"]


def test_fold_dedupes_re_sent_events():
    receipt = ev("r", qty=7)
    shipped = ev("t", "TransferShipped", qty=2, to_location="WH2", minute=1)
    positions = fold([receipt, dict(receipt), shipped, dict(receipt), dict(shipped)], CATALOG)
    assert positions["S@WH1"].on_hand == 5
    assert positions["S@WH1"].version == 2
    assert positions["S@WH2"].incoming == 2  # the re-sent transfer's inbound half is dropped too


def test_fold_does_not_mutate_its_input():
    records = [ev("a", qty=2, uom="CS"), ev("t", "TransferShipped", qty=1, uom="CS", to_location="WH2")]
    before = [dict(r) for r in records]
    fold(records, CATALOG)
    assert records == before


def test_reservation_request_re_sent_with_another_id_is_answered_once():
    # The receipt before the retry makes a fresh decision accept it again (ats 6 >= 4): only
    # the remembered answer keeps reserved at 4.
    positions = fold([
        ev("a", qty=5),
        ev("b", "ReserveRequested", qty=4, reservation_id="r1", channel="web", order_id="o"),
        ev("more", qty=5),
        ev("b-retry", "ReserveRequested", qty=4, reservation_id="r1", channel="web", order_id="o"),
    ], CATALOG)
    assert positions["S@WH1"].reserved == 4
    assert positions["S@WH1"].ats == 6


def test_duplicate_transfer_makes_no_second_inbound_even_with_a_small_window():
    positions = fold([
        ev("r1", qty=50), ev("r3", location="WH3", qty=50),
        ev("t1", "TransferShipped", qty=5, to_location="WH2", minute=1),
        ev("t2", "TransferShipped", qty=7, location="WH3", to_location="WH2", minute=1),
        ev("t1", "TransferShipped", qty=5, to_location="WH2", minute=1),  # re-sent
    ], {}, dedupe_window=1)
    assert positions["S@WH1"].on_hand == 45  # the origin did drop the repeat
    assert positions["S@WH2"].incoming == 12


# --- simulate ----------------------------------------------------------------------------------


def test_events_are_deterministic_per_seed():
    first = list(simulate.events(7, 300))
    assert first == list(simulate.events(7, 300))
    assert first != list(simulate.events(8, 300))
    assert len(first) == 300


def test_events_contain_duplicates_with_the_same_body():
    records = list(simulate.events(3, 400))
    seen: dict[str, dict] = {}
    repeats = 0
    for record in records:
        if record["event_id"] in seen:
            repeats += 1
            assert record == seen[record["event_id"]]
        seen[record["event_id"]] = record
    assert repeats >= 5
    no_dups = [r["event_id"] for r in simulate.events(3, 200, duplicate_ratio=0.0)]
    assert len(no_dups) == len(set(no_dups))


def test_events_are_valid_json_records_of_many_types():
    schema = load_schemas()["InventoryEvent"]
    records = list(simulate.events(11, 500, skus=4, locations=2))
    types = set()
    for record in records:
        assert set(record) <= {f["name"] for f in schema["fields"]}
        from_json(schema, orjson.loads(orjson.dumps(record)))
        assert record["sku"] in {f"SKU-{i}" for i in range(4)} and record["location"] in {"WH0", "WH1"}
        types.add(record["type"])
    assert len(types) >= 12
    assert {"TransferShipped", "ReserveRequested", "CycleCount"} <= types


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_expected_positions_hold_the_invariants(seed):
    items = simulate.catalog(5)
    records = list(simulate.events(seed, 600))
    expected = simulate.expected(records, items)
    assert list(expected) == sorted(expected)
    assert len(expected) >= 10
    for key, view in expected.items():
        assert key == f"{view['sku']}@{view['location']}"
        formula = (view["on_hand"] - view["quarantined"] - view["damaged"] - view["held"]
                   - view["reserved"] - view["picked"] - view["safety_stock"])
        assert view["ats"] == max(0, formula), key
        for name in BUCKETS:
            if name != "on_hand":
                assert view[name] >= 0, (key, name, view[name])
        assert view["version"] >= 1 and view["event_id"]
        assert isinstance(view["occurred_at"], int)
    # Transfers reached their destinations: with each of these seeds some shipped units are
    # still in transit at the end (incoming is 0 everywhere if the inbound halves were lost).
    assert any(v["incoming"] for v in expected.values())


def test_expected_is_the_fold_and_is_not_fooled_by_duplicates():
    items = simulate.catalog(3)
    records = list(simulate.events(5, 300, skus=3, locations=2))
    unique, seen = [], set()
    for record in records:
        if record["event_id"] not in seen:
            seen.add(record["event_id"])
            unique.append(record)
    assert len(unique) < len(records)
    assert simulate.expected(records, items) == simulate.expected(unique, items)


def test_write_makes_the_three_files(tmp_path):
    simulate.write(tmp_path / "s", seed=9, count=120, skus=3, locations=2)
    catalog = [orjson.loads(line) for line in (tmp_path / "s" / "catalog.jsonl").read_text().splitlines()]
    events = [orjson.loads(line) for line in (tmp_path / "s" / "events.jsonl").read_text().splitlines()]
    expected = orjson.loads((tmp_path / "s" / "expected.json").read_bytes())
    assert catalog == simulate.catalog(3)
    assert events == list(simulate.events(9, 120, 3, 2))
    assert expected == simulate.expected(events, catalog)
