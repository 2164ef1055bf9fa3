"""The channel stage: availability.locations (+ components, control) -> availability.<channel>.

Keyed by SKU. Each record updates the SKU's state (tables/sku_state.py), every channel's
availability is computed again with the pure formula, and what changed is published: a
decrease at once, an increase when its channel's interval has passed.

Work that is not one SKU's runs on availability.control, in the partition it concerns, in
small steps between the other records (table writes need a record of the partition):
- a tick flushes the increases that are due, found by an index of pending SKUs by due time;
- a policies marker starts a sweep that computes every SKU of the partition again, a batch
  per tick; each batch sends the next tick, so the sweep runs as fast as the loop allows and
  never holds back location records. It first waits (without blocking) until this worker's
  copy of the policies matches the marker's fingerprint, at most POLICY_WAIT_SECONDS;
- a control record Kafka redelivers after a crash sweeps the partition to send again what
  control records changed since it (those deltas may never have reached Kafka).
The sweep's state and the last control offset applied are records of the partition, so a
sweep survives a crash and a rebalance; nothing about a partition is held in memory.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable

import orjson

from agents.dlq import dead_letter
from streams.app import topics
from streams.app.clock import now_ms
from streams.app import app, settings, timer, topic
from streams.app.delivery import ledger
from streams.app.pacing import Pace
from streams.wire.codec import DecodeError, default_codec
from streams.wire.registry import prepare_patiently
from streams.app.compat import partition_items
from streams.app.logs import about
from streams.app.metrics import DELTAS, EVENT_TO_DELTA, EVENTS, NO_TYPE, inc, observe
from tables import keys
from tables.publishing import Cause, Delta, as_record
from tables.sku_state import SkuState, apply_location, cause_in, cause_of, current, due, recompute
from tables.store import PENDING, catalog_index, channel_state, due_entries, policy_cache

log = logging.getLogger(__name__)
STAGE = "channels"
TICK_SECONDS = 0.25
POLICY_WAIT_SECONDS = 15.0
SWEEP_BATCH = 200  # SKUs per sweep step
SWEEP_STEP_SECONDS = 0.05  # and at most this long
FLUSH_BATCH = 500  # pending increases flushed per tick

LOCATIONS = settings.topic(topics.LOCATIONS)
COMPONENTS = settings.topic(topics.COMPONENTS)
CONTROL = settings.topic(topics.CONTROL)
SWEEP = keys.INDEX + b"sweep"
LAST_CONTROL = keys.INDEX + b"control"
FIRST_SKU = b"\x01"  # every SKU key sorts at or after it; index keys before
TICK = orjson.dumps({"kind": "tick"})

channel_input = app.topic(LOCATIONS, COMPONENTS, CONTROL, partitions=settings.partitions,
                          key_serializer="raw", value_serializer="raw")
components_topic = topic(topics.COMPONENTS)
control_topic = topic(topics.CONTROL)


def delta_topic(channel: str) -> Any:
    return topic(topics.CHANNEL_PREFIX + channel)


def load(key: bytes) -> SkuState:
    raw = channel_state.get(key)
    return SkuState.from_bytes(raw) if raw else SkuState(key.decode())


async def store_and_publish(key: bytes, state: SkuState, deltas: Iterable[Delta], due_before: int | None) -> None:
    """Write the state and keep the pending index in step with it, then send the deltas."""
    channel_state[key] = state.to_bytes()
    due_after = state.next_due()
    if due_after != due_before:
        if due_before is not None:
            del channel_state[keys.due_entry(PENDING, due_before, key)]
        index_pending(key, state)
    await send_deltas(key, state.sku, deltas)


def index_pending(key: bytes, state: SkuState) -> None:
    due_at = state.next_due()
    if due_at is not None:
        channel_state[keys.due_entry(PENDING, due_at, key)] = b""


async def send_again(key: bytes, state: SkuState) -> None:
    """A redelivered record: what it caused may not have reached Kafka (the state's changelog
    write, the pending index entry written after it, the deltas), so all are made again."""
    inc(EVENTS, STAGE, NO_TYPE, "repeat")
    channel_state[key] = state.to_bytes()
    index_pending(key, state)
    await send_deltas(key, state.sku, current(state))


async def send_deltas(key: bytes, sku: str, deltas: Iterable[Delta]) -> None:
    published_at = now_ms()
    codec = default_codec()
    for delta in deltas:
        direction = "first" if delta.previous is None else "down" if delta.available < delta.previous else "up"
        inc(DELTAS, delta.channel, direction)
        delta_topic(delta.channel).send_soon(key=key, value=codec.encode("AvailabilityDelta", as_record(sku, delta, published_at)))
        # Clocks apart (the ERP's, the producer's, ours) count as no delay rather than a negative one.
        if delta.occurred_at is not None:
            observe(EVENT_TO_DELTA, max(published_at - delta.occurred_at, 0) / 1000, delta.channel, "occurred")
        if delta.ingested_at is not None:
            observe(EVENT_TO_DELTA, max(published_at - delta.ingested_at, 0) / 1000, delta.channel, "ingested")


async def settle(key: bytes, state: SkuState, cause: Cause, due_before: int | None) -> None:
    """Compute every channel again, publish what must go now, fan out to kits."""
    kit = catalog_index.kits.get(state.sku)
    values, deltas = recompute(state, policy_cache.get(), kit, now_ms(), cause)
    await store_and_publish(key, state, deltas, due_before)
    for kit_sku in catalog_index.used_in.get(state.sku, ()):
        components_topic.send_soon(key=kit_sku.encode(), value=orjson.dumps(
            {"component": state.sku, "channels": values, "event_id": cause.event_id,
             "correlation_id": cause.correlation_id, "occurred_at": cause.occurred_at,
             "ingested_at": cause.ingested_at}))


async def on_location(message: Any) -> None:
    await prepare_patiently(default_codec(), message.value)
    try:
        record = default_codec().decode("LocationAvailability", message.value)
    except DecodeError as err:
        await dead_letter(message, STAGE, "decode", str(err))
        return
    about(message.key, record["event_id"], record.get("correlation_id"))
    state = load(message.key)
    due_before = state.next_due()
    if not apply_location(state, record):
        # A repeat: Kafka redelivering after a crash, here or upstream (same versions).
        await send_again(message.key, state)
        return
    inc(EVENTS, STAGE, NO_TYPE, "applied")
    await settle(message.key, state, cause_in(record), due_before)


def component_update(value: bytes | None) -> tuple[dict[str, Any], str, dict[str, int]]:
    """An availability.components record: (the update, its component, the component's value per
    channel), or ValueError/TypeError. Checked whole before anything is kept: a value of another
    kind stored in a SKU's state would fail every later record of that SKU once it is a kit."""
    update = orjson.loads(value)  # TypeError for a tombstone, JSONDecodeError (a ValueError)
    if not isinstance(update, dict):
        raise ValueError(f"not a JSON object: {type(update).__name__}")
    component, values = update.get("component"), update.get("channels")
    if not isinstance(component, str) or not component:
        raise ValueError(f"component: must be a SKU, got {component!r}")
    if not isinstance(values, dict) or not all(isinstance(name, str) and isinstance(n, int) and not isinstance(n, bool)
                                               for name, n in values.items()):
        raise ValueError(f"channels: must map channel names to whole numbers, got {str(values)[:100]}")
    return update, component, values


