"""An independent reference for the inventory model of DESIGN §3 and the README's "The
inventory model", written from those two texts alone (not from tables/model.py), so that tests
can check the engine's model against something that does not share its code.

State is plain dicts and ints. `Reference.apply(event)` takes one event shaped like the output
of tables.events.normalize (qty in eaches, occurred_at in epoch ms) and returns a `Result`.

Readings of the text this reference commits to (each a sentence of DESIGN or README):

- ats = max(0, on_hand - quarantined - damaged - held - reserved - picked - safety_stock).
- Once per event: an event id among the last `dedupe_window` ids this position saw changes
  nothing. Every event the position takes (applied, rejected, stale) counts as seen; a
  duplicate does not count again (it is not a new event).
- Redelivered records: "A record Kafka redelivers after a crash is recognized by its offset,
  which the position also records, however long ago it was applied": a record at or below
  the last offset the position took changes nothing, whether or not its id is still in the
  window.
- Ordered per source: CycleCount and Snapshot are the absolute events. One "older than the last
  one applied from its source" is ignored: a lower source_seq when both carry one, otherwise an
  earlier occurred_at. The two types share their source's mark ("the last one"). Nothing else
  is ordered.
- ReserveRequested: accepted iff ats >= qty (reserved += qty, the reservation holds qty
  unpicked), else rejected with no change. A reservation id requested before gets its first
  answer again, with no change, however the stock moved and whether it is still open.
- Release: reserved -= what is left unpicked (all of it, or at most qty); asking more
  than is left, or naming no open reservation, is clamped. Expiry: all that is left unpicked
  (DESIGN gives ReservationExpired no qty field).
- PickConfirmed: picked += qty; with an open reservation, m = min(qty, unpicked) leave its
  unpicked (to its picked) and leave reserved.
- ShipmentPosted: on_hand -= qty; with an open reservation its picked units leave picked
  first, then its unpicked units leave reserved; the rest (all of it without one) takes
  picked -= min(rest, picked).
- on_hand may go negative. Every other bucket is clamped at zero.
- DispositionChanged moves qty out of the from bucket (restockable: none) into the to bucket
  (scrapped: out of on_hand). A move out of quarantined or damaged moves at most what that
  bucket holds ("moves", so units are conserved); out of restockable it is not bounded (there
  is no restockable bucket: it is on_hand, which may go negative).
- TransferReceived: on_hand += qty, incoming -= qty; what incoming did not hold (the receipt
  overtook its inbound half) is remembered, and a later TransferInbound is absorbed by it
  before it adds to incoming.
- A reservation closes when it holds nothing (no unpicked, no picked units).
- Snapshot: no change; drift = qty - (on_hand as of the snapshot's watermark: movements that
  occurred after it are rebased away). The watermark is the snapshot's occurred_at, or, for a
  movement from the snapshot's own source where both carry a source_seq, the sequence (issue
  12: "as of a time or a source sequence"). A movement at the watermark is part of it. This
  reference keeps every movement; the engine keeps a bounded number and says when it could not
  reach back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

BUCKETS = ("on_hand", "quarantined", "damaged", "held", "reserved", "picked", "incoming")
ABSOLUTE = ("CycleCount", "Snapshot")
# DESIGN: "moves qty between restockable / quarantine+refurbish / damaged"
DISPOSITION = {"restockable": None, "quarantine": "quarantined", "refurbish": "quarantined",
               "damaged": "damaged"}

# Result statuses
DUPLICATE = "duplicate"
REDELIVERED = "redelivered"
STALE = "stale"
APPLIED = "applied"
REJECTED = "rejected"
ACCEPTED = "accepted"


@dataclass
class Result:
    status: str  # redelivered, duplicate, stale, applied, rejected
    changed: bool = False  # buckets or reservations changed
    clamped: bool = False  # a release, pick or hold release asked more than there was
    answer: dict[str, Any] | None = None  # ReserveRequested: {"decision", "qty", "ats"}
    repeated_answer: bool = False  # the answer is a first answer given again
    drift: int | None = None  # Snapshot


@dataclass
class Reference:
    safety_stock: int = 0
    dedupe_window: int = 200
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    # open reservations: id -> {"qty", "unpicked", "picked"}
    reservations: dict[str, dict[str, int]] = field(default_factory=dict)
    # first answers, for every reservation id ever requested here
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: deque = field(default_factory=deque)
    marks: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    received_ahead: int = 0
    offset: int | None = None  # of the last record taken
    changes: int = 0  # how many events changed buckets or reservations
    drift: int | None = None
    # every change of on_hand: (occurred_at, delta, source, source_seq)
    moves: list[tuple[int, int, str, int | None]] = field(default_factory=list)

    @property
    def ats(self) -> int:
        b = self.buckets
        return max(0, b["on_hand"] - b["quarantined"] - b["damaged"] - b["held"] - b["reserved"]
                   - b["picked"] - self.safety_stock)

    def snapshot(self) -> tuple:
        """What a reader can see: the buckets and the open reservations (received_ahead is
        bookkeeping, shown nowhere)."""
        return dict(self.buckets), {k: dict(v) for k, v in self.reservations.items()}

    # --- the one entry point -------------------------------------------------------------

    def apply(self, event: Mapping[str, Any], offset: int | None = None) -> Result:
        """offset: of the record on its partition of inventory.events (one partition per
        position). A record at or below the last offset applied is Kafka redelivering it."""
        if offset is not None:
            if self.offset is not None and offset <= self.offset:
                return Result(REDELIVERED)
            self.offset = offset
        if event["event_id"] in self.seen:
            return Result(DUPLICATE)
        self.seen.append(event["event_id"])
        while len(self.seen) > self.dedupe_window:
            self.seen.popleft()
        kind = event["type"]
        if kind in ABSOLUTE and self._older(event):
            return Result(STALE)
        before = self.snapshot()
        on_hand = self.buckets["on_hand"]
        result = getattr(self, "_" + kind)(event)
        result.changed = self.snapshot() != before
        if self.buckets["on_hand"] != on_hand:
            self.moves.append((event["occurred_at"], self.buckets["on_hand"] - on_hand, event["source"],
                               event.get("source_seq")))
        if result.changed:
            self.changes += 1
        return result

    def _older(self, event: Mapping[str, Any]) -> bool:
        seq, at = event.get("source_seq"), event["occurred_at"]
        last = self.marks.get(event["source"])
        if last is not None:
            last_seq, last_at = last
            if seq is not None and last_seq is not None:
                if seq < last_seq:
                    return True
            elif at < last_at:
                return True
        self.marks[event["source"]] = (seq, at)
        return False

    # --- buckets ---------------------------------------------------------------------------

    def _add(self, bucket: str, qty: int) -> None:
        self.buckets[bucket] += qty

    def _take(self, bucket: str, qty: int) -> None:
        """Every bucket but on_hand is clamped at zero."""
        value = self.buckets[bucket] - qty
        self.buckets[bucket] = value if bucket == "on_hand" else max(0, value)

    # --- event types -----------------------------------------------------------------------

    def _Receipt(self, event) -> Result:
        self._add("on_hand", event["qty"])
        return Result(APPLIED)

    def _Adjustment(self, event) -> Result:
        self._add("on_hand", event["qty"])
        return Result(APPLIED)

    def _CycleCount(self, event) -> Result:
        self.buckets["on_hand"] = event["qty"]
        return Result(APPLIED)

    def _Snapshot(self, event) -> Result:
        at, source, seq = event["occurred_at"], event["source"], event.get("source_seq")

        def later(move) -> bool:
            moved_at, _, moved_by, moved_seq = move
            if seq is not None and moved_by == source and moved_seq is not None:
                return moved_seq > seq
            return moved_at > at
        at_watermark = self.buckets["on_hand"] - sum(move[1] for move in self.moves if later(move))
        self.drift = event["qty"] - at_watermark
        return Result(APPLIED, drift=self.drift)

    def _ReserveRequested(self, event) -> Result:
        rid, qty = event["reservation_id"], event["qty"]
        if rid in self.answers:
            first = self.answers[rid]
            status = APPLIED if first["decision"] == ACCEPTED else REJECTED
            return Result(status, answer=dict(first), repeated_answer=True)
        ats = self.ats
        if ats >= qty:
            self._add("reserved", qty)
            self.reservations[rid] = {"qty": qty, "unpicked": qty, "picked": 0}
            answer = {"decision": ACCEPTED, "qty": qty, "ats": ats}
            status = APPLIED
        else:
            answer = {"decision": REJECTED, "qty": qty, "ats": ats}
            status = REJECTED
        self.answers[rid] = answer
        return Result(status, answer=dict(answer))

    def _ReservationReleased(self, event) -> Result:
        reservation = self.reservations.get(event["reservation_id"])
        asked = event.get("qty")
        if reservation is None:
            return Result(APPLIED, clamped=True)
        left = reservation["unpicked"]
        released = left if asked is None else min(asked, left)
        reservation["unpicked"] -= released
        self._take("reserved", released)
        self._close_if_empty(event["reservation_id"])
        return Result(APPLIED, clamped=asked is not None and asked > left)

    def _ReservationExpired(self, event) -> Result:
        """DESIGN lists no qty for an expiry (only reservation_id): the reservation expired,
        so all of it that is left unpicked goes, whatever qty the record carries."""
        return self._ReservationReleased({**event, "qty": None})

    def _PickConfirmed(self, event) -> Result:
        qty = event["qty"]
        self._add("picked", qty)
        rid = event.get("reservation_id")
        reservation = self.reservations.get(rid) if rid else None
        if reservation is None:
            return Result(APPLIED, clamped=bool(rid))
        moved = min(qty, reservation["unpicked"])
        reservation["unpicked"] -= moved
        reservation["picked"] += moved
        self._take("reserved", moved)
        return Result(APPLIED, clamped=qty > moved)

    def _ShipmentPosted(self, event) -> Result:
        qty = event["qty"]
        self._take("on_hand", qty)
        rest = qty
        rid = event.get("reservation_id")
        reservation = self.reservations.get(rid) if rid else None
        if reservation is not None:
            from_picked = min(rest, reservation["picked"])
            reservation["picked"] -= from_picked
            self._take("picked", from_picked)
            rest -= from_picked
            from_unpicked = min(rest, reservation["unpicked"])
            reservation["unpicked"] -= from_unpicked
            self._take("reserved", from_unpicked)
            rest -= from_unpicked
            self._close_if_empty(rid)
        self._take("picked", min(rest, self.buckets["picked"]))
        return Result(APPLIED)

    def _ReturnReceived(self, event) -> Result:
        self._add("on_hand", event["qty"])
        bucket = DISPOSITION[event["disposition"]]
        if bucket:
            self._add(bucket, event["qty"])
        return Result(APPLIED)

    def _DispositionChanged(self, event) -> Result:
        qty = event["qty"]
        source = DISPOSITION[event["from_disposition"]]
        target = event["disposition"]
        if target != "scrapped" and DISPOSITION[target] == source:
            return Result(APPLIED)  # quarantine <-> refurbish: the same bucket
        if source:
            # "moves qty between": a move cannot take out more than the from bucket holds,
            # nor put in more than it took out (units are conserved).
            qty = min(qty, max(0, self.buckets[source]))
            self._take(source, qty)
        if target == "scrapped":
            self._take("on_hand", qty)
        elif DISPOSITION[target]:
            self._add(DISPOSITION[target], qty)
        return Result(APPLIED)

    def _HoldPlaced(self, event) -> Result:
        self._add("held", event["qty"])
        return Result(APPLIED)

    def _HoldReleased(self, event) -> Result:
        clamped = event["qty"] > self.buckets["held"]
        self._take("held", event["qty"])
        return Result(APPLIED, clamped=clamped)

    def _TransferShipped(self, event) -> Result:
        self._take("on_hand", event["qty"])
        return Result(APPLIED)

    def _TransferInbound(self, event) -> Result:
        absorbed = min(event["qty"], self.received_ahead)
        self.received_ahead -= absorbed
        self._add("incoming", event["qty"] - absorbed)
        return Result(APPLIED)

    def _TransferReceived(self, event) -> Result:
        qty = event["qty"]
        self._add("on_hand", qty)
        in_transit = min(qty, self.buckets["incoming"])
        self._take("incoming", in_transit)
        self.received_ahead += qty - in_transit
        return Result(APPLIED)

    def _close_if_empty(self, rid: str) -> None:
        reservation = self.reservations[rid]
        if reservation["unpicked"] == 0 and reservation["picked"] == 0:
            del self.reservations[rid]

    def view(self) -> dict[str, int]:
        return {**self.buckets, "safety_stock": self.safety_stock, "ats": self.ats}


# --- a whole stream over many positions ------------------------------------------------------

INBOUND_SUFFIX = ":inbound"  # README: the engine sends the inbound half to the destination
TRANSFER_SOURCE = "transfer:"


def inbound_half(event: Mapping[str, Any], origin_offset: int | None) -> dict[str, Any]:
    """README: "TransferShipped | on_hand -= qty here; the engine sends the inbound half
    (TransferInbound) to the destination"."""
    return {**event, "type": "TransferInbound", "event_id": event["event_id"] + INBOUND_SUFFIX,
            "location": event["to_location"], "source": TRANSFER_SOURCE + event["location"],
            "source_seq": origin_offset, "to_location": None, "reservation_id": None,
            "uom": "EA"}  # qty is already in eaches


def fold(records: Iterable[Mapping[str, Any]], catalog: Mapping[str, Mapping[str, Any]],
         dedupe_window: int = 200,
         safety_stock: Callable[[str, str], int] = lambda location, sku: 0,
         normalize: Callable[..., dict[str, Any]] | None = None) -> dict[str, Reference]:
    """What a stream of raw records makes of every SKU@LOCATION, by this reference. Records
    that do not validate (tables.events.normalize raises) are dead letters: skipped."""
    if normalize is None:
        from tables.events import normalize
    from tables.limits import OverLimit
    from tables.events import InvalidEvent

    positions: dict[str, Reference] = {}
    pending = deque(records)
    index = 0
    while pending:
        record = pending.popleft()
        index += 1
        try:
            event = normalize(record, catalog.get(record["sku"]))
        except (InvalidEvent, OverLimit):
            continue
        key = f"{event['sku']}@{event['location']}"
        position = positions.setdefault(key, Reference(dedupe_window=dedupe_window))
        position.safety_stock = safety_stock(event["location"], event["sku"])
        result = position.apply(event)
        if event["type"] == "TransferShipped" and result.status != DUPLICATE:
            pending.append(inbound_half(event, index))
    return positions
