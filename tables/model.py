"""What every InventoryEvent does to a position (DESIGN §3). Pure: no Kafka, asyncio or I/O.

`apply(position, event)` takes a normalized event (tables.events.normalize: quantities in
eaches, times in epoch ms), changes the position in place and returns it with an Outcome.
The caller owns the position: load it, apply, store it, in one step per event. An event that
names a reservation needs that reservation in `position.reservations` if it is open (the
engine loads its record); what the event made of it is `position.last_reservation`.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from tables.events import INBOUND_SUFFIX, TRANSFER_SOURCE
from tables.position import Position, Reservation
from tables.reconcile import HISTORY, Drift, reconcile, record_movement

Event = Mapping[str, Any]

DEDUPE_WINDOW = 200
API_SOURCE = "api"  # the source of events the reservation service logs

APPLIED = "applied"
DUPLICATE = "duplicate"  # an event id (or reservation id) seen before: an upstream retry
REDELIVERED = "redelivered"  # a record at or below the last offset applied: Kafka after a crash
STALE = "stale"
REJECTED = "rejected"
ABSOLUTE = {"CycleCount", "Snapshot"}

# Flags: a fact about an applied event that an operator should see (metrics, drift).
CLAMPED = "clamped"
NEGATIVE_ON_HAND = "negative_on_hand"
UNKNOWN_RESERVATION = "unknown_reservation"
RECEIVED_AHEAD = "received_ahead_of_shipment"


@dataclass(slots=True)
class Outcome:
    status: str = APPLIED
    changed: bool = False  # a bucket changed: publish the position
    flags: list[str] = field(default_factory=list)
    answer: dict[str, Any] | None = None  # a reservation request's decision
    drift: int | None = None  # Snapshot: the ERP's on_hand minus ours, both at its watermark
    reconciliation: Drift | None = None  # Snapshot: how that drift was found
    # The event changed the reservation it names (None: it names none, or one not open here);
    # the value is that reservation as it was before, to find its expiry entry.
    touched: Reservation | None = None
    # REDELIVERED: this very record was the one applied (not an upstream retry of an event
    # applied at another offset), so what it caused elsewhere is sent again.
    applied_here: bool = True


def apply(
    position: Position,
    event: Event,
    dedupe_window: int = DEDUPE_WINDOW,
    offset: tuple[int, int] | None = None,
    history: int = HISTORY,
) -> tuple[Position, Outcome]:
    """offset: (partition, offset) of the record on inventory.events, when there is one;
    history: on_hand movements kept to rebase a Snapshot (tables/reconcile.py)."""
    if offset is not None and _redelivered(position, offset):
        outcome = _repeat(position, event, REDELIVERED)
        outcome.applied_here = (event["type"] != "TransferShipped" or position.shipped_at is None
                                or offset[1] in position.shipped_at)
        return position, outcome
    if offset is not None:
        position.offset = list(offset)
    event_id = event["event_id"]
    if event_id in position.recent_ids:
        return position, _repeat(position, event, DUPLICATE)
    if _repeats(position, event):
        _remember(position, event_id, dedupe_window)
        return position, _repeat(position, event, DUPLICATE)
    outcome = Outcome()
    if event["type"] in ABSOLUTE and _is_older(position, event):
        outcome.status = STALE
    else:
        before = position.buckets()
        HANDLERS[event["type"]](position, event, outcome)
        outcome.changed = position.buckets() != before
        if position.on_hand != before[0]:
            record_movement(position, event, position.on_hand - before[0], history)
        if position.on_hand < 0 and outcome.changed:
            outcome.flags.append(NEGATIVE_ON_HAND)
    if outcome.changed:
        position.version += 1
        position.last_event_id = event_id
        position.last_correlation_id = event.get("correlation_id")
        position.updated_at = event["occurred_at"]
    if outcome.touched:
        _note_reservation(position, event["reservation_id"], outcome.touched)
    if event["type"] == "TransferShipped" and outcome.status == APPLIED and offset is not None:
        _note_shipment(position, offset[1], dedupe_window)
    _remember(position, event_id, dedupe_window)
    _trim_answers(position, dedupe_window)
    return position, outcome


def follow_ups(event: Event, origin_offset: int | None = None) -> list[dict[str, Any]]:
    """Events this one causes at other positions. A redelivered event re-emits the same ones;
    the destination drops a repeat by its origin offset (source transfer:<origin>, source_seq),
    which holds however far apart the two copies arrive, and by event id besides."""
    if event["type"] != "TransferShipped":
        return []
    inbound = dict(event)
    inbound.update(
        event_id=event["event_id"] + INBOUND_SUFFIX,
        type="TransferInbound",
        location=event["to_location"],
        from_location=event["location"],
        source=TRANSFER_SOURCE + event["location"],
        source_seq=origin_offset,
        uom="EA",  # qty is already in eaches
    )
    return [inbound]


def _redelivered(position: Position, offset: tuple[int, int]) -> bool:
    last = position.offset
    return last is not None and last[0] == offset[0] and offset[1] <= last[1]


def _repeats(position: Position, event: Event) -> bool:
    """A repeat that a new event id does not hide: a reservation id answered before, or a
    transfer's inbound half from an origin offset already applied."""
    if event["type"] == "ReserveRequested":
        return _answer(position, event["reservation_id"]) is not None
    if event["type"] == "TransferInbound" and event["source"].startswith(TRANSFER_SOURCE):
        return event.get("source_seq") is not None and _is_older(position, event, or_same=True)
    return False


