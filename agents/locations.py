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
from typing import Any, Iterator

import orjson

from agents.dlq import dead_letter
from streams.app import app, settings, topic
from streams.app import topics
from streams.app.clock import now_ms
from streams.app.delivery import ledger
from streams.wire.codec import DecodeError, default_codec
from streams.wire.registry import prepare_patiently
from streams.app.logs import about
from streams.app.metrics import DRIFT_RECORDS, DRIFT_UNITS, EVENTS, FLAGS, RESERVATIONS, inc
from tables import keys
from tables.events import InvalidEvent, normalize, position_key
from tables.limits import JSON_SAFE, Limits, OverLimit
from tables.model import API_SOURCE, APPLIED, DUPLICATE, REDELIVERED, REJECTED, Outcome, apply, follow_ups, record_of
from tables.reconcile import correction, drift_record
from tables.position import Position, Reservation
from tables import position_records
from tables.position_records import EXPIRY
from tables.store import item_for, policy_cache, positions

log = logging.getLogger(__name__)
STAGE = "locations"
UNKNOWN_TYPE = "unknown"  # the type label of a record that does not decode
# What an applied event that changed an open reservation (or made one) counts as.
RESERVATION_DECISIONS = {"ReserveRequested": "accepted", "ReservationReleased": "released",
                         "ReservationExpired": "expired"}


class Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def decoded(message: Any, limits: Limits) -> dict[str, Any]:
    """The InventoryEvent in a record as it was written, or Refused."""
    if message.key is not None and len(message.key) > 2 * limits.name_length + 1:
        raise Refused("limit:key", f"key: {len(message.key)} bytes, longer than any SKU@LOCATION may be")
    try:
        record = default_codec().decode("InventoryEvent", message.value)
    except DecodeError as err:
        raise Refused("decode", str(err)) from None
    about(message.key, record["event_id"], record.get("correlation_id"))
    return record


