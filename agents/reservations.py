"""The reservation service: a reservation as its client sees it, from request to close.

inventory.reservations is its log, keyed by client/reservation id, so every message about one
reservation is handled in order by the one worker that owns its partition, which also serves
its HTTP requests. The record (tables/reservation_requests.py) is the reservation's memory:

1. POST logs a request; the service opens the record and logs a ReserveRequested at the first
   location of the plan (the location agent decides it, in order with the position's events);
2. the location agent reports each answer here; the service asks the next location or
   decides, and the waiting POST is answered from the record;
3. the location agent reports every later change (picks, shipments, releases, expiry); when
   nothing is held any more the reservation is closed, and forgotten after the retention;
4. DELETE logs a release; the service logs a ReservationReleased at every location still
   holding units and the waiting DELETE is answered once all of them report closed.

Logging the request before anything is held means GET and DELETE find every reservation that
holds units, whichever worker died when; a retry (same id, same body) is answered from the
record, never decided again. A message that leaves a pending record unchanged (a retry, a
redelivery) logs its outstanding ask again: a crash may have lost it, and the position applies
it once (its event id comes from the reservation and the location).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

import orjson

from agents import answers
from agents.dlq import dead_letter
from streams.app.clock import now_ms
from streams.app import broker
from streams.app import app, settings, timer, topic
from streams.app import topics
from streams.app.delivery import ledger
from streams.wire.codec import default_codec
from streams.app.pacing import Pace
from streams.app.metrics import EVENTS, NO_TYPE, inc
from tables import keys
from tables.model import API_SOURCE
from tables.reservation_requests import (
    ACCEPTED, CLOSED, PENDING, REJECTED, Ask, Command, RequestRecord, conflicts, decision, on_allocation,
    on_answer, open_request, release, unreleased, unscoped,
)
from tables.store import FORGET, due_entries, reservation_requests

log = logging.getLogger(__name__)
STAGE = "reservations"


class Retry(Exception):
    """The service cannot answer now (its partition moved, the broker is away): 503."""


def load(key: bytes) -> RequestRecord | None:
    raw = reservation_requests.get(key)
    return RequestRecord.from_bytes(raw) if raw else None


# --- the agent --------------------------------------------------------------------------------


@app.agent(topic(topics.RESERVATIONS), concurrency=1)
async def reservation_service(stream: Any) -> None:
    async for event in stream.events():
        message = event.message
        try:
            await handle(message)
        except Exception as err:  # a bug must cost one record, not the partition
            log.exception("cannot process %s[%s]@%s", message.topic, message.partition, message.offset)
            try:
                await dead_letter(message, STAGE, "internal", f"internal error: {type(err).__name__}: {err}")
            except Exception as lost:  # not even the dead letter: read the record again
                ledger.failed(message, lost)


async def handle(message: Any) -> None:
    try:
        command = orjson.loads(message.value)
        kind = command["kind"]
        handler = HANDLERS[kind]
        missing = [name for name in FIELDS[kind] if name not in command]
        if missing:  # a message of a known kind without what its handler reads: bad input, not a bug
            raise KeyError(f"a {kind} message without {', '.join(missing)}")
        client, reservation_id = unscoped(message.key.decode())
    except (orjson.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as err:
        await dead_letter(message, STAGE, "decode", f"not a reservation service message: {err!r}")
        return
    key = message.key
    record = load(key)
    before = record.to_bytes() if record else None
    record, commands = handler(record, command, client, reservation_id)
    inc(EVENTS, STAGE, NO_TYPE, kind)
    if record is None:
        if before is not None:
            del reservation_requests[key]
        return
    after = record.to_bytes()
    if after == before and record.state == PENDING and record.asking:
        commands = [Ask(*record.asking)]  # see the module's last paragraph
    # Encoded before anything is written: a command that cannot be logged must not leave a
    # record waiting for its answer.
    logged = [encode_command(record, command) for command in commands]
    # Written again when unchanged too: a redelivery may be of a message whose write never
    # reached the changelog (streams/app/delivery.py reads a partition again after a failed send).
    reservation_requests[key] = after
    if record.state in (CLOSED, REJECTED):  # again on a repeat: a crash may have lost it
        reservation_requests[keys.due_entry(FORGET, forget_at(record), key)] = b""
    for position_key, event in logged:  # buffered after the record's write, as it
        topic(topics.EVENTS).send_soon(key=position_key, value=event)
    answers.settle(record)


def forget_at(record: RequestRecord) -> int:
    return record.closed_at + settings.reservation_retention * 1000


def on_request(record: RequestRecord | None, command: dict[str, Any], client: str,
               reservation_id: str) -> tuple[RequestRecord, list[Command]]:
    if record is not None:
        return record, []  # a retry: its answer comes from the record (answers.settle)
    return open_request(client, reservation_id, command["request"], command["locations"], command["hints"],
                        command["requested_at"], command["expires_at"])


def on_allocation_update(record: RequestRecord | None, command: dict[str, Any], client: str,
                         reservation_id: str) -> tuple[RequestRecord | None, list[Command]]:
    if record is None:
        return None, []  # not one of ours, or forgotten
    commands: list[Command] = []
    if command.get("answer") is not None:
        commands = on_answer(record, command["location"], {**command["answer"], "offset": command["offset"]}, now_ms())
    on_allocation(record, command["location"], command, now_ms())
    return record, commands


def on_release(record: RequestRecord | None, command: dict[str, Any], client: str,
               reservation_id: str) -> tuple[RequestRecord | None, list[Command]]:
    if record is None:
        return None, []
    return record, release(record)


def on_forget(record: RequestRecord | None, command: dict[str, Any], client: str,
              reservation_id: str) -> tuple[RequestRecord | None, list[Command]]:
    """The retention of a closed or rejected reservation ran out: its record and index entry go."""
    key = f"{client}/{reservation_id}".encode()
    del reservation_requests[keys.due_entry(FORGET, command["at"], key)]
    if record is None or record.state not in (CLOSED, REJECTED) or forget_at(record) > now_ms():
        return record, []
    return None, []


def on_nudge(record: RequestRecord | None, command: dict[str, Any], client: str,
             reservation_id: str) -> tuple[RequestRecord | None, list[Command]]:
    """A retry while the reservation is pending: nothing changes, so its outstanding ask is
    logged again (handle), in case a crash lost it."""
    return record, []


HANDLERS = {"request": on_request, "allocation": on_allocation_update, "release": on_release,
            "forget": on_forget, "nudge": on_nudge}
FIELDS = {"request": ("request", "locations", "hints", "requested_at", "expires_at"),
          "allocation": ("location", "offset", "open", "unpicked", "picked"),
          "release": (), "forget": ("at",), "nudge": ()}  # what each handler reads


def encode_command(record: RequestRecord, command: Command) -> tuple[bytes, bytes]:
    """(key, value) of the inventory event that carries a command to its position."""
    sku = record.request["sku"]
    scoped_id = record.scoped_id
    if isinstance(command, Ask):
        event = inventory_event(sku, command.location, f"reserve:{scoped_id}@{command.location}", "ReserveRequested",
                                scoped_id, qty=command.qty, channel=record.request["channel"],
                                order_id=record.request["order_id"], correlation_id=record.request["order_id"],
                                expires_at=record.expires_at)
    else:
        event = inventory_event(sku, command.location, f"release:{scoped_id}@{command.location}",
                                "ReservationReleased", scoped_id)
    return keys.position(sku, command.location), default_codec().encode("InventoryEvent", event)


def inventory_event(sku: str, location: str, event_id: str, kind: str, reservation_id: str,
                    **fields: Any) -> dict[str, Any]:
    expires_at = fields.pop("expires_at", None)
    event = {
        "event_id": event_id, "type": kind, "sku": sku, "location": location, "qty": None, "uom": "EA",
        "source": API_SOURCE, "source_seq": None, "occurred_at": datetime.now(timezone.utc),
        "correlation_id": None, "reason": None, "reservation_id": reservation_id, "channel": None,
        "order_id": None, "expires_at": None, "disposition": None, "from_disposition": None,
        "to_location": None, "from_location": None,
    }
    event.update(fields)
    if expires_at is not None:
        event["expires_at"] = datetime.fromtimestamp(expires_at / 1000, tz=timezone.utc)
    return event


# --- what the HTTP views ask of it ---------------------------------------------------------------
# Each runs on the worker that owns the reservation's partition (the views forward there).


async def answer_again(key: bytes, request: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """POST /reservations with an id seen before: its first answer, from the record (waiting
    while it is decided), or a conflict. None for a new id."""
    record = load(key)
    if record is None:
        return None
    until = answer_to(request)
    if (answer := until(record)) is not None:
        return answer
    return await submit(key, {"kind": "nudge"}, until)


async def reserve(key: bytes, request: dict[str, Any], locations: list[str], hints: dict[str, int]) -> tuple[int, dict[str, Any]]:
    """POST /reservations with a new id: log the request, answer once decided. (Two requests
    racing with one new id are both logged; the service opens the record with the first and
    answers the second from it.)"""
    until = answer_to(request)
    now = now_ms()
    ttl = request.get("ttl_seconds")
    message = {"kind": "request", "request": request, "locations": locations, "hints": hints,
               "requested_at": now, "expires_at": now + ttl * 1000 if ttl else None}
    return await submit(key, message, until)


async def release_reservation(key: bytes) -> tuple[int, dict[str, Any]]:
    """DELETE /reservations/{id}: release what it holds everywhere, answered once applied."""
    record = load(key)
    if record is None:
        return 404, {"error": f"no reservation {unscoped(key.decode())[1]!r}"}
    if record.state == PENDING:
        raise Retry("the reservation is still being decided")
    return released(record) or await submit(key, {"kind": "release"}, released)


def answer_to(request: dict[str, Any]) -> Any:
    """A POST's answer from the record: (status, body) once decided, or a conflict."""
    def until(record: RequestRecord) -> tuple[int, dict[str, Any]] | None:
        differ = conflicts(record, request)
        if differ:
            return 409, {"status": "conflict", "reservation_id": record.reservation_id, "fields": differ,
                         "error": f"reservation {record.reservation_id!r} was made with other "
                                  f"{', '.join(differ)}; a retry must repeat the request exactly"}
        answer = decision(record)
        if answer is None:
            return None
        return (201 if answer["status"] == ACCEPTED else 409), answer
    return until


