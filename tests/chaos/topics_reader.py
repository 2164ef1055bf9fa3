"""What the verifier reads: a deployment's topics from the beginning (confluent-kafka, Avro
through the wire codec) and its positions over HTTP. No engine model code: topic names are
spelt here, records are the decoded Avro dicts.

catalog.items and inventory.policies are read as the README's "Limits and refusals" says the
engine reads them: a record it refuses (not decodable, a key that is not UTF-8 or does not name
the record, a value `stockstream produce` or `policies apply` would refuse, a kit containing
itself or too deep) leaves the value before it in force. The checks are written again here from
the README and DESIGN §3/§4 with the documented default limits, not taken from tables/. A record
of an engine output topic that does not decode is not the engine's (the channel stage
dead-letters such a record on availability.locations): it is skipped and counted.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.wire.codec import DecodeError, cli_codec
from tests.chaos import channels_reference
from tests.chaos.log_fold import Record

EVENTS = "inventory.events"
LOCATIONS = "availability.locations"
CATALOG = "catalog.items"
POLICIES = "inventory.policies"
CHANNEL = "availability."
POLICY_RECORDS = {channels_reference.CHANNEL_KEY: "ChannelPolicy", channels_reference.LOCATION_KEY: "LocationPolicy"}
READ_SECONDS = 120  # to read one topic to its end; 100,000 events take a few seconds


def read_topic(bootstrap: str, topic: str) -> dict[int, list[tuple[int, bytes | None, bytes | None]]]:
    """partition -> (offset, key, value) of every record up to the end the topic had when asked;
    {} for a topic that does not exist (yet)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"verifier-{uuid.uuid4()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in metadata.partitions}
        wanted = {p for p, (low, high) in ends.items() if high > low}
        out: dict[int, list] = {p: [] for p in metadata.partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in wanted])
        deadline = time.monotonic() + READ_SECONDS
        while wanted:
            assert time.monotonic() < deadline, f"could not read {topic} to its end in {READ_SECONDS}s"
            for message in consumer.consume(1000, 0.5):
                partition = message.partition()
                if message.error() is not None:
                    # the end, also where the last offsets are not records (compaction, markers)
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        wanted.discard(partition)
                    continue
                if partition not in wanted:
                    continue
                if message.offset() < ends[partition][1]:  # records written since are not asked for
                    out[partition].append((message.offset(), message.key(), message.value()))
                if message.offset() + 1 >= ends[partition][1]:
                    wanted.discard(partition)
        return out
    finally:
        consumer.close()


def _decode(name: str, value: bytes | None) -> dict[str, Any] | None:
    """None for a record that is not an Avro `name` (or a tombstone)."""
    if value is None:
        return None
    try:
        return cli_codec().decode(name, value)
    except DecodeError:
        return None


def in_order(partitions: Mapping[int, list]) -> Iterable[tuple[int, bytes | None, bytes | None]]:
    """Every record, partition by partition, each in offset order."""
    for partition in sorted(partitions):
        yield from partitions[partition]


@dataclass
class LogInput:
    events: dict[int, list[Record]]  # partition -> (offset, key, decoded event or None)
    catalog: dict[str, dict[str, Any]]  # SKU -> item
    policies: channels_reference.Policies


def read_log(bootstrap: str, prefix: str) -> LogInput:
    events = {p: [(offset, key, _decode("InventoryEvent", value)) for offset, key, value in records]
              for p, records in read_topic(bootstrap, prefix + EVENTS).items()}
    catalog = catalog_in_force((key, value) for _, key, value in in_order(read_topic(bootstrap, prefix + CATALOG)))
    return LogInput(events, catalog, read_policies(bootstrap, prefix))


def read_policies(bootstrap: str, prefix: str) -> channels_reference.Policies:
    return policies_in_force((key, value) for _, key, value in in_order(read_topic(bootstrap, prefix + POLICIES)))


# --- what the engine refuses on catalog.items and inventory.policies ---------------------------

# The README's documented defaults (Limits and refusals): STOCKSTREAM_MAX_NAME_LENGTH, _MAX_QTY,
# _MAX_UNIT_FACTOR, _MAX_UNITS_PER_ITEM, _MAX_KIT_COMPONENTS, _MAX_KIT_DEPTH, _MAX_POLICY_ENTRIES.
NAME_LENGTH, MAX_QTY, UNIT_FACTOR = 128, 1_000_000_000_000, 1_000_000
UNITS_PER_ITEM, KIT_COMPONENTS, KIT_DEPTH, POLICY_ENTRIES = 32, 50, 4, 10_000
EACH = "EA"
RESERVED_CHANNELS = ("locations", "components", "control")  # availability.<name> is taken
RECONCILIATION = ("alert", "auto_correct")


