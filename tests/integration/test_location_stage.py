"""The location stage end to end on the real broker: events in, positions and
availability.locations out, bad records to the DLQ."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streams.app import topics
from streams.wire.codec import default_codec
from streams.wire.deadletters import read as read_dead_letter
from streams.testing.deployment import STOCKSTREAM, wait_for

AT = "2026-11-25T10:00:00Z"


def event(event_id: str, kind: str, sku: str = "SKU-1", location: str = "WH1", **fields):
    return {"event_id": event_id, "type": kind, "sku": sku, "location": location,
            "source": "wms", "occurred_at": AT, **fields}


def test_events_become_positions_and_availability(deployment):
    deployment.produce([{"sku": "SKU-1", "uoms": {"CS": 12}}], topics.CATALOG)
    worker = deployment.worker()
    deployment.produce([
        event("e1", "Receipt", qty=2, uom="CS"),                 # 24 each
        event("e2", "ReserveRequested", qty=5, reservation_id="r1", channel="web", order_id="o1"),
        event("e2", "ReserveRequested", qty=5, reservation_id="r1", channel="web", order_id="o1"),
        event("e3", "ReturnReceived", qty=3, disposition="quarantine"),
        event("e4", "TransferShipped", qty=4, to_location="WH2"),
        event("e5", "Snapshot", qty=99),
    ])
    expected = {"on_hand": 23, "quarantined": 3, "reserved": 5, "ats": 15, "version": 4, "event_id": "e4"}
    wh1 = wait_for(lambda: _matches(worker.position("SKU-1", "WH1"), expected), 60, "SKU-1@WH1")
    assert wh1["held"] == wh1["damaged"] == wh1["picked"] == wh1["incoming"] == 0
    assert wh1["occurred_at"] == "2026-11-25T10:00:00.000Z"
    wh2 = wait_for(lambda: worker.position("SKU-1", "WH2"), 30, "the transfer's inbound half at WH2")
    assert (wh2["incoming"], wh2["on_hand"], wh2["ats"]) == (4, 0, 0)

    status, body = worker.get("/positions/SKU-1/NOWHERE")
    assert status == 404 and "error" in body
    assert worker.get("/health")[0] == 200
    assert "event loop: uvloop.Loop" in worker.tail(400)  # the worker runs on uvloop

    published = wait_for(lambda: _at_least(deployment.read(topics.LOCATIONS), 5), 30, "availability records")
    wh1 = [r for r in published if r["location"] == "WH1"]
    # The re-sent e2 and the Snapshot change no bucket: nothing is published for them.
    assert [r["version"] for r in wh1] == [1, 2, 3, 4]
    assert [r["event_id"] for r in wh1] == ["e1", "e2", "e3", "e4"]
    assert [r["ats"] for r in wh1] == [24, 19, 19, 15]  # a return to quarantine is not sellable


def test_bad_records_go_to_the_dlq_once_and_good_ones_still_apply(deployment):
    worker = deployment.worker()
    codec = default_codec()
    good = codec.encode("InventoryEvent", _avro(event("g1", "Receipt", qty=7)))
    zero_qty = codec.encode("InventoryEvent", _avro(event("b2", "Receipt", qty=0)))
    no_destination = codec.encode("InventoryEvent", _avro(event("b3", "TransferShipped", qty=1)))
    unknown_unit = codec.encode("InventoryEvent", _avro(event("b4", "Receipt", qty=1, uom="PL")))
    key = b"SKU-1@WH1"
    deployment.produce_raw([
        (key, b"\x00\x00\x00\x00\x01garbage"),        # unknown schema id
        (key, b"not avro at all"),
        (key, zero_qty),
        (key, no_destination),
        (key, unknown_unit),
        (b"SKU-1@ELSEWHERE", good),                  # key does not match the record
        (key, good),
    ], headers=[("trace", b"abc")])
    position = wait_for(lambda: worker.position("SKU-1", "WH1"), 60, "the good record applied")
    assert position["on_hand"] == 7

    letters = wait_for(lambda: _at_least(deployment.read(topics.DLQ), 6), 30, "six dead letters")
    assert len(letters) == 6
    views = [read_dead_letter(m.key(), m.value(), m.headers()) for m in letters]
    # The key-mismatch record sits in another partition: order the letters by where they came from.
    views.sort(key=lambda v: (v["key"] != key, v["offset"]))
    reasons = [v["reason"] for v in views]
    assert "unknown schema id" in reasons[0]
    assert "magic byte" in reasons[1]
    assert reasons[2].startswith("qty:")
    assert reasons[3].startswith("to_location:")
    assert reasons[4].startswith("uom:")
    assert reasons[5].startswith("key:")
    for view in views:
        assert view["stage"] == "locations"
        assert view["topic"] == deployment.settings.topic(topics.EVENTS)
        assert isinstance(view["partition"], int) and isinstance(view["offset"], int)
        assert view["headers"] == {"trace": b"abc"}
    assert [v["value"] for v in views][2] == zero_qty  # the original bytes, untouched
    status, metrics = worker.get("/metrics")
    assert status == 200
    assert 'stockstream_dead_letters_total{reason="invalid:qty",stage="locations"} 1.0' in metrics


def test_http_is_served_by_the_owner_whichever_worker_is_asked(deployment):
    first = deployment.worker("w1")
    second = deployment.worker("w2")
    locations = [f"L{i}" for i in range(12)]  # spread over every partition
    deployment.produce([event(f"e-{loc}", "Receipt", location=loc, qty=i + 1) for i, loc in enumerate(locations)])
    for worker in (first, second):
        for i, loc in enumerate(locations):
            found = wait_for(lambda: worker.position("SKU-1", loc), 60, f"SKU-1@{loc} via {worker.name}")
            assert found["on_hand"] == i + 1


def _avro(record: dict) -> dict:
    from streams.wire.codec import load_schemas
    from streams.wire.records import from_json

    return from_json(load_schemas()["InventoryEvent"], record)


def _matches(position, expected):
    return position if position and all(position.get(k) == v for k, v in expected.items()) else None


def _at_least(records, count):
    return records if len(records) >= count else None


SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([STOCKSTREAM, *args], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{args[0]}: {done.stdout}{done.stderr}"
    return done


def test_a_hand_written_day_replayed_with_the_cli_reads_back_as_designed(deployment):
    # The item master first: an event in cases for a SKU the worker does not know yet is refused.
    cli(deployment.env, "produce", str(SCENARIOS / "catalog.jsonl"), "--topic", "catalog.items")
    worker = deployment.worker()
    cli(deployment.env, "produce", str(SCENARIOS / "warehouse_day.jsonl"))
    # Worked by hand from DESIGN §3, one line per event in warehouse_day.jsonl.
    wh1 = {"on_hand": 27, "quarantined": 1, "damaged": 1, "held": 0, "reserved": 0, "picked": 0,
           "incoming": 0, "ats": 25, "version": 16, "event_id": "d22"}
    wh2 = {"on_hand": -2, "quarantined": 0, "damaged": 0, "held": 0, "reserved": 0, "picked": 0,
           "incoming": 0, "ats": 0}
    wait_for(lambda: _matches(worker.position("SKU-A", "WH1"), wh1), 60, "SKU-A@WH1 as designed")
    wait_for(lambda: _matches(worker.position("SKU-A", "WH2"), wh2), 60, "SKU-A@WH2 as designed")
    status, metrics = worker.get("/metrics")
    assert 'stockstream_flags_total{flag="negative_on_hand"} 1.0' in metrics
    assert 'stockstream_flags_total{flag="unknown_reservation"} 1.0' in metrics
    # d19 is older than the count applied (ignored), d1 comes twice (dropped), d6 asks for r1 again
    assert 'stockstream_events_total{outcome="stale",stage="locations",type="CycleCount"} 1.0' in metrics
    assert 'stockstream_events_total{outcome="duplicate",stage="locations",type="Receipt"} 1.0' in metrics
    assert 'stockstream_events_total{outcome="duplicate",stage="locations",type="ReserveRequested"} 1.0' in metrics
    # r1 and r3 accepted, r2 rejected (20 asked, fewer free); r1 released twice (d9, d10; d11
    # finds it closed), r3 expired
    for decision, count in {"accepted": 2, "rejected": 1, "released": 2, "expired": 1}.items():
        assert f'stockstream_reservations_total{{decision="{decision}"}} {count:.1f}' in metrics


def test_a_simulated_scenario_verifies_with_the_cli(deployment, tmp_path):
    out = tmp_path / "scenario"
    cli(deployment.env, "simulate", "--out", str(out), "--events", "3000", "--seed", "5")
    cli(deployment.env, "produce", str(out / "catalog.jsonl"), "--topic", "catalog.items")
    worker = deployment.worker()
    env = {**deployment.env, "STOCKSTREAM_WEB_PORT": str(worker.port)}
    cli(env, "produce", str(out / "events.jsonl"))
    done = cli(env, "verify", str(out / "expected.json"), "--timeout", "90")
    assert "15 of 15 positions as expected" in done.stdout
