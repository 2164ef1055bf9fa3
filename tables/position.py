"""The state of one SKU at one location: its buckets and dedupe guard; and the open
reservations it holds, each a record of its own.

One record per SKU@LOCATION holds the buckets and the guard, so a change of stock and the mark
that the event was applied are a single changelog write (DESIGN §3). It stays constant-size
whatever the number of open reservations: those live in records of their own
(tables/store.py), and `Position.reservations` holds only the ones its caller loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

BUCKETS = ("on_hand", "quarantined", "damaged", "held", "reserved", "picked", "incoming")


def available_to_sell(on_hand: int, quarantined: int, damaged: int, held: int, reserved: int,
                      picked: int, safety_stock: int) -> int:
    """ats = max(0, on_hand - quarantined - damaged - held - reserved - picked - safety_stock)"""
    return max(0, on_hand - quarantined - damaged - held - reserved - picked - safety_stock)


@dataclass(slots=True)
class Reservation:
    """An accepted reservation that still holds units here: unpicked in reserved, picked in
    picked. Its own record, next to its position's (same partition)."""

    qty: int  # as accepted
    unpicked: int
    picked: int = 0
    channel: str | None = None
    order_id: str | None = None
    expires_at: int | None = None  # epoch ms

    def is_empty(self) -> bool:
        return self.unpicked == 0 and self.picked == 0

    @classmethod
    def from_bytes(cls, raw: bytes) -> Reservation:
        return cls(**orjson.loads(raw))


@dataclass(slots=True)
class Position:
    sku: str
    location: str
    on_hand: int = 0
    quarantined: int = 0
    damaged: int = 0
    held: int = 0
    reserved: int = 0
    picked: int = 0
    incoming: int = 0
    safety_stock: int = 0
    # Units received by transfer before their in-transit notice arrived (a race between
    # partitions); the late TransferInbound is absorbed by it instead of inflating incoming.
    received_ahead: int = 0
    version: int = 0
    last_event_id: str | None = None
    last_correlation_id: str | None = None
    updated_at: int = 0  # occurred_at (epoch ms) of the last change
    # First answers to reservation requests that are no longer open: id -> [decision, qty, ats].
    answers: dict[str, list[Any]] = field(default_factory=dict)
    # Per source, the last ordered event applied: [seq, occurred_at]. Absolute events
    # (CycleCount, Snapshot) by their source; a transfer's inbound half by "transfer:<origin>".
    source_marks: dict[str, list[Any]] = field(default_factory=dict)
    # [partition, offset] of the last inventory.events record applied: a record at or below it
    # is Kafka redelivering after a crash, however many events ago it was.
    offset: list[int] | None = None
    recent_ids: list[str] = field(default_factory=list)
    # Offsets of the TransferShipped records applied here (None: none since this was kept): a
    # shipment Kafka redelivers sends its inbound half again only if it was the copy applied,
    # not an upstream retry of it. Only shipments, so other events cost the record nothing.
    shipped_at: list[int] | None = None
    last_snapshot: dict[str, Any] | None = None
    # Recent on_hand movements, to rebase a Snapshot to its watermark (tables/reconcile.py):
    # [occurred_at, delta] or [occurred_at, delta, source, source_seq]; bounded, and
    # movements_floor is when the newest movement already dropped occurred.
    movements: list[list[Any]] = field(default_factory=list)
    movements_floor: int | None = None
    # The reservation the last applied event changed: {"id", "record" (None once closed),
    # "expires_at"}. Written with the position, so a crash between the position's write and
    # the reservation's (which follows it) is repaired when Kafka redelivers that event.
    last_reservation: dict[str, Any] | None = None
    # The open reservations the caller loaded for the events it applies (all of them in a
    # replay, the one an event names in the engine); never part of the position's record.
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # Read from a record written before reservations had records of their own (it held them).
    legacy: bool = field(default=False, compare=False, repr=False)

    @property
    def ats(self) -> int:
        return available_to_sell(self.on_hand, self.quarantined, self.damaged, self.held,
                                 self.reserved, self.picked, self.safety_stock)

    def within(self, limit: int) -> bool:
        """Every bucket between -limit and limit."""
        return all(-limit <= getattr(self, name) <= limit for name in BUCKETS)

    def buckets(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in BUCKETS) + (self.safety_stock,)

    def view(self) -> dict[str, Any]:
        """What GET /positions and availability.locations show."""
        out: dict[str, Any] = {"sku": self.sku, "location": self.location}
        for name in BUCKETS:
            out[name] = getattr(self, name)
        out["safety_stock"] = self.safety_stock
        out["ats"] = self.ats
        out["version"] = self.version
        out["event_id"] = self.last_event_id
        out["correlation_id"] = self.last_correlation_id
        out["occurred_at"] = self.updated_at
        return out

    def to_bytes(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in RECORD_FIELDS})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Position:
        data = orjson.loads(raw)
        embedded = data.pop("reservations", None)
        position = cls(**data)
        if embedded is not None:
            position.reservations = {rid: Reservation(**r) for rid, r in embedded.items()}
            position.legacy = True
        return position


RECORD_FIELDS = tuple(f for f in Position.__dataclass_fields__ if f not in ("reservations", "legacy"))
