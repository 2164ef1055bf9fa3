"""Hostile input on the real broker (issue 8): every record and request the engine cannot use
is refused with a reason (a status, or a dead letter with stockstream.dlq.reason) and counted,
and the partition keeps going: a valid event after it is applied."""

from __future__ import annotations

import hashlib
import math

from streams.app import topics
from streams.wire.codec import load_schemas
from streams.wire.deadletters import read as read_dead_letter
from streams.wire.records import from_json
from streams.testing.clients import TOKEN, apply_policies, call, post, receipts, reserve, setup
from streams.testing.deployment import wait_for

AT = "2026-11-25T10:00:00Z"


def event(event_id: str, kind: str = "Receipt", sku: str = "SKU-1", location: str = "WH1", **fields) -> dict:
    return {"event_id": event_id, "type": kind, "sku": sku, "location": location, "source": "wms",
            "occurred_at": AT, **fields}


def avro(name: str, record: dict) -> bytes:
    from streams.wire.codec import default_codec

    return default_codec().encode(name, from_json(load_schemas()[name], record))


def dead_letters(deployment) -> list[dict]:
    return [read_dead_letter(m.key(), m.value(), m.headers() or []) for m in deployment.read(topics.DLQ)]


def reasons(deployment, stage: str) -> list[str]:
    return [letter["reason"].split(":")[0] for letter in dead_letters(deployment) if letter["stage"] == stage]


