"""DESIGN §4 written again for the verifier, from the design text and the README's "Channels"
alone (not from tables/channels.py or tables/policy.py), so a formula bug the engine's own
tests share cannot pass the fault suite.

Readings of the text this reference commits to:
- A location's ats is §3's: max(0, on_hand - quarantined - damaged - held - reserved - picked
  - safety_stock), the safety stock the location's policy gives the SKU (its override, else
  the location's number, else 0). A location without a position counts 0.
- include_incoming adds the location's incoming after that clamp (incoming is not sellable
  stock, so safety stock is not taken from it).
- "every other channel sharing a location with it": a channel whose location group has at
  least one location in common; its ring fence for this SKU (its per-SKU override first).
- "floor(max(pool, 0) × allocation_percent / 100)" exactly: the percent is taken as the decimal
  the policy wrote (32.3 % of 1000 is 323, not float arithmetic's 322.99…).
- max_qty and floor are optional; "0 if available < floor", so a value equal to the floor shows.
- A kit shows, per channel, min over its components of floor(component available / qty),
  negative component values as 0; a kit of kits uses the inner kit's own value. A kit's own
  positions, if any, do not count.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable, Mapping

CHANNEL_KEY = "channel:"
LOCATION_KEY = "location:"
UNSELLABLE = ("quarantined", "damaged", "held", "reserved", "picked")


@dataclass(frozen=True)
class Rule:
    buffer: int = 0
    allocation_percent: float = 100.0
    max_qty: int | None = None
    floor: int | None = None
    include_incoming: bool = False
    ring_fence: int = 0


RULE_FIELDS = tuple(f.name for f in fields(Rule))


@dataclass(frozen=True)
class Channel:
    name: str
    locations: tuple[str, ...]
    rule: Rule = Rule()
    overrides: Mapping[str, Rule] = field(default_factory=dict)  # per SKU, merged over rule

    def rule_for(self, sku: str) -> Rule:
        return self.overrides.get(sku, self.rule)


@dataclass(frozen=True)
class Location:
    safety_stock: int = 0
    overrides: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Policies:
    channels: Mapping[str, Channel] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict)

    def safety_stock(self, location: str, sku: str) -> int:
        policy = self.locations.get(location)
        if policy is None:
            return 0
        return policy.overrides.get(sku, policy.safety_stock)


def from_document(document: Mapping[str, Any]) -> Policies:
    """Policies as the YAML of DESIGN §4 writes them: a per-SKU override replaces only the
    fields it names."""
    channels = {}
    for name, spec in (document.get("channels") or {}).items():
        rule = Rule(**{k: v for k, v in spec.items() if k in RULE_FIELDS})
        overrides = {sku: replace(rule, **over) for sku, over in (spec.get("overrides") or {}).items()}
        channels[name] = Channel(name, tuple(spec["locations"]), rule, overrides)
    locations = {name: Location(spec.get("safety_stock", 0), dict(spec.get("overrides") or {}))
                 for name, spec in (document.get("locations") or {}).items()}
    return Policies(channels, locations)


def from_records(entries: Iterable[tuple[str, Mapping[str, Any] | None]]) -> Policies:
    """Policies from inventory.policies, (key, decoded ChannelPolicy or LocationPolicy) in log
    order: the last record of a key wins, a tombstone (None) removes it. Overrides on the topic
    are already merged over the channel's rule (ChannelPolicy.avsc)."""
    current: dict[str, Mapping[str, Any]] = {}
    for key, record in entries:
        if record is None:
            current.pop(key, None)
        else:
            current[key] = record
    channels, locations = {}, {}
    for key, record in current.items():
        if key.startswith(CHANNEL_KEY):
            overrides = {sku: Rule(**rule) for sku, rule in record["overrides"].items()}
            channels[record["name"]] = Channel(record["name"], tuple(record["locations"]), Rule(**record["rule"]),
                                               overrides)
        elif key.startswith(LOCATION_KEY):
            locations[record["name"]] = Location(record["safety_stock"], dict(record["overrides"]))
    return Policies(channels, locations)


def location_ats(figures: Mapping[str, int] | None, safety_stock: int) -> int:
    if figures is None:
        return 0
    return max(0, figures["on_hand"] - sum(figures[b] for b in UNSELLABLE) - safety_stock)


def available(sku: str, channel: Channel, policies: Policies, stock: Mapping[str, Mapping[str, int]]) -> int:
    """stock: location -> that position's buckets (on_hand, ..., incoming)."""
    rule = channel.rule_for(sku)
    pool = 0
    for location in channel.locations:
        figures = stock.get(location)
        pool += location_ats(figures, policies.safety_stock(location, sku))
        if rule.include_incoming and figures is not None:
            pool += figures["incoming"]
    pool -= rule.buffer
    pool -= sum(other.rule_for(sku).ring_fence for other in policies.channels.values()
                if other.name != channel.name and set(other.locations) & set(channel.locations))
    value = int(Fraction(max(pool, 0)) * Fraction(Decimal(repr(rule.allocation_percent))) // 100)
    if rule.max_qty is not None:
        value = min(value, rule.max_qty)
    if rule.floor is not None and value < rule.floor:
        return 0
    return value


def kit_available(components: Iterable[tuple[str, int]], values: Mapping[str, int]) -> int:
    parts = list(components)
    if not parts:
        return 0
    return min(max(values.get(sku, 0), 0) // qty for sku, qty in parts)


def channel_values(sku: str, policies: Policies, catalog: Mapping[str, Mapping[str, Any]],
                   stock_of: Mapping[str, Mapping[str, Mapping[str, int]]],
                   inside: frozenset[str] = frozenset()) -> dict[str, int]:
    """What every channel may sell of sku. stock_of: sku -> location -> buckets. inside: the
    kits being computed around this one: a kit containing itself (a catalog record the engine
    refuses) shows 0 here instead of recursing for ever."""
    if sku in inside:
        return dict.fromkeys(policies.channels, 0)
    components = [(c["sku"], c["qty"]) for c in (catalog.get(sku) or {}).get("components") or ()]
    if components:
        parts = {part: channel_values(part, policies, catalog, stock_of, inside | {sku}) for part, _ in components}
        return {name: kit_available(components, {part: values[name] for part, values in parts.items()})
                for name in policies.channels}
    stock = stock_of.get(sku, {})
    return {name: available(sku, channel, policies, stock) for name, channel in policies.channels.items()}
