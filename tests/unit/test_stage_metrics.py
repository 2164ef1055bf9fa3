"""What the location stage counts per record (events by type and outcome, reservations by
decision), the ingest time it passes on to the channel stage, and what its log lines carry:
agents/locations.py run in-process by streams/testing."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from streams.app.logs import JsonFormatter
from streams.testing import LocationStage, Message
from streams.wire.codec import default_codec
from streams.wire.records import from_json
from tables.events import position_key

AT = "2026-11-25T10:00:00Z"


def event(event_id: str, kind: str, **fields) -> dict:
    return {"event_id": event_id, "type": kind, "sku": "SKU-1", "location": "WH1", "source": "wms",
            "occurred_at": AT, **fields}


def message(offset: int, record: dict | bytes, timestamp: float | None = None) -> Message:
    if isinstance(record, bytes):
        return Message("inventory.events", 0, offset, b"SKU-1@WH1", record, timestamp=timestamp)
    codec = default_codec()
    value = codec.encode("InventoryEvent", from_json(codec.schemas["InventoryEvent"], record))
    return Message("inventory.events", 0, offset, position_key(record["sku"], record["location"]).encode(), value,
                   timestamp=timestamp)


def counts() -> dict[tuple[str, ...], float]:
    """Every sample of the two counters, by labels."""
    out = {}
    for family in REGISTRY.collect():
        if family.name in ("stockstream_events", "stockstream_reservations"):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[(family.name, *sorted(sample.labels.items()))] = sample.value
    return out


def counted(before: dict, after: dict) -> dict[tuple[str, str], float]:
    """What a run added: (type, outcome) of events at the location stage, ('decision', d) of reservations."""
    added = {}
    for key, value in after.items():
        labels = dict(key[1:])
        if value != before.get(key, 0) and labels.get("stage", "locations") == "locations":
            name = (labels["type"], labels["outcome"]) if key[0] == "stockstream_events" else ("decision", labels["decision"])
            added[name] = value - before.get(key, 0)
    return added


STORY = [
    event("r-1", "Receipt", qty=5),
    event("q-1", "ReserveRequested", reservation_id="o-1", qty=3, channel="web", order_id="o-1"),
    event("q-2", "ReserveRequested", reservation_id="o-2", qty=5, channel="web", order_id="o-2"),  # 2 free
    event("q-3", "ReserveRequested", reservation_id="o-1", qty=3, channel="web", order_id="o-1"),  # o-1 again
    event("r-1", "Receipt", qty=5),  # an upstream retry
    event("c-2", "CycleCount", qty=9, source_seq=2),
    event("c-1", "CycleCount", qty=4, source_seq=1),  # older than the count applied
    event("x-1", "ReservationReleased", reservation_id="o-1"),
    event("q-4", "ReserveRequested", reservation_id="o-4", qty=1, channel="web", order_id="o-4"),
    event("e-4", "ReservationExpired", reservation_id="o-4"),
    event("x-9", "ReservationReleased", reservation_id="o-9"),  # never made here: not a release
    event("r-0", "Receipt", qty=0),  # invalid
]


def test_events_count_by_type_and_outcome_and_reservations_by_decision():
    before = counts()
    messages = [message(n, record) for n, record in enumerate(STORY)] + [message(len(STORY), b"\x00garbage")]
    result = LocationStage().run(messages)
    assert len(result.dead_letters) == 2
    assert counted(before, counts()) == {
        ("Receipt", "applied"): 1, ("Receipt", "duplicate"): 1, ("Receipt", "dead_letter"): 1,
        ("ReserveRequested", "applied"): 2, ("ReserveRequested", "rejected"): 1, ("ReserveRequested", "duplicate"): 1,
        ("CycleCount", "applied"): 1, ("CycleCount", "stale"): 1,
        ("ReservationReleased", "applied"): 2, ("ReservationExpired", "applied"): 1,
        ("unknown", "dead_letter"): 1,
        ("decision", "accepted"): 2, ("decision", "rejected"): 1, ("decision", "released"): 1,
        ("decision", "expired"): 1,
    }


def test_a_location_record_carries_when_its_event_reached_kafka():
    result = LocationStage().run([message(0, STORY[0], timestamp=1_764_064_800.123), message(1, STORY[5])])
    first, second = result.decoded("availability.locations", "LocationAvailability")
    assert round(first["ingested_at"].timestamp() * 1000) == 1_764_064_800_123
    assert second["ingested_at"] is None  # a record with no timestamp: the delta it causes is not timed


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def lines():
    handler = Lines()
    logger = logging.getLogger("agents.locations")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_a_line_the_stage_logs_names_the_record_s_position_event_and_correlation(lines, monkeypatch):
    import orjson

    from agents import locations

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    def undecodable(message, limits):
        if message.offset == 1:
            raise RuntimeError("before decoding")
        return decoded(message, limits)

    decoded = locations.decoded
    monkeypatch.setattr(locations, "apply", broken)
    monkeypatch.setattr(locations, "decoded", undecodable)
    LocationStage().run([message(0, {**STORY[0], "correlation_id": "po-7"}), message(1, STORY[1])])
    first, second = (orjson.loads(line) for line in lines)
    assert (first["key"], first["event_id"], first["correlation_id"]) == ("SKU-1@WH1", "r-1", "po-7")
    assert first["level"] == "error" and first["logger"] == "agents.locations"
    assert "RuntimeError: a bug" in first["exception"]
    # The next record's line is about that record alone: its key, nothing of the record before.
    assert second["key"] == "SKU-1@WH1" and "event_id" not in second and "correlation_id" not in second