MARKERS = ("policies", "tick")  # what availability.control carries


def marker_kind(value: bytes | None) -> tuple[dict[str, Any], str]:
    """An availability.control record: (the marker, its kind), or ValueError/TypeError/KeyError.
    A kind this stage does not know is refused too, or it would pass without a trace."""
    marker = orjson.loads(value)
    kind = marker["kind"]
    if kind not in MARKERS:
        raise ValueError(f"kind: must be one of {', '.join(MARKERS)}, got {str(kind)[:100]!r}")
    return marker, kind


async def on_component(message: Any) -> None:
    try:
        update, component, values = component_update(message.value)
    except (ValueError, TypeError) as err:
        await dead_letter(message, STAGE, "decode", f"not a component update: {err}")
        return
    state = load(message.key)
    if state.component_offset is not None and message.offset <= state.component_offset:
        await send_again(message.key, state)
        return
    due_before = state.next_due()
    state.components[component] = values
    state.component_offset = message.offset
    inc(EVENTS, STAGE, NO_TYPE, "component")
    await settle(message.key, state, Cause(update.get("event_id"), update.get("correlation_id"),
                                           update.get("occurred_at"), update.get("ingested_at")), due_before)


async def on_control(message: Any) -> None:
    try:
        marker, kind = marker_kind(message.value)
    except (ValueError, KeyError, TypeError) as err:
        await dead_letter(message, STAGE, "decode", f"not a control marker: {err}")
        return
    partition, offset = message.partition, message.offset
    sweep = read_json(SWEEP)
    last = read_json(LAST_CONTROL)
    if last is not None and offset <= last:
        sweep = resend_from(sweep, offset)  # a redelivery: what it changed may not have been sent
    elif kind == "policies":
        sweep = {"republish": marker.get("fingerprint") or "", "since": now_ms(), "cursor": None,
                 "marker": offset, "resend_from": (sweep or {}).get("resend_from")}
    elif kind == "tick":
        await flush_due(partition, offset)
    if sweep is not None:
        sweep = await sweep_step(partition, sweep)
    write_json(SWEEP, sweep)
    channel_state[LAST_CONTROL] = orjson.dumps(max(offset, last if last is not None else -1))
    if sweep is not None and not waiting_for_policies(sweep):
        control_topic.send_soon(key=b"tick", value=TICK, partition=partition)  # the next step


