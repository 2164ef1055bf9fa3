"""What the verifier reads: a deployment's topics from the beginning (confluent-kafka, Avro
through the wire codec) and its positions over HTTP. No engine model code: topic names are
spelt here, records are the decoded Avro dicts."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
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
    catalog: dict[str, dict[str, Any]] = {}
    for _, key, value in in_order(read_topic(bootstrap, prefix + CATALOG)):
        item = _decode("Item", value)
        if value is None and key is not None:
            catalog.pop(key.decode(errors="replace"), None)
        elif item is not None:  # the engine refuses what does not decode, the value before stays
            catalog[item["sku"]] = item
    return LogInput(events, catalog, read_policies(bootstrap, prefix))


def read_policies(bootstrap: str, prefix: str) -> channels_reference.Policies:
    entries = []
    for _, key, value in in_order(read_topic(bootstrap, prefix + POLICIES)):
        name = key.decode(errors="replace") if key else ""
        record_name = next((r for k, r in POLICY_RECORDS.items() if name.startswith(k)), None)
        record = _decode(record_name, value) if record_name else None
        if record_name and (value is None or record is not None):
            entries.append((name, record))
    return channels_reference.from_records(entries)


@dataclass
class Observed:
    """What the engine shows."""

    positions: dict[str, dict[str, Any] | None] | None  # SKU@LOCATION -> GET body; None: not asked
    locations: dict[str, list[dict[str, Any]]]  # SKU@LOCATION -> its location records in log order
    channels: dict[str, dict[str, list[dict[str, Any]]]]  # channel -> SKU -> its deltas in log order


def read_observed(bootstrap: str, prefix: str, channels: Iterable[str], worker_port: int | None,
                  position_keys: Iterable[str]) -> Observed:
    locations: dict[str, list[dict[str, Any]]] = {}
    for _, _, value in in_order(read_topic(bootstrap, prefix + LOCATIONS)):
        record = cli_codec().decode("LocationAvailability", value)
        locations.setdefault(f"{record['sku']}@{record['location']}", []).append(record)
    deltas: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for channel in channels:
        by_sku = deltas.setdefault(channel, {})
        for _, _, value in in_order(read_topic(bootstrap, prefix + CHANNEL + channel)):
            delta = cli_codec().decode("AvailabilityDelta", value)
            by_sku.setdefault(delta["sku"], []).append(delta)
    positions = None
    if worker_port is not None:
        positions = {key: position(worker_port, key) for key in sorted(set(position_keys) | set(locations))}
    return Observed(positions, locations, deltas)


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
