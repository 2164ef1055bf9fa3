"""Reservations with a ttl expire: when expires_at passes, the engine logs a ReservationExpired
event for it, and the location agent applies it like a release.

The location agent keeps an index of open reservations by expires_at in each partition of the
positions table (tables/keys.py), so a check is a range read of what is due, per partition
this worker owns: no scan at a rebalance, no memory per reservation. The clock is read only
here, to decide when to log the event; the model never reads it, so a replay of the log gives
the same state. The event id comes from the reservation, so logging it twice is harmless.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from streams.app import app, timer, topic
from streams.app import topics
from streams.app.pacing import Pace
from streams.wire.codec import default_codec
from tables import keys
from tables.position_records import EXPIRY
from tables.store import due_entries, positions

CHECK_SECONDS = 1.0
BATCH = 500  # events logged per partition per check: a mass expiry never stalls the loop
RESEND_AFTER_MS = 30_000  # logged and still in the index (not applied yet): log it again

# Expiries logged and not applied yet, with when: cleared as their entries leave the index.
_logged: dict[bytes, int] = {}


@timer(CHECK_SECONDS)
async def expire() -> None:
    now = int(time.time() * 1000)
    name = topic(topics.EVENTS).get_topic_name()
    due_now: set[bytes] = set()
    pace = Pace()
    for tp in app.assignor.assigned_actives():
        if tp.topic != name:
            continue
        for entry, at, reservation_key in due_entries(positions, tp.partition, EXPIRY, now, BATCH):
            await pace.step()
            due_now.add(entry)
            if now - _logged.get(entry, -RESEND_AFTER_MS) >= RESEND_AFTER_MS:
                _logged[entry] = now
                await log_expiry(reservation_key, at)
    for entry in set(_logged) - due_now:
        del _logged[entry]


async def log_expiry(reservation_key: bytes, at: int) -> None:
    sku, location, reservation_id = keys.split_reservation(reservation_key)
    await topic(topics.EVENTS).send(key=keys.position(sku, location),
                            value=default_codec().encode("InventoryEvent", expired(sku, location, reservation_id, at)))


def expired(sku: str, location: str, reservation_id: str, expires_at: int) -> dict[str, Any]:
    """expires_at: the index entry's time, so the location agent can drop an entry whose
    reservation is no longer open."""
    return {
        "event_id": f"expire:{reservation_id}@{location}", "type": "ReservationExpired", "sku": sku,
        "location": location, "qty": None, "uom": "EA", "source": "stockstream", "source_seq": None,
        "occurred_at": datetime.now(timezone.utc), "correlation_id": None, "reason": None,
        "reservation_id": reservation_id, "channel": None, "order_id": None,
        "expires_at": datetime.fromtimestamp(expires_at / 1000, tz=timezone.utc),
        "disposition": None, "from_disposition": None, "to_location": None, "from_location": None,
    }
