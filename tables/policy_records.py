"""Policies as records on inventory.policies (keys channel:NAME, location:NAME) and back."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any, Iterable, Mapping, Protocol

from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits
from tables.reconcile import ALERT
from tables.policy import ChannelPolicy, ChannelRule, LocationPolicy, Policies, PolicyError, parse_policies

CHANNEL_PREFIX = "channel:"
LOCATION_PREFIX = "location:"


def records(policies: Policies) -> dict[str, tuple[str, dict[str, Any]]]:
    """key -> (Avro record name, record) for every policy in force."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for channel in policies.channels.values():
        out[CHANNEL_PREFIX + channel.name] = ("ChannelPolicy", {
            "name": channel.name, "locations": list(channel.locations), "rule": asdict(channel.rule),
            "overrides": {sku: asdict(rule) for sku, rule in channel.overrides.items()},
            "publish_interval": channel.publish_interval,
        })
    for location in policies.locations.values():
        out[LOCATION_PREFIX + location.name] = ("LocationPolicy", {
            "name": location.name, "safety_stock": location.safety_stock, "overrides": dict(location.overrides),
            "reconciliation": location.reconciliation,
        })
    return out


def check_record(key: str, record: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
    """A record read from inventory.policies, checked as `policies apply` checks the file it
    came from (PolicyError names the path): another producer may have written it."""
    expected = f"{CHANNEL_PREFIX if record_type(key) == 'ChannelPolicy' else LOCATION_PREFIX}{record.get('name')}"
    if key != expected:
        raise PolicyError("(key)", f"{key!r} does not name the record's {record.get('name')!r}")
    try:
        document = to_document(from_records([(key, record)]))
    except (TypeError, KeyError, ValueError) as err:
        raise PolicyError("(record)", f"is not a policy: {type(err).__name__}: {err}") from None
    parse_policies(document, limits)


def record_type(key: str) -> str | None:
    if key.startswith(CHANNEL_PREFIX):
        return "ChannelPolicy"
    if key.startswith(LOCATION_PREFIX):
        return "LocationPolicy"
    return None


def from_records(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> Policies:
    """Policies from (key, decoded record) pairs, as read back from inventory.policies."""
    channels: dict[str, ChannelPolicy] = {}
    locations: dict[str, LocationPolicy] = {}
    for key, record in entries:
        if key.startswith(CHANNEL_PREFIX):
            channels[record["name"]] = ChannelPolicy(
                record["name"], tuple(record["locations"]), ChannelRule(**record["rule"]),
                {sku: ChannelRule(**rule) for sku, rule in record["overrides"].items()},
                record["publish_interval"],
            )
        elif key.startswith(LOCATION_PREFIX):
            locations[record["name"]] = LocationPolicy(record["name"], record["safety_stock"], dict(record["overrides"]),
                                                       record.get("reconciliation", ALERT))
    return Policies(channels=channels, locations=locations)


def to_document(policies: Policies) -> dict[str, Any]:
    """Policies as the YAML people write (`stockstream policies show`)."""
    doc: dict[str, Any] = {"locations": {}, "channels": {}}
    for location in sorted(policies.locations.values(), key=lambda p: p.name):
        entry: dict[str, Any] = {"safety_stock": location.safety_stock}
        if location.overrides:
            entry["overrides"] = dict(location.overrides)
        if location.reconciliation != ALERT:
            entry["reconciliation"] = location.reconciliation
        doc["locations"][location.name] = entry
    for channel in sorted(policies.channels.values(), key=lambda p: p.name):
        entry = {"locations": list(channel.locations), **_rule(channel.rule)}
        if channel.publish_interval != 2.0:
            entry["publish_interval"] = channel.publish_interval
        if channel.overrides:
            entry["overrides"] = {sku: _rule(rule, channel.rule) for sku, rule in channel.overrides.items()}
        doc["channels"][channel.name] = entry
    return doc


def _rule(rule: ChannelRule, base: ChannelRule = ChannelRule()) -> dict[str, Any]:
    """The fields of rule that differ from base: what the YAML needed to say."""
    return {k: v for k, v in asdict(rule).items() if v != getattr(base, k)}


class Decoder(Protocol):
    def decode(self, name: str, data: bytes) -> dict[str, Any]: ...


def decode_policies(current: Mapping[bytes, bytes], codec: Decoder) -> Policies:
    """The policies held by inventory.policies records (key -> value bytes); a record that
    does not decode is left out (the rest stay in force)."""
    entries = []
    for key, value in current.items():
        try:
            name = record_type(key.decode())
            if name:
                entries.append((key.decode(), codec.decode(name, value)))
        except ValueError:  # not UTF-8, or not the record its key names
            continue
    return from_records(entries)


def fingerprint(entries: Iterable[tuple[bytes, bytes]]) -> str:
    """The same for every reader of the same policies: sha256 of the sorted (key, value) bytes."""
    digest = hashlib.sha256()
    for key, value in sorted(entries):
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    return digest.hexdigest()
