"""What the location agent writes to the positions table for one applied event, in order.
Pure: the agent writes these (a None value is a tombstone), the tests cut the list anywhere.

The position comes first: it holds the guard (the offset applied) and names the reservation
its event changed, with that reservation's new record. The reservation's record and its expiry
entry follow, in the same changelog partition, so a crash keeps a prefix of the list: a
position without its reservation's write is repaired when Kafka redelivers the event (the
model says REDELIVERED and the list is written again); a reservation is never ahead of its
position.
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson

from tables import keys
from tables.model import record_of
from tables.position import Position

EXPIRY = b"expiry"  # index: expires_at -> reservation key

Write = tuple[bytes, bytes | None]


def writes(key: bytes, position: Position, with_reservation: bool) -> list[Write]:
    """with_reservation: the event changed a reservation, or is a redelivery (whose
    reservation write a crash may have lost)."""
    out: list[Write] = [(key, position.to_bytes())]
    if position.legacy:  # read from a record that still held its reservations: they move out
        for rid, reservation in position.reservations.items():
            out.extend(reservation_writes(key, rid, record_of(reservation), reservation.expires_at))
    last = position.last_reservation
    if with_reservation and last is not None:
        out.extend(reservation_writes(key, last["id"], last["record"], last["expires_at"]))
    return out


def reservation_writes(key: bytes, rid: str, record: dict[str, Any] | None, expires_at: int | None) -> Iterator[Write]:
    """A reservation's record (a tombstone once closed) and its expiry entry, kept while it
    holds unpicked units (picked ones do not expire)."""
    reservation_key = keys.reservation(key, rid)
    yield reservation_key, orjson.dumps(record) if record is not None else None
    if expires_at is not None:
        expiring = record is not None and record["unpicked"] > 0
        yield keys.due_entry(EXPIRY, expires_at, reservation_key), b"" if expiring else None
