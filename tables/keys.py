"""How records are keyed in the engine's tables. Pure.

A table partition holds the records of its keys and, under keys that start with a zero byte
(no SKU, location or id may), small indexes kept in key order: RocksDB iterates them from the
first key, so "what is due by now" is a range read that stops at the first entry not due,
never a scan of every record.
"""

from __future__ import annotations

import struct

from tables.events import position_key

INDEX = b"\x00"
_SEPARATOR = b"\x1f"  # between a position's key and a reservation's id (no id holds it)
_TIME = struct.Struct(">Q")


def position(sku: str, location: str) -> bytes:
    return position_key(sku, location).encode()


def reservation(position_key: bytes, reservation_id: str) -> bytes:
    """A reservation's record at one position: same partition as the position."""
    return position_key + _SEPARATOR + reservation_id.encode()


def due_entry(kind: bytes, at_ms: int, subject: bytes) -> bytes:
    """An index entry that comes due at at_ms; entries of a kind sort by time."""
    return INDEX + kind + _TIME.pack(max(at_ms, 0)) + subject


def due_prefix(kind: bytes) -> bytes:
    return INDEX + kind


def due_parts(kind: bytes, key: bytes) -> tuple[int, bytes]:
    """(at_ms, subject) of a due_entry key."""
    start = len(INDEX) + len(kind)
    (at_ms,) = _TIME.unpack_from(key, start)
    return at_ms, key[start + _TIME.size:]


def split_reservation(key: bytes) -> tuple[str, str, str]:
    """(sku, location, reservation id) of a reservation key."""
    head, _, reservation_id = key.partition(_SEPARATOR)
    sku, _, location = head.decode().rpartition("@")
    return sku, location, reservation_id.decode()