def read_json(key: bytes) -> Any:
    raw = channel_state.get(key)
    return orjson.loads(raw) if raw else None


def write_json(key: bytes, value: Any) -> None:
    if value is None:
        if channel_state.get(key) is not None:
            del channel_state[key]
    else:
        channel_state[key] = orjson.dumps(value)


def resend_from(sweep: dict[str, Any] | None, offset: int) -> dict[str, Any]:
    if sweep is None:
        return {"republish": None, "since": now_ms(), "cursor": None, "marker": None, "resend_from": offset}
    if sweep.get("resend_from") is None or offset < sweep["resend_from"]:
        # Earlier than the sweep reaches back: start it over from the first SKU.
        sweep = {**sweep, "resend_from": offset, "cursor": None}
    return sweep


async def flush_due(partition: int, offset: int) -> None:
    """The pending increases whose time has come (a range read of the pending index)."""
    now = now_ms()
    pace = Pace()
    for entry, at, key in due_entries(channel_state, partition, PENDING, now, FLUSH_BATCH):
        await pace.step()
        state = load(key)
        due_before = state.next_due()
        if at != due_before:  # the entry outlived a change of the state (a crash between writes)
            del channel_state[entry]
            index_pending(key, state)  # the state's own entry, in case that one was lost
            continue
        deltas = due(state, now)
        state.control_offset = offset
        await store_and_publish(key, state, deltas, due_before)


def waiting_for_policies(sweep: dict[str, Any]) -> bool:
    wanted = sweep.get("republish")
    return (bool(wanted) and policy_cache.fingerprint() != wanted
            and now_ms() - sweep["since"] < POLICY_WAIT_SECONDS * 1000)


async def sweep_step(partition: int, sweep: dict[str, Any]) -> dict[str, Any] | None:
    """One batch of a sweep; the sweep as it stands after it (None once done)."""
    if waiting_for_policies(sweep):
        return sweep  # this worker's copy of inventory.policies is catching up
    if sweep.get("republish") and policy_cache.fingerprint() != sweep["republish"]:
        log.warning("policies on partition %s: still not the applied ones after %ss; using what is here",
                    partition, POLICY_WAIT_SECONDS)
        sweep["republish"] = ""
    started = time.monotonic()
    cursor = sweep["cursor"].encode() + b"\x00" if sweep["cursor"] is not None else FIRST_SKU
    done = 0
    pace = Pace()
    for key, raw in partition_items(channel_state, partition, cursor):
        await pace.step()
        await sweep_one(key, SkuState.from_bytes(raw), sweep)
        done += 1
        if done >= SWEEP_BATCH or time.monotonic() - started > SWEEP_STEP_SECONDS:
            return {**sweep, "cursor": key.decode()}
    if sweep.get("republish") is not None:
        inc(EVENTS, STAGE, NO_TYPE, "republish")
    return None


async def sweep_one(key: bytes, state: SkuState, sweep: dict[str, Any]) -> None:
    since = sweep.get("resend_from")
    if since is not None and state.control_offset is not None and state.control_offset >= since:
        await send_deltas(key, state.sku, current(state))
    if sweep.get("republish") is not None:
        due_before = state.next_due()
        state.control_offset = sweep["marker"]
        await settle(key, state, cause_of(state), due_before)


@app.agent(channel_input, concurrency=1)
async def channel_stage(stream: Any) -> None:
    async for event in stream.events():
        message = event.message
        about(message.key)
        try:
            if message.topic == LOCATIONS:
                await on_location(message)
            elif message.topic == COMPONENTS:
                await on_component(message)
            else:
                await on_control(message)
        except Exception as err:  # a bug must cost one record, not the partition
            log.exception("cannot process %s[%s]@%s", message.topic, message.partition, message.offset)
            try:
                await dead_letter(message, STAGE, "internal", f"internal error: {type(err).__name__}: {err}")
            except Exception as lost:  # not even the dead letter: read the record again
                ledger.failed(message, lost)


@timer(TICK_SECONDS)
async def tick() -> None:
    """Send a tick to each control partition this worker owns that has an increase due or a
    sweep under way (two point reads per partition: no scan, no memory)."""
    now = now_ms()
    for tp in app.assignor.assigned_actives():
        if tp.topic != CONTROL:
            continue
        if due_entries(channel_state, tp.partition, PENDING, now, 1) or has_sweep(tp.partition):
            await control_topic.send(key=b"tick", value=TICK, partition=tp.partition)


def has_sweep(partition: int) -> bool:
    first = next(partition_items(channel_state, partition, SWEEP), None)
    return first is not None and first[0] == SWEEP