def released(record: RequestRecord) -> tuple[int, dict[str, Any]] | None:
    """A DELETE's answer once nothing unpicked is held (picked units stay until shipped)."""
    if record.state == ACCEPTED and unreleased(record):
        return None
    state = "open" if record.state == ACCEPTED else record.state
    return 200, {"status": "released", "reservation_id": record.reservation_id, "state": state}


async def submit(key: bytes, message: dict[str, Any], until: Any) -> tuple[int, dict[str, Any]]:
    """Log a message for the service and wait for the answer the record gives; Retry if it
    does not come within the request timeout (the broker away, the partition moving)."""
    if not broker.reachable():
        raise Retry("Kafka is not reachable right now")  # log nothing that would land later
    scoped_id = key.decode()
    deadline = time.monotonic() + settings.request_timeout
    waiting = answers.expect(scoped_id, until)
    try:
        await asyncio.wait_for(topic(topics.RESERVATIONS).send(key=key, value=orjson.dumps(message)),
                               settings.request_timeout)
        return await asyncio.wait_for(waiting, max(deadline - time.monotonic(), 0.0))
    except asyncio.TimeoutError:
        raise Retry("the reservation service did not answer in time") from None
    finally:
        answers.forget(scoped_id, waiting)


# --- retention ------------------------------------------------------------------------------------


FORGET_CHECK_SECONDS = 5.0
FORGET_BATCH = 500


@timer(FORGET_CHECK_SECONDS)
async def forget_expired_records() -> None:
    """Log a forget for every closed or rejected reservation whose retention ran out (an index
    range read per partition this worker owns: nothing is scanned, nothing kept in memory)."""
    name = topic(topics.RESERVATIONS).get_topic_name()
    now = now_ms()
    pace = Pace()
    for tp in app.assignor.assigned_actives():
        if tp.topic == name:
            for _, at, key in due_entries(reservation_requests, tp.partition, FORGET, now, FORGET_BATCH):
                await pace.step()
                await topic(topics.RESERVATIONS).send(key=key, value=orjson.dumps({"kind": "forget", "at": at}))


@app.on_partitions_revoked.connect
async def answer_waiters_retry(app: Any, revoked: Any, **kwargs: Any) -> None:
    answers.cancel_all(Retry("the reservation's partition is moving to another worker"))
