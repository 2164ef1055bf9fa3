"""Channel and location policies (DESIGN §4): parsing and checking the YAML people write.

`parse_policies(document)` returns Policies or raises PolicyError naming the path of the first
wrong field (`channels.amazon.allocation_percent: must be a number from 0 to 100, got 150`).
Pure: no Kafka, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import cached_property
from typing import Any, Mapping

from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits
from tables.reconcile import ALERT, MODES

DEFAULT_INTERVAL = 2.0  # seconds an increase waits, so a busy SKU cannot flood a marketplace


class PolicyError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class ChannelRule:
    """The numbers a channel applies to one SKU (its defaults, or a SKU's override)."""

    buffer: int = 0
    allocation_percent: float = 100
    max_qty: int | None = None
    floor: int | None = None
    include_incoming: bool = False
    ring_fence: int = 0

    @cached_property
    def share(self) -> Fraction:
        """allocation_percent as an exact fraction of one (0.1 is not a binary float)."""
        return Fraction(str(self.allocation_percent)) / 100


@dataclass(frozen=True)
class ChannelPolicy:
    name: str
    locations: tuple[str, ...]
    rule: ChannelRule = ChannelRule()
    overrides: Mapping[str, ChannelRule] = field(default_factory=dict)
    publish_interval: float = DEFAULT_INTERVAL

    def for_sku(self, sku: str) -> ChannelRule:
        return self.overrides.get(sku, self.rule)

    @cached_property
    def location_set(self) -> frozenset[str]:
        return frozenset(self.locations)


@dataclass(frozen=True)
class LocationPolicy:
    name: str
    safety_stock: int = 0
    overrides: Mapping[str, int] = field(default_factory=dict)
    # What a Snapshot's drift does here (tables/reconcile.py): alert, or auto_correct.
    reconciliation: str = ALERT

    def safety_stock_for(self, sku: str) -> int:
        return self.overrides.get(sku, self.safety_stock)


@dataclass(frozen=True)
class Policies:
    channels: Mapping[str, ChannelPolicy] = field(default_factory=dict)
    locations: Mapping[str, LocationPolicy] = field(default_factory=dict)

    def safety_stock(self, location: str, sku: str) -> int:
        policy = self.locations.get(location)
        return policy.safety_stock_for(sku) if policy else 0

    def reconciliation(self, location: str) -> str:
        policy = self.locations.get(location)
        return policy.reconciliation if policy else ALERT


RULE_FIELDS = {f.name for f in fields(ChannelRule)}
CHANNEL_FIELDS = RULE_FIELDS | {"locations", "overrides", "publish_interval"}
LOCATION_FIELDS = {"safety_stock", "overrides", "reconciliation"}


def parse_policies(document: Any, limits: Limits = DEFAULT_LIMITS) -> Policies:
    if document is None:
        document = {}
    _mapping("(document)", document)
    _known("(document)", document, {"channels", "locations"})
    channels = {
        name: parse_channel(name, spec, f"channels.{name}", limits)
        for name, spec in _section(document, "channels", "channels").items()
    }
    locations = {
        name: parse_location(name, spec, f"locations.{name}", limits)
        for name, spec in _section(document, "locations", "locations").items()
    }
    return Policies(channels=channels, locations=locations)


RESERVED_CHANNEL_NAMES = frozenset(("locations", "components", "control"))  # availability.<name> is taken


def parse_channel(name: str, spec: Any, path: str, limits: Limits = DEFAULT_LIMITS) -> ChannelPolicy:
    _name(path, name, limits)
    if name in RESERVED_CHANNEL_NAMES or "." in name:
        raise PolicyError(path, f"{name!r} cannot name a channel: its topic would be availability.{name}")
    _mapping(path, spec)
    _known(path, spec, CHANNEL_FIELDS)
    if "locations" not in spec:
        raise PolicyError(f"{path}.locations", "is required: the location group that feeds this channel")
    locations = spec["locations"]
    if not isinstance(locations, list) or not locations:
        raise PolicyError(f"{path}.locations", f"must be a non-empty list of locations, got {locations!r}")
    _entries(f"{path}.locations", locations, limits)
    for i, location in enumerate(locations):
        _name(f"{path}.locations[{i}]", location, limits)
        if location in locations[:i]:
            raise PolicyError(f"{path}.locations[{i}]", f"{location} is already in the group; it would count twice")
    rule = _rule(spec, path, ChannelRule(), limits)
    overrides_spec = _entries(f"{path}.overrides", _section(spec, "overrides", f"{path}.overrides"), limits)
    overrides = {
        _name(f"{path}.overrides.{sku}", sku, limits, sku=True):
            _rule(_known(f"{path}.overrides.{sku}", _mapping(f"{path}.overrides.{sku}", over), RULE_FIELDS),
                  f"{path}.overrides.{sku}", rule, limits)
        for sku, over in overrides_spec.items()
    }
    interval = spec.get("publish_interval", DEFAULT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= 3600:
        raise PolicyError(f"{path}.publish_interval", f"must be seconds, more than 0 and at most 3600, got {interval!r}")
    return ChannelPolicy(name, tuple(locations), rule, overrides, float(interval))


def parse_location(name: str, spec: Any, path: str, limits: Limits = DEFAULT_LIMITS) -> LocationPolicy:
    _name(path, name, limits)
    _mapping(path, spec)
    _known(path, spec, LOCATION_FIELDS)
    safety = _count(f"{path}.safety_stock", spec.get("safety_stock", 0), limits)
    overrides = {
        _name(f"{path}.overrides.{sku}", sku, limits, sku=True): _count(f"{path}.overrides.{sku}", value, limits)
        for sku, value in _entries(f"{path}.overrides", _section(spec, "overrides", f"{path}.overrides"),
                                   limits).items()
    }
    mode = spec.get("reconciliation", ALERT)
    if mode not in MODES:
        raise PolicyError(f"{path}.reconciliation", f"must be one of {', '.join(MODES)}, got {mode!r}")
    return LocationPolicy(name, safety, overrides, mode)


def _rule(spec: Mapping[str, Any], path: str, base: ChannelRule, limits: Limits) -> ChannelRule:
    changes: dict[str, Any] = {}
    for name in ("buffer", "ring_fence"):
        if name in spec:
            changes[name] = _count(f"{path}.{name}", spec[name], limits)
    for name in ("max_qty", "floor"):
        if name in spec:
            changes[name] = None if spec[name] is None else _count(f"{path}.{name}", spec[name], limits)
    if "allocation_percent" in spec:
        value = spec["allocation_percent"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise PolicyError(f"{path}.allocation_percent", f"must be a number from 0 to 100, got {value!r}")
        changes["allocation_percent"] = value
    if "include_incoming" in spec:
        if not isinstance(spec["include_incoming"], bool):
            raise PolicyError(f"{path}.include_incoming", f"must be true or false, got {spec['include_incoming']!r}")
        changes["include_incoming"] = spec["include_incoming"]
    return replace(base, **changes)


def _entries(path: str, value: Any, limits: Limits) -> Any:
    if len(value) > limits.policy_entries:
        raise PolicyError(path, f"has {len(value)} entries, at most {limits.policy_entries} are allowed")
    return value


def _section(spec: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
    """An optional mapping: absent or empty (None in YAML) is nothing; anything else must map."""
    value = spec.get(name)
    return {} if value is None else _mapping(path, value)


def _mapping(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(path, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise PolicyError(path, f"keys must be names, got {key!r}")
    return value


def _known(path: str, spec: Mapping[str, Any], allowed: set[str]) -> Mapping[str, Any]:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise PolicyError(f"{path}.{unknown[0]}", f"is not a field here (expected one of {', '.join(sorted(allowed))})")
    return spec


def _count(path: str, value: Any, limits: Limits = DEFAULT_LIMITS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limits.qty:
        raise PolicyError(path, f"must be a whole number of units from 0 to {limits.qty}, got {value!r}")
    return value


def _name(path: str, value: Any, limits: Limits = DEFAULT_LIMITS, sku: bool = False) -> str:
    """A location or channel name (no '@' or ':'), or a SKU (sku=True: '@' allowed)."""
    banned = ("",) if sku else ("@", ":")
    if (not isinstance(value, str) or not value or any(c in value for c in banned if c)
            or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        kind = "a SKU" if sku else "a name without '@' or ':'"
        raise PolicyError(path, f"must be {kind} and no control characters, got {value!r}")
    if len(value) > limits.name_length:
        raise PolicyError(path, f"is {len(value)} characters long, at most {limits.name_length} are allowed")
    return value
