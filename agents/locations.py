"""The location stage: inventory.events -> positions table -> availability.locations.

Per record: decode, check, apply the pure model, write the position (state and dedupe marks in
one changelog record), then publish. Faust flushes what we produced before it commits the
offset, so only a record Kafka redelivers after a crash can have lost its outputs: for it
(REDELIVERED, known by its offset) the position is rewritten and its outputs are sent again;
every consumer of them keys on versions and event ids, so the repeat is harmless.
"""

from __future__ import annotations

import logging
from typing import Any

from agents import answers, expiry
from agents.dlq import dead_letter
from agents.topics import events_topic, locations_topic
from streams.app import app, settings
from streams.codec import DecodeError, default_codec
from streams.metrics import EVENTS, FLAGS
from tables.events import InvalidEvent, normalize, position_key
from tables.model import DUPLICATE, REDELIVERED, apply, follow_ups
from tables.position import Position
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


async def process(message: Any) -> None:
    try:
        event = read(message)
        key = message.key
        raw = positions.get(key)
        position = Position.from_bytes(raw) if raw else Position(event["sku"], event["location"])
        # The location's safety stock as the policies say now (DESIGN §4); a change shows as
        # a change of the position with the next event.
        position.safety_stock = policy_cache.get().safety_stock(event["location"], event["sku"])
        position, outcome = apply(position, event, settings.dedupe_window, (message.partition, message.offset))
    except Refused as refused:
        EVENTS.labels(STAGE, "dead_letter").inc()
        await dead_letter(message, STAGE, refused.kind, str(refused))
        return
    except Exception as err:  # a bug must cost one record, not the partition
        log.exception("cannot apply %s[%s]@%s", message.topic, message.partition, message.offset)
        EVENTS.labels(STAGE, "dead_letter").inc()
        await dead_letter(message, STAGE, "internal", f"internal error: {type(err).__name__}: {err}")
        return
    positions[key] = position.to_bytes()
    expiry.watch(message.partition, key, position)
    EVENTS.labels(STAGE, outcome.status).inc()
    # Whoever waits for this event (an HTTP request that logged it) gets its outcome.
    answers.answer(event["event_id"], {**(outcome.answer or {}), "status": outcome.status,
                                       "location": event["location"]})
    for flag in outcome.flags:
        FLAGS.labels(flag).inc()
    if outcome.status == DUPLICATE:
        return  # an upstream retry: its first delivery published everything, before its commit
    redelivered = outcome.status == REDELIVERED
    if outcome.changed or (redelivered and position.version):
        await publish(position)
    for follow_up in follow_ups(event, message.offset):
        await events_topic.send(
            key=position_key(follow_up["sku"], follow_up["location"]).encode(),
            value=default_codec().encode("InventoryEvent", follow_up),
        )


async def publish(position: Position) -> None:
    await locations_topic.send(
        key=position.sku.encode(),
        value=default_codec().encode("LocationAvailability", position.view()),
    )


@app.agent(events_topic, concurrency=1)
async def locations(stream: Any) -> None:
    async for event in stream.events():
        await process(event.message)