def catalog_in_force(records: Iterable[tuple[bytes | None, bytes | None]]) -> dict[str, dict[str, Any]]:
    """SKU -> item after catalog.items' records (key, value) in log order: a tombstone removes
    the item, a refused record changes nothing."""
    catalog: dict[str, dict[str, Any]] = {}
    for key, value in records:
        sku = _utf8(key)
        if sku is None:
            continue  # refused: a key that is not UTF-8
        if value is None:
            catalog.pop(sku, None)
            continue
        item = _decode("Item", value)
        if item is not None and item_refusal(sku, item, catalog) is None:
            catalog[sku] = item
    return catalog


def item_refusal(key: str, item: Mapping[str, Any], catalog: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the engine refuses this item under this key, with these items in force; None if not."""
    if item.get("sku") != key:
        return "invalid:(key)"
    for where, name in [("sku", item.get("sku")), ("base_uom", item.get("base_uom", EACH)),
                        *((f"uoms.{unit}", unit) for unit in item.get("uoms") or {})]:
        if not _name_ok(name):
            return f"invalid:{where}"
    uoms = item.get("uoms") or {}
    if len(uoms) > UNITS_PER_ITEM:
        return "limit:uoms"
    for unit, factor in uoms.items():
        if not _whole(factor) or factor < 1:
            return f"invalid:uoms.{unit}"
        if factor > UNIT_FACTOR:
            return f"limit:uoms.{unit}"
    components = item.get("components") or []
    if len(components) > KIT_COMPONENTS:
        return "limit:components"
    for i, component in enumerate(components):
        if not _name_ok(component.get("sku")) or component["sku"] == key:
            return f"invalid:components[{i}].sku"
        if not _whole(component.get("qty")) or not 0 < component["qty"] <= UNIT_FACTOR:
            return f"invalid:components[{i}].qty"
    kits = {sku: [c["sku"] for c in other.get("components") or ()] for sku, other in catalog.items()}
    kits[key] = [c["sku"] for c in components]
    depths: dict[str, int] = {}
    try:
        deepest = max((_kit_depth(sku, kits, depths, ()) for sku in kits), default=0)
    except RecursionError:
        return "invalid:components"  # kits containing each other
    return "limit:components" if deepest > KIT_DEPTH else None


def _kit_depth(sku: str, kits: Mapping[str, list[str]], depths: dict[str, int], path: tuple[str, ...]) -> int:
    """1 for a kit of plain items, 0 for a plain item; RecursionError for a cycle."""
    if sku in path:
        raise RecursionError(sku)
    if sku not in depths:
        parts = kits.get(sku) or ()
        depths[sku] = 1 + max(_kit_depth(p, kits, depths, path + (sku,)) for p in parts) if parts else 0
    return depths[sku]


def policies_in_force(records: Iterable[tuple[bytes | None, bytes | None]]) -> channels_reference.Policies:
    """The policies inventory.policies' records (key, value) in log order leave in force: a
    tombstone removes its key, a refused record changes nothing."""
    entries = []
    for key, value in records:
        name = _utf8(key)
        record_name = next((r for k, r in POLICY_RECORDS.items() if name and name.startswith(k)), None)
        if record_name is None:
            continue  # refused (not UTF-8, neither channel:NAME nor location:NAME), a tombstone too
        if value is None:
            entries.append((name, None))
            continue
        record = _decode(record_name, value)
        if record is not None and policy_refusal(name, record) is None:
            entries.append((name, record))
    return channels_reference.from_records(entries)


def policy_refusal(key: str, record: Mapping[str, Any]) -> str | None:
    """Why the engine refuses this decoded ChannelPolicy or LocationPolicy under this key; None
    if not. Paths as `policies apply` names them (channels.web.allocation_percent)."""
    channel = key.startswith(channels_reference.CHANNEL_KEY)
    name = record.get("name")
    if key != (channels_reference.CHANNEL_KEY if channel else channels_reference.LOCATION_KEY) + str(name):
        return "invalid:(key)"
    path = f"{'channels' if channel else 'locations'}.{name}"
    if not _name_ok(name, banned="@:") or (channel and (name in RESERVED_CHANNELS or "." in name)):
        return f"invalid:{path}"
    if not channel:
        if not _count(record.get("safety_stock")):
            return f"invalid:{path}.safety_stock"
        if record.get("reconciliation", "alert") not in RECONCILIATION:
            return f"invalid:{path}.reconciliation"
        return _overrides(path, record.get("overrides") or {}, _count)
    locations = record.get("locations")
    if not isinstance(locations, list) or not locations or len(locations) > POLICY_ENTRIES:
        return f"invalid:{path}.locations"
    for i, location in enumerate(locations):
        if not _name_ok(location, banned="@:") or location in locations[:i]:
            return f"invalid:{path}.locations[{i}]"
    wrong = _rule_refusal(path, record.get("rule") or {})
    if wrong:
        return wrong
    interval = record.get("publish_interval", 2.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= 3600:
        return f"invalid:{path}.publish_interval"
    return _overrides(path, record.get("overrides") or {}, lambda rule: rule is not None and not _rule_refusal("", rule))


def _rule_refusal(path: str, rule: Mapping[str, Any]) -> str | None:
    for setting in ("buffer", "ring_fence"):
        if not _count(rule.get(setting, 0)):
            return f"invalid:{path}.{setting}"
    for setting in ("max_qty", "floor"):
        if rule.get(setting) is not None and not _count(rule[setting]):
            return f"invalid:{path}.{setting}"
    percent = rule.get("allocation_percent", 100)
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:  # NaN too
        return f"invalid:{path}.allocation_percent"
    if not isinstance(rule.get("include_incoming", False), bool):
        return f"invalid:{path}.include_incoming"
    return None


def _overrides(path: str, overrides: Mapping[str, Any], valid: Any) -> str | None:
    if len(overrides) > POLICY_ENTRIES:
        return f"invalid:{path}.overrides"
    for sku, value in overrides.items():
        if not _name_ok(sku) or not valid(value):
            return f"invalid:{path}.overrides.{sku}"
    return None


def _utf8(key: bytes | None) -> str | None:
    try:
        return key.decode() if key is not None else None
    except UnicodeDecodeError:
        return None


def _name_ok(value: Any, banned: str = "") -> bool:
    """A name as the README allows one: a non-empty string of at most MAX_NAME_LENGTH characters,
    no control characters (and none of `banned`)."""
    return (isinstance(value, str) and 0 < len(value) <= NAME_LENGTH
            and not any(ord(c) < 32 or ord(c) == 127 or c in banned for c in value))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    """A whole number of units from 0 to MAX_QTY."""
    return _whole(value) and 0 <= value <= MAX_QTY


@dataclass
class Observed:
    """What the engine shows."""

    positions: dict[str, dict[str, Any] | None] | None  # SKU@LOCATION -> GET body; None: not asked
    locations: dict[str, list[dict[str, Any]]]  # SKU@LOCATION -> its location records in log order
    channels: dict[str, dict[str, list[dict[str, Any]]]]  # channel -> SKU -> its deltas in log order
    # topic -> records that do not decode (not the engine's: poison the channel stage dead-letters)
    undecodable: dict[str, int] = field(default_factory=dict)


def read_observed(bootstrap: str, prefix: str, channels: Iterable[str], worker_port: int | None,
                  position_keys: Iterable[str]) -> Observed:
    undecodable: dict[str, int] = {}

    def decoded(topic: str, name: str) -> Iterable[dict[str, Any]]:
        for _, _, value in in_order(read_topic(bootstrap, prefix + topic)):
            record = _decode(name, value)
            if record is None:
                undecodable[topic] = undecodable.get(topic, 0) + 1
            else:
                yield record

    locations: dict[str, list[dict[str, Any]]] = {}
    for record in decoded(LOCATIONS, "LocationAvailability"):
        locations.setdefault(f"{record['sku']}@{record['location']}", []).append(record)
    deltas: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for channel in channels:
        by_sku = deltas.setdefault(channel, {})
        for delta in decoded(CHANNEL + channel, "AvailabilityDelta"):
            by_sku.setdefault(delta["sku"], []).append(delta)
    positions = None
    if worker_port is not None:
        positions = {key: position(worker_port, key) for key in sorted(set(position_keys) | set(locations))}
    return Observed(positions, locations, deltas, undecodable)


def position(port: int, key: str, retry_seconds: float = 30) -> dict[str, Any] | None:
    """GET /positions/{sku}/{location}: the body, None for 404; a 503 is retried."""
    sku, location = key.split("@", 1)
    url = f"http://127.0.0.1:{port}/positions/{quote(sku, safe='')}/{quote(location, safe='')}"
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            if err.code != 503 or time.monotonic() > deadline:
                raise AssertionError(f"GET {url}: {err.code} {err.read()[:200]!r}") from None
        time.sleep(0.2)
