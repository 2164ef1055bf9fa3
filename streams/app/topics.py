"""Every topic stockstream uses, by its logical name (DESIGN §2). The CLI and the app add
STOCKSTREAM_TOPIC_PREFIX; nothing else spells a topic name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from tables.events import position_key

EVENTS = "inventory.events"
LOCATIONS = "availability.locations"
CATALOG = "catalog.items"
POLICIES = "inventory.policies"
DLQ = "inventory.dlq"
DRIFT = "inventory.drift"
COMPONENTS = "availability.components"
CONTROL = "availability.control"  # internal: republish and tick markers for the channel stage
RESERVATIONS = "inventory.reservations"  # the reservation service's log, keyed client/reservation id
CHANNEL_PREFIX = "availability."  # + channel name: that channel's deltas

Record = Mapping[str, Any]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    record: str | None  # the Avro record of its values; None: raw bytes
    key: Callable[[Record], str] | None = None
    compacted: bool = False
    # None: STOCKSTREAM_PARTITIONS. GlobalTable topics keep one partition: every worker
    # reads all of it, and Faust's GlobalTable recovers reliably only so.
    partitions: int | None = None
    # Written by upstream systems (stockstream produce may write it), not by the engine.
    upstream: bool = False
    retention_ms: int | None = None  # None: the broker's default


def _by_sku(record: Record) -> str:
    return record["sku"]


def _by_position(record: Record) -> str:
    return position_key(record["sku"], record["location"])


TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec(EVENTS, "InventoryEvent", _by_position, upstream=True),
        TopicSpec(LOCATIONS, "LocationAvailability", _by_sku),
        TopicSpec(CATALOG, "Item", _by_sku, compacted=True, partitions=1, upstream=True),
        TopicSpec(POLICIES, None, compacted=True, partitions=1),
        TopicSpec(DLQ, None),
        TopicSpec(DRIFT, "DriftRecord", _by_position),
        TopicSpec(COMPONENTS, None),
        TopicSpec(CONTROL, None, retention_ms=3_600_000),  # markers matter for seconds
        TopicSpec(RESERVATIONS, None),
    )
}


def channel_topic(channel: str) -> TopicSpec:
    """availability.<channel>: compacted, keyed by SKU, so a new adapter reads the full picture."""
    return TopicSpec(CHANNEL_PREFIX + channel, "AvailabilityDelta", _by_sku, compacted=True)


def sink_dlq(name: str) -> TopicSpec:
    """sinks.<name>.dlq: what a sink's channel refused for good, with the reason."""
    return TopicSpec(f"sinks.{name}.dlq", None)


def spec(logical: str) -> TopicSpec:
    try:
        return TOPICS[logical]
    except KeyError:
        channel = logical.removeprefix(CHANNEL_PREFIX)
        if logical.startswith(CHANNEL_PREFIX) and channel and "." not in channel:
            return channel_topic(channel)
        parts = logical.split(".")
        if len(parts) == 3 and parts[0] == "sinks" and parts[1] and parts[2] == "dlq":
            return sink_dlq(parts[1])
        known = ", ".join(sorted(TOPICS)) + ", availability.<channel>, sinks.<name>.dlq"
        raise KeyError(f"unknown topic {logical!r}; stockstream's topics are: {known}") from None
