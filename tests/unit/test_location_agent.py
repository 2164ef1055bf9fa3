"""The location agent's own code (agents/locations.py), run in-process by streams/testing.py:
what it writes, sends and dead-letters, and that a crash anywhere is repaired by the
redelivery."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from streams.cli import simulate
from streams.testing import LocationStage
from streams.wire.codec import default_codec
from streams.wire.records import from_json, parse_time
from tables.events import position_key
from tables.position import Position
from tables.replay import fold

CATALOG = {item["sku"]: item for item in simulate.catalog(3)}
EVENTS = list(simulate.events(seed=11, count=120, skus=3, locations=2))


def encoded(events: list[dict]) -> list[tuple[bytes, bytes]]:
    codec = default_codec()
    schema = codec.schemas["InventoryEvent"]
    return [(position_key(e["sku"], e["location"]).encode(), codec.encode("InventoryEvent", from_json(schema, e)))
            for e in events]


def positions(result) -> dict[str, dict]:
    return {key.decode(): Position.from_bytes(value).view() for key, value in result.table.items().items()
            if b"\x1f" not in key and not key.startswith(b"\x00")}


STAGE = LocationStage(catalog=CATALOG)
MESSAGES = STAGE.events(encoded(EVENTS))
CLEAN = STAGE.run(MESSAGES)


def test_the_agent_s_positions_are_the_clean_fold_and_each_change_is_published():
    folded = fold([{**e, "occurred_at": parse_time("occurred_at", e["occurred_at"])} for e in EVENTS], CATALOG)
    got = positions(CLEAN)
    # Every position the events name is in the table (none skipped, dead-lettered or lost).
    assert set(got) == set(folded) == {position_key(e["sku"], e["location"]) for e in EVENTS}
    # (transfers' inbound halves are sent to inventory.events, not applied here: incoming is left out)
    for key, position in folded.items():
        assert {b: got[key][b] for b in ("on_hand", "reserved", "picked", "held", "quarantined", "damaged")} == \
               {b: getattr(position, b) for b in ("on_hand", "reserved", "picked", "held", "quarantined", "damaged")}
    published = CLEAN.decoded("availability.locations", "LocationAvailability")
    last = {}
    for record in published:
        last[position_key(record["sku"], record["location"])] = record
    assert {k: (v["version"], v["ats"]) for k, v in last.items()} == {k: (v["version"], v["ats"]) for k, v in got.items()}
    versions = [r["version"] for r in published if r["sku"] == published[0]["sku"] and r["location"] == published[0]["location"]]
    assert versions == list(range(1, len(versions) + 1))


@pytest.mark.parametrize("kept", [0, 1, 2, 3])
def test_a_crash_at_any_record_and_write_is_repaired_by_the_redelivery(kept):
    """Every record, cut after `kept` of its table writes (the position first, then the
    reservation it changed and its expiry entry), redelivered from a few records back."""
    last_published = {k: v["version"] for k, v in positions(CLEAN).items() if v["version"]}
    for crash_at in range(len(MESSAGES)):
        crashed = STAGE.run(MESSAGES, crash_at=crash_at, writes_kept=kept, redeliver_from=crash_at - crash_at % 4)
        assert crashed.table.items() == CLEAN.table.items(), (crash_at, kept)
        last = {}
        for record in crashed.decoded("availability.locations", "LocationAvailability"):
            last[position_key(record["sku"], record["location"])] = record["version"]
        assert last == last_published, (crash_at, kept)


def test_bad_records_are_dead_lettered_and_change_nothing():
    codec = default_codec()
    good = encoded([{"event_id": "g", "type": "Receipt", "sku": "SKU-1", "location": "WH1", "qty": 3,
                     "source": "wms", "occurred_at": "2026-11-25T10:00:00Z"}])[0]
    stage = LocationStage()
    result = stage.run(stage.events([
        (b"SKU-1@WH1", b"not avro"),
        (b"SKU-9@WH1", good[1]),  # the key names another position
        good,
    ]))
    assert [(key, kind) for key, kind, _ in result.dead_letters] == [(b"SKU-1@WH1", "decode"), (b"SKU-9@WH1", "key")]
    assert Position.from_bytes(result.table.get(b"SKU-1@WH1")).on_hand == 3
    assert codec.decode("LocationAvailability", result.sent[-1].value)["on_hand"] == 3


def test_a_reservation_made_through_the_api_is_reported_to_its_service():
    at = datetime(2026, 11, 25, 10, tzinfo=timezone.utc).isoformat()
    stage = LocationStage()
    result = stage.run(stage.events(encoded([
        {"event_id": "stock", "type": "Receipt", "sku": "S", "location": "DC1", "qty": 5, "source": "wms", "occurred_at": at},
        {"event_id": "reserve:web/r1@DC1", "type": "ReserveRequested", "sku": "S", "location": "DC1", "qty": 2,
         "reservation_id": "web/r1", "channel": "web", "order_id": "o1", "source": "api", "occurred_at": at},
        {"event_id": "pick", "type": "PickConfirmed", "sku": "S", "location": "DC1", "qty": 2,
         "reservation_id": "web/r1", "source": "wms", "occurred_at": at},
    ])))
    told = [orjson.loads(s.value) for s in result.sent if s.topic == "inventory.reservations"]
    assert [(t["answer"] or {}).get("decision") if "answer" in t else None for t in told] == ["accepted", None]
    assert [(t["open"], t["unpicked"], t["picked"]) for t in told] == [(True, 2, 0), (True, 0, 2)]
    assert result.table.get(b"S@DC1\x1fweb/r1") is not None  # the reservation's own record
