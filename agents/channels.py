"""The channel stage: availability.locations (+ components, control) -> availability.<channel>.

Keyed by SKU. Each record updates the SKU's state (tables/sku_state.py), every channel's
availability is computed again with the pure formula, and what changed is published: a
decrease at once, an increase when its channel's interval has passed (a tick on
availability.control flushes what is due). A policy change reaches every partition as a
marker on availability.control; the worker waits until its copy of the policies matches the
marker's fingerprint, then recomputes every SKU it owns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Iterable

import orjson

from agents.dlq import dead_letter
from streams import topics
from streams.app import app, settings
from streams.codec import DecodeError, default_codec
from streams.metrics import DELTAS, EVENTS
from tables.publishing import Delta, as_record
from tables.sku_state import SkuState, apply_location, cause_of, current, due, recompute
from tables.store import catalog_index, channel_state, policy_cache

log = logging.getLogger(__name__)
STAGE = "channels"
TICK_SECONDS = 0.25
POLICY_WAIT_SECONDS = 15.0

LOCATIONS = settings.topic(topics.LOCATIONS)
COMPONENTS = settings.topic(topics.COMPONENTS)
CONTROL = settings.topic(topics.CONTROL)

channel_input = app.topic(LOCATIONS, COMPONENTS, CONTROL, partitions=settings.partitions,
                          key_serializer="raw", value_serializer="raw")
components_topic = app.topic(COMPONENTS, partitions=settings.partitions, key_serializer="raw", value_serializer="raw")
control_topic = app.topic(CONTROL, partitions=settings.partitions, key_serializer="raw", value_serializer="raw")
_delta_topics: dict[str, Any] = {}

# SKUs with a pending increase, per partition of channel_state; rebuilt by a scan of the
# partition the first time it is ticked after an assignment (the pending state is durable).
_pending: dict[int, set[bytes]] = {}
_scanned: set[int] = set()


def now_ms() -> int:
    return int(time.time() * 1000)


def delta_topic(channel: str) -> Any:
    topic = _delta_topics.get(channel)
    if topic is None:
        name = settings.topic(topics.CHANNEL_PREFIX + channel)
        topic = _delta_topics[channel] = app.topic(name, key_serializer="raw", value_serializer="raw")
    return topic


def load(key: bytes) -> SkuState:
    raw = channel_state.get(key)
    return SkuState.from_bytes(raw) if raw else SkuState(key.decode())


async def store_and_publish(key: bytes, state: SkuState, deltas: Iterable[Delta], partition: int) -> None:
    channel_state[key] = state.to_bytes()
    if state.has_pending():
        _pending.setdefault(partition, set()).add(key)
    else:
        _pending.get(partition, set()).discard(key)
    await send_deltas(key, state.sku, deltas)


async def send_deltas(key: bytes, sku: str, deltas: Iterable[Delta]) -> None:
    published_at = now_ms()
    codec = default_codec()
    for delta in deltas:
        direction = "first" if delta.previous is None else "down" if delta.available < delta.previous else "up"
        DELTAS.labels(delta.channel, direction).inc()
        await delta_topic(delta.channel).send(key=key, value=codec.encode("AvailabilityDelta", as_record(sku, delta, published_at)))


async def settle(key: bytes, state: SkuState, partition: int, cause: tuple[str | None, str | None]) -> None:
    """Compute every channel again, publish what must go now, fan out to kits."""
    kit = catalog_index.kits.get(state.sku)
    values, deltas = recompute(state, policy_cache.get(), kit, now_ms(), cause)
    await store_and_publish(key, state, deltas, partition)
    for kit_sku in catalog_index.used_in.get(state.sku, ()):
        await components_topic.send(key=kit_sku.encode(), value=orjson.dumps(
            {"component": state.sku, "channels": values, "event_id": cause[0], "correlation_id": cause[1]}))


async def on_location(message: Any) -> None:
    try:
        record = default_codec().decode("LocationAvailability", message.value)
    except DecodeError as err:
        await dead_letter(message, STAGE, "decode", str(err))
        return
    state = load(message.key)
    if not apply_location(state, record):
        # A repeat: Kafka redelivering after a crash, here or upstream. What it caused may not
        # have reached the delta topics, so the current values go out again (same versions).
        EVENTS.labels(STAGE, "repeat").inc()
        await send_deltas(message.key, state.sku, current(state))
        return
    EVENTS.labels(STAGE, "applied").inc()
    await settle(message.key, state, message.partition, (record["event_id"], record.get("correlation_id")))


async def on_component(message: Any) -> None:
    try:
        update = orjson.loads(message.value)
        component, values = update["component"], update["channels"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        await dead_letter(message, STAGE, "decode", f"not a component update: {err}")
        return
    state = load(message.key)
    if state.component_offset is not None and message.offset <= state.component_offset:
        EVENTS.labels(STAGE, "repeat").inc()
        await send_deltas(message.key, state.sku, current(state))
        return
    state.components[component] = values
    state.component_offset = message.offset
    EVENTS.labels(STAGE, "component").inc()
    await settle(message.key, state, message.partition, (update.get("event_id"), update.get("correlation_id")))


async def on_control(message: Any) -> None:
    try:
        marker = orjson.loads(message.value)
        kind = marker["kind"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        await dead_letter(message, STAGE, "decode", f"not a control marker: {err}")
        return
    if message.partition not in _scanned:
        await scan(message.partition, message.offset)
    if kind == "tick":
        await flush_due(message.partition, message.offset)
    elif kind == "policies":
        await republish(message.partition, message.offset, marker.get("fingerprint"))


def partition_keys(partition: int) -> list[bytes]:
    """Every SKU of one channel_state partition (Faust keeps a RocksDB per partition)."""
    store = channel_state.data
    db = store._db_for_partition(partition)  # noqa: SLF001 - no public per-partition view
    return [key for key in db.keys() if key != store.offset_key]  # Faust keeps its offset there


async def scan(partition: int, first_offset: int) -> None:
    """The first control record of a partition after an assignment: find the pending
    increases, and send again what uncommitted control records (from first_offset on, so
    redelivered now) changed before a crash, since those deltas may not have reached Kafka."""
    pending = _pending.setdefault(partition, set())
    for n, key in enumerate(partition_keys(partition)):
        state = load(key)
        if state.has_pending():
            pending.add(key)
        if state.control_offset is not None and state.control_offset >= first_offset:
            await send_deltas(key, state.sku, current(state))
        if n % 200 == 199:
            await asyncio.sleep(0)
    _scanned.add(partition)


async def flush_due(partition: int, offset: int) -> None:
    now = now_ms()
    for key in list(_pending.get(partition, ())):
        state = load(key)
        deltas = due(state, now)
        if deltas:
            state.control_offset = offset
            await store_and_publish(key, state, deltas, partition)


async def republish(partition: int, offset: int, wanted: str | None) -> None:
    deadline = time.monotonic() + POLICY_WAIT_SECONDS
    while wanted and policy_cache.fingerprint() != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # our copy of inventory.policies is catching up
    if wanted and policy_cache.fingerprint() != wanted:
        log.warning("policies on partition %s: still not the applied ones after %ss; using what is here",
                    partition, POLICY_WAIT_SECONDS)
    for n, key in enumerate(partition_keys(partition)):
        state = load(key)
        state.control_offset = offset
        await settle(key, state, partition, cause_of(state))
        if n % 200 == 199:
            await asyncio.sleep(0)  # let the loop breathe on a big partition
    EVENTS.labels(STAGE, "republish").inc()


@app.agent(channel_input, concurrency=1)
async def channel_stage(stream: Any) -> None:
    async for event in stream.events():
        message = event.message
        try:
            if message.topic == LOCATIONS:
                await on_location(message)
            elif message.topic == COMPONENTS:
                await on_component(message)
            else:
                await on_control(message)
        except Exception as err:  # a bug must cost one record, not the partition
            log.exception("cannot process %s[%s]@%s", message.topic, message.partition, message.offset)
            await dead_letter(message, STAGE, "internal", f"internal error: {type(err).__name__}: {err}")


@app.timer(TICK_SECONDS)
async def tick() -> None:
    """Pending increases are flushed in-stream (table writes need a partition): send a tick
    to each control partition this worker owns."""
    marker = orjson.dumps({"kind": "tick"})
    for tp in app.assignor.assigned_actives():
        # Unscanned partitions get one tick (to find their pending increases), then only
        # those with something pending.
        if tp.topic == CONTROL and (tp.partition not in _scanned or _pending.get(tp.partition)):
            await control_topic.send(key=b"tick", value=marker, partition=tp.partition)


@app.on_partitions_assigned.connect
async def forget_pending_index(app: Any, assigned: Any, **kwargs: Any) -> None:
    _pending.clear()  # rebuilt per partition by the next tick's scan
    _scanned.clear()