def _repeat(position: Position, event: Event, status: str) -> Outcome:
    outcome = Outcome(status=status)
    if event["type"] == "ReserveRequested":
        outcome.answer = _answer(position, event["reservation_id"])
    return outcome


def _remember(position: Position, event_id: str, window: int) -> None:
    ids = position.recent_ids
    ids.append(event_id)
    if len(ids) > window:
        del ids[: len(ids) - window]


def _note_shipment(position: Position, offset: int, window: int) -> None:
    shipped = position.shipped_at = position.shipped_at or []
    shipped.append(offset)
    if len(shipped) > window:
        del shipped[: len(shipped) - window]


def _trim_answers(position: Position, window: int) -> None:
    answers = position.answers
    while len(answers) > window:
        del answers[next(iter(answers))]


def _is_older(position: Position, event: Event, or_same: bool = False) -> bool:
    last = position.source_marks.get(event["source"])
    if last is None:
        return False
    last_seq, last_at = last
    seq = event.get("source_seq")
    if seq is not None and last_seq is not None:
        return seq <= last_seq if or_same else seq < last_seq
    return event["occurred_at"] < last_at


def _mark_source(position: Position, event: Event) -> None:
    position.source_marks[event["source"]] = [event.get("source_seq"), event["occurred_at"]]


def _answer(position: Position, reservation_id: str) -> dict[str, Any] | None:
    open_one = position.reservations.get(reservation_id)
    if open_one is not None:
        return {"reservation_id": reservation_id, "decision": "accepted", "qty": open_one.qty}
    closed = position.answers.get(reservation_id)
    if closed is None:
        return None
    decision, qty, ats = closed
    answer = {"reservation_id": reservation_id, "decision": decision, "qty": qty}
    if decision == REJECTED:
        answer["ats"] = ats
    return answer


def _note_reservation(position: Position, rid: str, before: Reservation) -> None:
    after = position.reservations.get(rid)
    position.last_reservation = {
        "id": rid,
        "record": record_of(after) if after is not None else None,
        "expires_at": before.expires_at,
    }


def record_of(reservation: Reservation) -> dict[str, Any]:
    """A reservation's own record, as stored."""
    return {name: getattr(reservation, name) for name in Reservation.__dataclass_fields__}


def _take(position: Position, bucket: str, qty: int, outcome: Outcome) -> int:
    """Remove up to qty from a bucket that may not go below zero; flag what was clamped."""
    held = getattr(position, bucket)
    taken = min(qty, max(held, 0))
    if taken < qty:
        outcome.flags.append(CLAMPED)
    setattr(position, bucket, held - taken)
    return taken


def _close_if_empty(position: Position, reservation_id: str) -> None:
    reservation = position.reservations[reservation_id]
    if reservation.is_empty():
        del position.reservations[reservation_id]
        position.answers[reservation_id] = ["accepted", reservation.qty, None]


def _reservation(position: Position, event: Event, outcome: Outcome) -> Reservation | None:
    rid = event.get("reservation_id")
    if rid is None:
        return None
    found = position.reservations.get(rid)
    if found is None:
        outcome.flags.append(UNKNOWN_RESERVATION)
    else:
        outcome.touched = copy(found)
    return found


def _receipt(position: Position, event: Event, outcome: Outcome) -> None:
    position.on_hand += event["qty"]


def _cycle_count(position: Position, event: Event, outcome: Outcome) -> None:
    _mark_source(position, event)
    position.on_hand = event["qty"]


def _snapshot(position: Position, event: Event, outcome: Outcome) -> None:
    _mark_source(position, event)
    found = outcome.reconciliation = reconcile(position, event)
    outcome.drift = found.drift
    # All a drift record needs, so a redelivered snapshot can send it again.
    position.last_snapshot = {
        "source": event["source"], "qty": event["qty"], "drift": found.drift,
        "occurred_at": event["occurred_at"], "event_id": event["event_id"],
        "correlation_id": event.get("correlation_id"), "engine_at_watermark": found.engine_at_watermark,
        "watermark_seq": found.watermark_seq, "causes": found.causes, "complete": found.complete,
    }


def _reserve(position: Position, event: Event, outcome: Outcome) -> None:
    rid, qty = event["reservation_id"], event["qty"]
    ats = position.ats
    if ats >= qty:
        position.reserved += qty
        position.reservations[rid] = Reservation(
            qty=qty, unpicked=qty, channel=event.get("channel"), order_id=event.get("order_id"),
            expires_at=event.get("expires_at"),
        )
        outcome.touched = copy(position.reservations[rid])
        outcome.answer = {"reservation_id": rid, "decision": "accepted", "qty": qty}
    else:
        outcome.status = REJECTED
        position.answers[rid] = [REJECTED, qty, ats]
        outcome.answer = {"reservation_id": rid, "decision": REJECTED, "qty": qty, "ats": ats}


