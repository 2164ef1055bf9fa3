"""A reservation as its client asked for it: the request, the locations asked in turn, the
answer of each and what each still holds. Pure: no Kafka, no clock.

The reservation service keeps one RequestRecord per client and reservation id. Requests,
answers and releases reach it in the order of its log, and each one changes the record and
says what to log next (an Ask of a position, a Release at one). Everything that decides the
next step is in the record, so a redelivered message repeats the same step, and an Ask logged
twice is the same event (its id comes from the reservation and the location):

1. a request opens the record with the plan: the channel's locations, best first by the
   available-to-sell seen when it arrived (a hint; each position decides for itself);
2. one location is asked at a time; its answer is recorded, and the next one is asked while
   the quantity is not covered (without allow_partial, for all of it);
3. when no location is left to ask, or the quantity is covered, the decision is final;
4. afterwards every change of an allocation (picked, shipped, released, expired) is recorded;
   when none holds units any more the reservation is closed, and forgotten after retention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"
CLOSED = "closed"
DECIDED = frozenset((ACCEPTED, REJECTED, CLOSED))

# The request fields a retry must repeat exactly (the same reservation id with another body
# is a conflict, never a second reservation).
REQUEST_FIELDS = ("sku", "qty", "channel", "order_id", "location", "ttl_seconds", "allow_partial")


@dataclass(frozen=True, slots=True)
class Ask:
    """Log a ReserveRequested for qty at location."""

    location: str
    qty: int


@dataclass(frozen=True, slots=True)
class Release:
    """Log a ReservationReleased at location."""

    location: str


Command = Ask | Release


@dataclass(slots=True)
class RequestRecord:
    client: str
    reservation_id: str
    request: dict[str, Any]  # REQUEST_FIELDS
    order: list[str]  # the locations, in the order they are considered
    hints: dict[str, int]  # location -> available to sell when planned (absent: not known)
    requested_at: int  # epoch ms
    expires_at: int | None = None
    state: str = PENDING
    asking: list[Any] | None = None  # [location, qty] asked and not answered yet
    next: int = 0  # index into order of the next location to consider
    left: int = 0  # units still to cover
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # location -> answer
    # location -> {"qty", "unpicked", "picked", "open", "offset"}: what an accepted ask holds
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    releasing: bool = False
    decided_at: int | None = None
    closed_at: int | None = None

    @property
    def scoped_id(self) -> str:
        return scoped(self.client, self.reservation_id)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> RequestRecord:
        return cls(**orjson.loads(raw))


def scoped(client: str, reservation_id: str) -> str:
    """The id of a client's reservation in the engine: events, keys and the warehouse's picks
    and shipments name it so. Client names hold no '/', so it splits back unambiguously."""
    return f"{client}/{reservation_id}"


def unscoped(scoped_id: str) -> tuple[str, str]:
    client, _, reservation_id = scoped_id.partition("/")
    return client, reservation_id


def request_fields(request: Any) -> dict[str, Any]:
    return {name: getattr(request, name) for name in REQUEST_FIELDS}


def conflicts(record: RequestRecord, request: dict[str, Any]) -> list[str]:
    """The fields in which a request with the same reservation id differs from the first."""
    return [name for name in REQUEST_FIELDS if record.request.get(name) != request.get(name)]


def open_request(client: str, reservation_id: str, request: dict[str, Any], locations: list[str],
                 hints: dict[str, int], requested_at: int, expires_at: int | None) -> tuple[RequestRecord, list[Command]]:
    """Step 1: the record and the first ask. locations: where the channel may reserve (the
    request's own location, if it names one)."""
    order = sorted(locations, key=lambda loc: (-(hints.get(loc) or 0), locations.index(loc)))
    record = RequestRecord(client, reservation_id, request, order, dict(hints), requested_at, expires_at,
                           left=request["qty"])
    return record, _advance(record, requested_at)


def on_answer(record: RequestRecord, location: str, answer: dict[str, Any], now: int) -> list[Command]:
    """Step 2: a position answered the ask for this reservation (answer: decision, qty, ats,
    offset)."""
    if record.asking is None or record.asking[0] != location or location in record.answers:
        return []  # a repeat, or an answer to an ask of another attempt
    record.answers[location] = answer
    record.asking = None
    if answer["decision"] == ACCEPTED:
        record.left -= answer["qty"]
        record.held[location] = {"qty": answer["qty"], "unpicked": answer["qty"], "picked": 0, "open": True,
                                 "offset": answer.get("offset", -1)}
    return _advance(record, now)


def _advance(record: RequestRecord, now: int) -> list[Command]:
    """Ask the next location, or decide (step 3). Every location is asked before a rejection:
    the hints only order them, since a position's own answer is the one that counts."""
    partial = record.request.get("allow_partial", False)
    if record.left > 0 and not (record.held and not partial) and record.next < len(record.order):
        location = record.order[record.next]
        record.next += 1
        return _ask(record, location, _ask_for(record.hints.get(location), record.left, partial))
    record.state = ACCEPTED if record.held else REJECTED
    record.decided_at = now
    if record.state == REJECTED:
        record.closed_at = now
    return []


def _ask(record: RequestRecord, location: str, qty: int) -> list[Command]:
    record.asking = [location, qty]
    return [Ask(location, qty)]


def _ask_for(hint: int | None, left: int, partial: bool) -> int:
    """How much to ask of a location: all that is left, or, for a partial request, what the
    location had to sell when planned if that was less (but something)."""
    if partial and hint is not None and 0 < hint < left:
        return hint
    return left


def on_allocation(record: RequestRecord, location: str, update: dict[str, Any], now: int) -> bool:
    """Step 4: what a position now holds for this reservation (picked, shipped, released,
    expired), as of the offset of the position's last event. False for an older update; one
    of the same offset says the same again (a redelivery)."""
    held = record.held.get(location)
    if held is None or update["offset"] < held["offset"]:
        return False
    held.update(unpicked=update["unpicked"], picked=update["picked"], open=update["open"],
                offset=update["offset"])
    if record.state == ACCEPTED and not any(h["open"] for h in record.held.values()):
        record.state = CLOSED
        record.closed_at = now
    return True


def release(record: RequestRecord) -> list[Release]:
    """DELETE: release the unpicked units still held, everywhere (nothing while pending or
    closed; picked units stay held until they ship)."""
    if record.state != ACCEPTED:
        return []
    record.releasing = True
    return [Release(location) for location in unreleased(record)]


def unreleased(record: RequestRecord) -> list[str]:
    """The locations still holding unpicked units for the reservation."""
    return [location for location, held in record.held.items() if held["open"] and held["unpicked"] > 0]


def decision(record: RequestRecord) -> dict[str, Any] | None:
    """The answer to the request once decided: accepted with allocations, or rejected."""
    if record.state == PENDING:
        return None
    base = {"reservation_id": record.reservation_id, "reference": record.scoped_id}
    if record.held:
        return {**base, "status": ACCEPTED, "qty": sum(h["qty"] for h in record.held.values()),
                "allocations": [{"location": loc, "qty": h["qty"]} for loc, h in record.held.items()]}
    available = {loc: record.hints.get(loc, 0) for loc in record.order}
    available.update({loc: a.get("ats", 0) for loc, a in record.answers.items()})
    return {**base, "status": REJECTED, "reason": "not enough available to sell", "available": available}


def view(record: RequestRecord) -> dict[str, Any]:
    """GET /reservations/{id}: pending (being decided), open (holds units), closed or rejected."""
    state = "open" if record.state == ACCEPTED else record.state
    return {
        "reservation_id": record.reservation_id, "reference": record.scoped_id, "state": state,
        "sku": record.request["sku"], "channel": record.request["channel"],
        "order_id": record.request["order_id"], "qty": sum(h["qty"] for h in record.held.values()),
        "expires_at": record.expires_at, "releasing": record.releasing,
        "allocations": [
            {"location": loc, "qty": h["qty"], "unpicked": h["unpicked"], "picked": h["picked"],
             "state": "open" if h["open"] else "closed"}
            for loc, h in record.held.items()
        ],
    }
