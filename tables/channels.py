"""What a channel may sell of a SKU (DESIGN §4), step by step. Pure: no Kafka, no I/O.

Per SKU and channel, in this order:
1. pool = Σ over the channel's locations of location ats (+ incoming if include_incoming);
2. pool -= buffer; then pool -= Σ ring_fence of every other channel sharing a location;
3. available = floor(max(pool, 0) × allocation_percent / 100);
4. available = min(available, max_qty); available = 0 if available < floor.
`explain` returns every step with its value; `available` is its last line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from tables.policy import ChannelPolicy, ChannelRule, Policies
from tables.position import available_to_sell


@dataclass(frozen=True)
class LocationStock:
    """What the channel stage knows of one SKU at one location (from availability.locations)."""

    on_hand: int = 0
    quarantined: int = 0
    damaged: int = 0
    held: int = 0
    reserved: int = 0
    picked: int = 0
    incoming: int = 0

    def ats(self, safety_stock: int) -> int:
        return available_to_sell(self.on_hand, self.quarantined, self.damaged, self.held,
                                 self.reserved, self.picked, safety_stock)


NO_STOCK = LocationStock()


def explain(sku: str, channel: ChannelPolicy, policies: Policies,
            stock: Mapping[str, LocationStock]) -> dict[str, Any]:
    rule = channel.for_sku(sku)
    locations = []
    pool = 0
    for name in channel.locations:
        here = stock.get(name, NO_STOCK)
        safety = policies.safety_stock(name, sku)
        ats = here.ats(safety)
        counted = ats + (max(here.incoming, 0) if rule.include_incoming else 0)
        pool += counted
        locations.append({"location": name, "safety_stock": safety, "ats": ats,
                          "incoming": here.incoming, "counted": counted})
    after_buffer = pool - rule.buffer
    fences = ring_fences(sku, channel, policies.channels.values())
    after_fences = after_buffer - sum(fences.values())
    allocated = _allocate(rule, after_fences)
    capped = allocated if rule.max_qty is None else min(allocated, rule.max_qty)
    available = 0 if rule.floor is not None and capped < rule.floor else capped
    return {
        "sku": sku, "channel": channel.name, "locations": locations,
        "pool": pool, "buffer": rule.buffer, "after_buffer": after_buffer,
        "ring_fences": fences, "after_ring_fences": after_fences,
        "allocation_percent": rule.allocation_percent, "allocated": allocated,
        "max_qty": rule.max_qty, "after_max_qty": capped,
        "floor": rule.floor, "available": available,
    }


def available(sku: str, channel: ChannelPolicy, policies: Policies, stock: Mapping[str, LocationStock]) -> int:
    """explain(...)["available"], without the record of the steps: the channel stage computes
    it for every channel at every record."""
    rule = channel.for_sku(sku)
    pool = 0
    for name in channel.locations:
        here = stock.get(name, NO_STOCK)
        pool += here.ats(policies.safety_stock(name, sku))
        if rule.include_incoming:
            pool += max(here.incoming, 0)
    fenced = sum(ring_fences(sku, channel, policies.channels.values()).values())
    allocated = _allocate(rule, pool - rule.buffer - fenced)
    capped = allocated if rule.max_qty is None else min(allocated, rule.max_qty)
    return 0 if rule.floor is not None and capped < rule.floor else capped


def _allocate(rule: ChannelRule, pool: int) -> int:
    if pool <= 0:
        return 0
    if rule.allocation_percent == 100:
        return pool
    return int(pool * rule.share)  # floor: both are non-negative


def ring_fences(sku: str, channel: ChannelPolicy, channels: Iterable[ChannelPolicy]) -> dict[str, int]:
    """Units other channels sharing a location keep for themselves: hidden from this one."""
    fences = {}
    for other in channels:
        if other is channel or other.name == channel.name:
            continue
        fence = other.for_sku(sku).ring_fence
        if fence and not channel.location_set.isdisjoint(other.locations):
            fences[other.name] = fence
    return fences


def kit_available(components: Iterable[tuple[str, int]], component_available: Mapping[str, int]) -> int:
    """How many kits the components make: min over components of floor(available / qty)."""
    counts = [max(component_available.get(sku, 0), 0) // qty for sku, qty in components if qty > 0]
    return min(counts) if counts else 0