def _release(position: Position, event: Event, outcome: Outcome) -> None:
    reservation = _reservation(position, event, outcome)
    if reservation is None:
        return
    asked = event.get("qty")
    qty = reservation.unpicked if asked is None else asked
    if qty > reservation.unpicked:
        outcome.flags.append(CLAMPED)
        qty = reservation.unpicked
    reservation.unpicked -= qty
    _take(position, "reserved", qty, outcome)
    _close_if_empty(position, event["reservation_id"])


def _expire(position: Position, event: Event, outcome: Outcome) -> None:
    reservation = _reservation(position, event, outcome)
    if reservation is None:
        return
    _take(position, "reserved", reservation.unpicked, outcome)
    reservation.unpicked = 0
    _close_if_empty(position, event["reservation_id"])


def _pick(position: Position, event: Event, outcome: Outcome) -> None:
    qty = event["qty"]
    position.picked += qty
    reservation = _reservation(position, event, outcome)
    if reservation is None:
        return
    moved = min(qty, reservation.unpicked)
    if moved < qty:
        outcome.flags.append(CLAMPED)
    reservation.unpicked -= moved
    reservation.picked += moved
    _take(position, "reserved", moved, outcome)


def _ship(position: Position, event: Event, outcome: Outcome) -> None:
    qty = event["qty"]
    position.on_hand -= qty
    reservation = _reservation(position, event, outcome)
    rest = qty
    if reservation is not None:
        from_picked = min(rest, reservation.picked)
        reservation.picked -= from_picked
        _take(position, "picked", from_picked, outcome)
        rest -= from_picked
        from_unpicked = min(rest, reservation.unpicked)
        reservation.unpicked -= from_unpicked
        _take(position, "reserved", from_unpicked, outcome)
        rest -= from_unpicked
        _close_if_empty(position, event["reservation_id"])
    # Units beyond the reservation (or without one) were picked without it, if at all.
    position.picked -= min(rest, position.picked)


DISPOSITION_BUCKET = {
    "restockable": None,  # sellable on_hand, not a bucket of its own
    "quarantine": "quarantined",
    "refurbish": "quarantined",
    "damaged": "damaged",
}


def _return(position: Position, event: Event, outcome: Outcome) -> None:
    qty = event["qty"]
    position.on_hand += qty
    bucket = DISPOSITION_BUCKET[event["disposition"]]
    if bucket:
        setattr(position, bucket, getattr(position, bucket) + qty)


def _disposition(position: Position, event: Event, outcome: Outcome) -> None:
    qty = event["qty"]
    source = DISPOSITION_BUCKET[event["from_disposition"]]
    if source:
        qty = _take(position, source, qty, outcome)
    target = event["disposition"]
    if target == "scrapped":
        position.on_hand -= qty
    elif DISPOSITION_BUCKET[target]:
        bucket = DISPOSITION_BUCKET[target]
        setattr(position, bucket, getattr(position, bucket) + qty)


def _hold(position: Position, event: Event, outcome: Outcome) -> None:
    position.held += event["qty"]


def _hold_release(position: Position, event: Event, outcome: Outcome) -> None:
    _take(position, "held", event["qty"], outcome)


def _transfer_out(position: Position, event: Event, outcome: Outcome) -> None:
    position.on_hand -= event["qty"]


def _transfer_inbound(position: Position, event: Event, outcome: Outcome) -> None:
    if event["source"].startswith(TRANSFER_SOURCE) and event.get("source_seq") is not None:
        _mark_source(position, event)
    absorbed = min(event["qty"], position.received_ahead)
    position.received_ahead -= absorbed
    position.incoming += event["qty"] - absorbed


def _transfer_in(position: Position, event: Event, outcome: Outcome) -> None:
    qty = event["qty"]
    expected = min(qty, position.incoming)
    position.incoming -= expected
    if expected < qty:
        outcome.flags.append(RECEIVED_AHEAD)
        position.received_ahead += qty - expected
    position.on_hand += qty


HANDLERS: dict[str, Callable[[Position, Event, Outcome], None]] = {
    "Receipt": _receipt,
    "Adjustment": _receipt,
    "CycleCount": _cycle_count,
    "Snapshot": _snapshot,
    "ReserveRequested": _reserve,
    "ReservationReleased": _release,
    "ReservationExpired": _expire,
    "PickConfirmed": _pick,
    "ShipmentPosted": _ship,
    "ReturnReceived": _return,
    "DispositionChanged": _disposition,
    "HoldPlaced": _hold,
    "HoldReleased": _hold_release,
    "TransferShipped": _transfer_out,
    "TransferInbound": _transfer_inbound,
    "TransferReceived": _transfer_in,
}