def read(message: Any, record: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The normalized event, or Refused saying why it cannot be applied."""
    try:
        event = normalize(record, known_item(record["sku"], limits), limits)
    except InvalidEvent as err:
        raise Refused(f"invalid:{err.field}", str(err)) from None
    except OverLimit as err:
        raise Refused(f"limit:{err.field}", str(err)) from None
    expected = position_key(event["sku"], event["location"]).encode()
    if message.key != expected:
        raise Refused("key", f"key: {message.key!r} does not match sku@location {expected!r}")
    return event


def known_item(sku: str, limits: Limits) -> dict[str, Any] | None:
    if len(sku) > limits.name_length:
        return None  # normalize refuses it, naming the field
    item = item_for(sku)
    if item is None and settings.strict_catalog:
        raise Refused("unknown_sku", f"sku: {sku} is not in the item master (strict_catalog)")
    return item


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


async def process(message: Any) -> None:
    about(message.key)
    await prepare_patiently(default_codec(), message.value)
    event_type = UNKNOWN_TYPE
    try:
        limits = settings.limits()
        record = decoded(message, limits)
        event_type = record["type"]
        event = read(message, record, limits)
        position = load(message.key, event)
        position, outcome = apply(position, event, settings.dedupe_window, (message.partition, message.offset),
                                  settings.reconcile_history)
        if not position.within(JSON_SAFE):
            raise Refused("limit:qty", f"qty: applying it would take a bucket beyond {JSON_SAFE}")
        redelivered = outcome.status == REDELIVERED
        writes = position_records.writes(message.key, position, outcome.touched is not None or redelivered)
        writes += stale_expiry(message.key, event, outcome)
        # Encoded before anything is written: a record that cannot be told to its consumers
        # must not change the position either.
        outputs = list(outputs_of(event, position, outcome, message.offset, ingested_at(message)))
    except Refused as refused:
        inc(EVENTS, STAGE, event_type, "dead_letter")
        await dead_letter(message, STAGE, refused.kind, str(refused))
        await answer_refused_request(message, str(refused))
        return
    except Exception as err:  # a bug must cost one record, not the partition
        log.exception("cannot apply %s[%s]@%s", message.topic, message.partition, message.offset)
        inc(EVENTS, STAGE, event_type, "dead_letter")
        await dead_letter(message, STAGE, "internal", f"internal error: {type(err).__name__}: {err}")
        await answer_refused_request(message, "internal error")
        return
    for record_key, value in writes:
        if value is None:
            del positions[record_key]
        else:
            positions[record_key] = value
    inc(EVENTS, STAGE, event_type, outcome.status)
    for flag in outcome.flags:
        inc(FLAGS, flag)
    if outcome.touched is not None and outcome.status == APPLIED and event_type in RESERVATION_DECISIONS:
        inc(RESERVATIONS, RESERVATION_DECISIONS[event_type])
    elif outcome.status == REJECTED:
        inc(RESERVATIONS, "rejected")
    # Through the producer's buffer, after the table writes above (Faust buffers those): an
    # output is never handed to Kafka before the state change it reports.
    for target, key, value in outputs:
        target.send_soon(key=key, value=value)


def ingested_at(message: Any) -> int | None:
    """When the record reached Kafka (its timestamp), epoch ms: the channel stage times the
    deltas it causes from it."""
    return round(message.timestamp * 1000) if message.timestamp else None


def outputs_of(event: dict[str, Any], position: Position, outcome: Outcome, offset: int,
               ingested: int | None) -> Iterator[tuple[Any, bytes, bytes]]:
    """(topic, key, value) of every record an applied event sends."""
    codec = default_codec()
    told = service_update(event, position, outcome, offset)
    if told is not None:
        yield topic(topics.RESERVATIONS), event["reservation_id"].encode(), told
    if outcome.status == DUPLICATE:
        return  # an upstream retry: its first delivery published everything, before its commit
    if outcome.changed or (outcome.status == REDELIVERED and position.version):
        view = position.view()
        view["ingested_at"] = ingested
        yield topic(topics.LOCATIONS), position.sku.encode(), codec.encode("LocationAvailability", view)
    if not outcome.applied_here:
        return  # Kafka redelivering an upstream retry: it caused nothing the first time
    for follow_up in follow_ups(event, offset):
        key = position_key(follow_up["sku"], follow_up["location"]).encode()
        yield topic(topics.EVENTS), key, codec.encode("InventoryEvent", follow_up)
    yield from reconciliation(event, position, outcome)


def reconciliation(event: dict[str, Any], position: Position, outcome: Outcome) -> Iterator[tuple[Any, bytes, bytes]]:
    """A Snapshot's drift record, and the location's correction when its policy says so; sent
    again when Kafka redelivers the snapshot (the correction's id makes it a duplicate)."""
    snapshot = position.last_snapshot
    if event["type"] != "Snapshot" or outcome.status not in (APPLIED, REDELIVERED) or not snapshot \
            or snapshot["event_id"] != event["event_id"]:
        return
    codec, key, now = default_codec(), position_key(position.sku, position.location).encode(), now_ms()
    adjustment = correction(position, policy_cache.get().reconciliation(position.location), now)
    if adjustment is not None:
        yield topic(topics.EVENTS), key, codec.encode("InventoryEvent", adjustment)
    record = drift_record(position, adjustment is not None, now)
    if outcome.status == APPLIED and record["drift"]:
        inc(DRIFT_RECORDS, position.location, record["action"])
        direction = "missing" if record["drift"] < 0 else "extra"
        DRIFT_UNITS.labels(position.location, direction).inc(abs(record["drift"]))
    yield topic(topics.DRIFT), key, codec.encode("DriftRecord", record)


def stale_expiry(key: bytes, event: dict[str, Any], outcome: Outcome) -> list[position_records.Write]:
    """An expiry for a reservation that is no longer open here (its entry outlived it, say a
    crash between the writes): the entry goes."""
    if event["type"] == "ReservationExpired" and outcome.touched is None and event.get("expires_at"):
        return [(keys.due_entry(EXPIRY, event["expires_at"], keys.reservation(key, event["reservation_id"])), None)]
    return []


def service_update(event: dict[str, Any], position: Position, outcome: Outcome, offset: int) -> bytes | None:
    """What a reservation made through the API (its id is scoped: client/id) now holds here,
    and the answer to its request. Sent for every event that names one, repeats included: the
    service keeps the newest state it has seen and ignores ids it does not know."""
    rid = event.get("reservation_id")
    if not rid or "/" not in rid:
        return None
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
    return orjson.dumps(update)


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
    topic(topics.RESERVATIONS).send_soon(key=record["reservation_id"].encode(), value=orjson.dumps(update))


@app.agent(topic(topics.EVENTS), concurrency=1)
async def locations(stream: Any) -> None:
    async for event in stream.events():
        try:
            await process(event.message)
        except Exception as err:  # a send refused outright, the dead letter too: read it again
            log.exception("cannot handle %s[%s]@%s", event.message.topic, event.message.partition, event.message.offset)
            ledger.failed(event.message, err)