def test_oversized_and_overflowing_records_are_dead_lettered_and_the_partition_goes_on(deployment):
    deployment.env["STOCKSTREAM_MAX_MESSAGE_BYTES"] = "200000"  # so the largest dead letters must be cut
    worker = deployment.worker()
    deployment.produce_raw([
        (b"SKU-1", avro("Item", {"sku": "SKU-1", "uoms": {"CS": 12}})),
        (b"SKU-1", avro("Item", {"sku": "SKU-1", "uoms": {"PL": 5 * 10**18}})),  # refused: CS stays
    ], topics.CATALOG)
    huge = avro("InventoryEvent", event("e" * 600_000, qty=1))
    deployment.produce_raw([
        (b"SKU-1@WH1", huge),
        (b"SKU-1@WH1", avro("InventoryEvent", event("e-huge-qty", qty=2**62))),
        (b"SKU-1@WH1", avro("InventoryEvent", event("e-pallet", qty=1, uom="PL"))),  # PL was refused
        (b"K" * 400 + b"@WH1", avro("InventoryEvent", event("e-long-key", qty=1))),
        (b"SKU-1@WH1", avro("InventoryEvent", event("e-reason", "Adjustment", qty=1, reason="x" * 1000))),
        (b"SKU-1@WH1", avro("InventoryEvent", event("e-case", qty=2, uom="CS"))),  # valid: 24 each
    ])
    wait_for(lambda: (worker.position("SKU-1", "WH1") or {}).get("on_hand") == 24, 60, "the valid event after them")
    letters = wait_for(lambda: len(got := [d for d in dead_letters(deployment) if d["stage"] == "locations"]) >= 5
                       and got, 30, "the dead letters")
    by_field = {d["reason"].split(":")[0]: d for d in letters}  # (the long key is on another partition)
    assert sorted(by_field) == ["event_id", "key", "qty", "reason", "uom"]
    metrics = worker.get("/metrics")[1]
    for kind in ("limit:event_id", "limit:qty", "invalid:uom", "limit:key", "limit:reason"):
        assert f'stockstream_dead_letters_total{{reason="{kind}",stage="locations"}} 1.0' in metrics, kind
    cut = by_field["event_id"]  # 600 KB could not be dead-lettered whole under 200 KB: cut, with size and hash
    assert cut["original_size"] == len(huge) and cut["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert huge.startswith(cut["value"]) and 0 < len(cut["value"]) < 200_000
    assert by_field["qty"]["original_size"] is None  # small ones go whole
    catalog = [d for d in dead_letters(deployment) if d["stage"] == "catalog"]
    assert [d["reason"].split(":")[0] for d in catalog] == ["uoms.PL"]
    assert 'stockstream_refused_total{reason="limit:uoms.PL",topic="catalog"} 1.0' in metrics


def test_poison_policies_and_kit_cycles_are_refused_and_the_previous_values_stay(deployment, tmp_path):
    apply_policies(deployment, tmp_path, "channels:\n  web:\n    locations: [WH1]\n    publish_interval: 0.1\n")
    worker = deployment.worker()
    channel = {"name": "web", "locations": ["WH1"], "rule": {"buffer": 0, "allocation_percent": math.nan,
               "max_qty": None, "floor": None, "include_incoming": False, "ring_fence": 0},
               "overrides": {}, "publish_interval": 0.1}
    deployment.produce_raw([
        (b"\xff\xfe", b"junk"),  # a key that is not UTF-8
        (b"channel:web", avro("ChannelPolicy", channel)),  # NaN: the 100 % policy stays
    ], topics.POLICIES)
    deployment.produce_raw([
        (b"A", avro("Item", {"sku": "A"})),
        (b"K1", avro("Item", {"sku": "K1", "components": [{"sku": "A", "qty": 2}]})),
        (b"A", avro("Item", {"sku": "A", "components": [{"sku": "K1", "qty": 1}]})),  # a cycle: refused
        (b"K2", avro("Item", {"sku": "K2", "components": [{"sku": "K2", "qty": 1}]})),  # itself: refused
    ], topics.CATALOG)
    deployment.produce(receipts({"WH1": 10}, "A") + receipts({"WH1": 7}, "B"))
    wait_for(lambda: {d["sku"]: d["available"] for d in deployment.read(topics.CHANNEL_PREFIX + "web")}
             == {"A": 10, "K1": 5, "B": 7}, 60, "web at 100 %, the kit at A's half")
    assert len(deployment.read(topics.COMPONENTS)) < 10  # no loop through the kits
    metrics = worker.get("/metrics")[1]
    assert 'stockstream_refused_total{reason="invalid:(key)",topic="policies"} 1.0' in metrics
    assert 'stockstream_refused_total{reason="invalid:channels.web.allocation_percent",topic="policies"} 1.0' in metrics
    assert "stockstream_refused_total{reason=\"invalid:components\",topic=\"catalog\"} 1.0" in metrics
    assert 'stockstream_refused_total{reason="invalid:components[0].sku",topic="catalog"} 1.0' in metrics
    assert sorted(d["stage"] for d in dead_letters(deployment)) == ["catalog", "catalog", "policies", "policies"]
    assert worker.get("/health")[0] == 200


def test_the_http_surface_is_closed_and_bounded(deployment, tmp_path):
    deployment.env["STOCKSTREAM_PROTECT_READS"] = "true"
    setup(deployment, tmp_path, {"DC1": 10})
    worker = deployment.worker()
    wait_for(lambda: call(worker.port, "GET", "/positions/SKU-R/DC1")[0] == 200, 60, "stock applied")
    for path in ("/table/positions", "/router", "/graph", "/stats", "/performance"):
        assert worker.get(path)[0] == 404, path
    status, body = post(worker.port, reserve("big", 2**63))
    assert status == 400 and body["field"] == "qty"
    assert post(worker.port, reserve("big", 2))[0] == 201  # nothing was left waiting
    status, body = call(worker.port, "POST", "/reservations", TOKEN, b"{" + b" " * 70_000 + b"}")
    assert status == 400 and body["field"] == "(body)"
    status, body = call(worker.port, "GET", "/positions/" + "S" * 200 + "/DC1")
    assert status == 400 and body["field"] == "sku"
    status, body = call(worker.port, "GET", "/positions/SKU-R/D%40C")
    assert status == 400 and body["field"] == "location"
    status, body = post(worker.port, {**reserve("n1", 1), "order_id": {"nested": ["deep"]}})
    assert status == 400 and body["field"] == "order_id"
