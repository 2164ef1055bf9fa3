"""Reservations with a ttl expire: when expires_at passes, the engine logs a ReservationExpired
event for it, and the location agent applies it like a release. The clock is read only here,
to decide when to log the event; the model never reads it, so a replay of the log gives the
same state. The event id is derived from the reservation, so logging it twice is harmless.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

from agents.topics import events_topic
from streams.app import app
from streams.codec import default_codec
from tables.position import Position
from tables.store import positions

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0

# Per partition of inventory.events: (position key, reservation id) -> expires_at (epoch ms).
# Filled as reservations are accepted; after an assignment, by one scan of the partition.
_expiring: dict[int, dict[tuple[bytes, str], int]] = {}


def watch(partition: int, key: bytes, position: Position) -> None:
    """Called by the location agent after it applied an event to a position."""
    if partition not in _expiring:
        return  # not scanned yet: the scan will find it
    due = _expiring[partition]
    for rid, reservation in position.reservations.items():
        if reservation.expires_at is not None:
            due[(key, rid)] = reservation.expires_at


def scan(partition: int) -> None:
    store = positions.data
    due: dict[tuple[bytes, str], int] = {}
    for key, raw in store._db_for_partition(partition).items():  # noqa: SLF001 - per-partition view
        if key == store.offset_key:
            continue
        for rid, reservation in Position.from_bytes(raw).reservations.items():
            if reservation.expires_at is not None:
                due[(key, rid)] = reservation.expires_at
    _expiring[partition] = due


@app.timer(CHECK_SECONDS)
async def expire() -> None:
    now = int(time.time() * 1000)
    events = events_topic.get_topic_name()
    for tp in app.assignor.assigned_actives():
        if tp.topic != events:
            continue
        if tp.partition not in _expiring:
            scan(tp.partition)
        due = _expiring[tp.partition]
        for (key, rid), expires_at in list(due.items()):
            if expires_at <= now:
                del due[(key, rid)]
                sku, _, location = key.decode().rpartition("@")
                await events_topic.send(key=key, value=default_codec().encode("InventoryEvent", expired(sku, location, rid)))


def expired(sku: str, location: str, reservation_id: str) -> dict[str, Any]:
    return {
        "event_id": f"expire:{reservation_id}@{location}", "type": "ReservationExpired", "sku": sku,
        "location": location, "qty": None, "uom": "EA", "source": "stockstream", "source_seq": None,
        "occurred_at": datetime.now(timezone.utc), "correlation_id": None, "reason": None,
        "reservation_id": reservation_id, "channel": None, "order_id": None, "expires_at": None,
        "disposition": None, "from_disposition": None, "to_location": None, "from_location": None,
    }


@app.on_partitions_assigned.connect
async def forget_expiring(app: Any, assigned: Any, **kwargs: Any) -> None:
    _expiring.clear()  # each partition is scanned again by the next check
