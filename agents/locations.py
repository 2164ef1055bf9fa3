"""The location stage: inventory.events -> positions table -> availability.locations.

Per record: decode, check, load the position (and the reservation the event names, from its
own record), apply the pure model, write what tables/position_records.py lists (the position,
then the reservation it changed), then publish. Faust flushes what we produced before it commits the offset, so only a record Kafka
redelivers after a crash can have lost its outputs: for it (REDELIVERED, known by its offset)
the position and the reservation it last changed are written again and its outputs sent again;
every consumer of them keys on versions, offsets and event ids, so the repeat is harmless.

A reservation made through the API has its reservation service told, on
inventory.reservations, of every event that names it: the answer to its request, its picks,
its close.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.dlq import dead_letter
from agents.topics import events_topic, locations_topic, reservations_topic
from streams.app import app, settings
from streams.codec import DecodeError, default_codec
from streams.metrics import EVENTS, FLAGS
from tables import keys
from tables.events import InvalidEvent, normalize, position_key
from tables.model import API_SOURCE, DUPLICATE, REDELIVERED, Outcome, apply, follow_ups, record_of
from tables.position import Position, Reservation
from tables import position_records
from tables.position_records import EXPIRY
from tables.store import item_for, policy_cache, positions

log = logging.getLogger(__name__)
STAGE = "locations"


class Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def read(message: Any) -> dict[str, Any]:
    """The normalized event in a record, or Refused saying why it cannot be applied."""
    codec = default_codec()
    try:
        record = codec.decode("InventoryEvent", message.value)
    except DecodeError as err:
        raise Refused("decode", str(err)) from None
    item = item_for(record["sku"])
    if item is None and settings.strict_catalog:
        raise Refused("unknown_sku", f"sku: {record['sku']} is not in the item master (strict_catalog)")
    try:
        event = normalize(record, item)
    except InvalidEvent as err:
        raise Refused(f"invalid:{err.field}", str(err)) from None
    expected = position_key(event["sku"], event["location"]).encode()
    if message.key != expected:
        raise Refused("key", f"key: {message.key!r} does not match sku@location {expected!r}")
    return event


def load(key: bytes, event: dict[str, Any]) -> Position:
    raw = positions.get(key)
    # A record from before reservations had records of their own still carries them: they
    # are loaded all, and written apart with this event (store).
    position = Position.from_bytes(raw) if raw else Position(event["sku"], event["location"])
    rid = event.get("reservation_id")
    if rid and rid not in position.reservations:
        held = positions.get(keys.reservation(key, rid))
        if held is not None:
            position.reservations[rid] = Reservation.from_bytes(held)
    # The location's safety stock as the policies say now (DESIGN §4); a change shows as a
    # change of the position with the next event.
    position.safety_stock = policy_cache.get().safety_stock(event["location"], event["sku"])
    return position


def store(key: bytes, position: Position, with_reservation: bool) -> None:
    for record_key, value in position_records.writes(key, position, with_reservation):
        if value is None:
            del positions[record_key]
        else:
            positions[record_key] = value


async def process(message: Any) -> None:
    try:
        event = read(message)
        position = load(message.key, event)
        position, outcome = apply(position, event, settings.dedupe_window, (message.partition, message.offset))
    except Refused as refused:
        EVENTS.labels(STAGE, "dead_letter").inc()
        await dead_letter(message, STAGE, refused.kind, str(refused))
        await answer_refused_request(message, str(refused))
        return
    except Exception as err:  # a bug must cost one record, not the partition
        log.exception("cannot apply %s[%s]@%s", message.topic, message.partition, message.offset)
        EVENTS.labels(STAGE, "dead_letter").inc()
        await dead_letter(message, STAGE, "internal", f"internal error: {type(err).__name__}: {err}")
        await answer_refused_request(message, "internal error")
        return
    redelivered = outcome.status == REDELIVERED
    store(message.key, position, outcome.touched is not None or redelivered)
    forget_stale_expiry(message.key, event, outcome)
    EVENTS.labels(STAGE, outcome.status).inc()
    for flag in outcome.flags:
        FLAGS.labels(flag).inc()
    await tell_reservation_service(event, position, outcome, message.offset)
    if outcome.status == DUPLICATE:
        return  # an upstream retry: its first delivery published everything, before its commit
    if outcome.changed or (redelivered and position.version):
        await publish(position)
    for follow_up in follow_ups(event, message.offset):
        await events_topic.send(
            key=position_key(follow_up["sku"], follow_up["location"]).encode(),
            value=default_codec().encode("InventoryEvent", follow_up),
        )


def forget_stale_expiry(key: bytes, event: dict[str, Any], outcome: Outcome) -> None:
    """An expiry for a reservation that is no longer open here (its entry outlived it, say a
    crash between the writes): the entry goes."""
    if event["type"] == "ReservationExpired" and outcome.touched is None and event.get("expires_at"):
        del positions[keys.due_entry(EXPIRY, event["expires_at"], keys.reservation(key, event["reservation_id"]))]


async def tell_reservation_service(event: dict[str, Any], position: Position, outcome: Outcome, offset: int) -> None:
    """What a reservation made through the API (its id is scoped: client/id) now holds here,
    and the answer to its request. Sent for every event that names one, repeats included: the
    service keeps the newest state it has seen and ignores ids it does not know."""
    rid = event.get("reservation_id")
    if not rid or "/" not in rid:
        return
    last = position.last_reservation
    if last is not None and last["id"] == rid:
        record = last["record"]  # as stored: a redelivery may have loaded an older copy
    else:
        held = position.reservations.get(rid)
        record = record_of(held) if held is not None else None
    update = {
        "kind": "allocation", "location": event["location"],
        # The position's offset, not the record's: a redelivered record reports the state
        # as it is now, and the service keeps the newest it has seen.
        "offset": position.offset[1] if position.offset else offset,
        "open": record is not None,
        "unpicked": record["unpicked"] if record else 0,
        "picked": record["picked"] if record else 0,
    }
    if event["type"] == "ReserveRequested" and event["source"] == API_SOURCE:
        update["answer"] = outcome.answer
    await reservations_topic.send(key=rid.encode(), value=orjson.dumps(update))


async def answer_refused_request(message: Any, reason: str) -> None:
    """A request the service logged that cannot be applied still needs an answer, or the
    reservation would wait for it forever."""
    try:
        record = default_codec().decode("InventoryEvent", message.value)
    except DecodeError:
        return
    if record.get("type") != "ReserveRequested" or record.get("source") != API_SOURCE or not record.get("reservation_id"):
        return
    update = {"kind": "allocation", "location": record["location"], "offset": message.offset, "open": False,
              "unpicked": 0, "picked": 0,
              "answer": {"decision": "rejected", "qty": record.get("qty") or 0, "ats": 0, "reason": reason}}
    await reservations_topic.send(key=record["reservation_id"].encode(), value=orjson.dumps(update))


async def publish(position: Position) -> None:
    await locations_topic.send(
        key=position.sku.encode(),
        value=default_codec().encode("LocationAvailability", position.view()),
    )


@app.agent(events_topic, concurrency=1)
async def locations(stream: Any) -> None:
    async for event in stream.events():
        await process(event.message)
