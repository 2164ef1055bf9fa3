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
from fractions import Fraction
from typing import Any, Iterable, Mapping

from tables.policy import ChannelPolicy, Policies
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


def explain(sku: str, channel: ChannelPolicy, policies: Policies,
            stock: Mapping[str, LocationStock]) -> dict[str, Any]:
    rule = channel.for_sku(sku)
    locations = []
    pool = 0
    for name in channel.locations:
        here = stock.get(name, LocationStock())
        safety = policies.safety_stock(name, sku)
        ats = here.ats(safety)
        counted = ats + (max(here.incoming, 0) if rule.include_incoming else 0)
        pool += counted
        locations.append({"location": name, "safety_stock": safety, "ats": ats,
                          "incoming": here.incoming, "counted": counted})
    after_buffer = pool - rule.buffer
    fences = ring_fences(sku, channel, policies.channels.values())
    after_fences = after_buffer - sum(fences.values())
    percent = Fraction(str(rule.allocation_percent))
    allocated = int(max(after_fences, 0) * percent / 100)  # floor: both are non-negative
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
    return explain(sku, channel, policies, stock)["available"]


def ring_fences(sku: str, channel: ChannelPolicy, channels: Iterable[ChannelPolicy]) -> dict[str, int]:
    """Units other channels sharing a location keep for themselves: hidden from this one."""
    mine = set(channel.locations)
    return {
        other.name: other.for_sku(sku).ring_fence
        for other in channels
        if other.name != channel.name and mine & set(other.locations) and other.for_sku(sku).ring_fence
    }


def kit_available(components: Iterable[tuple[str, int]], component_available: Mapping[str, int]) -> int:
    """How many kits the components make: min over components of floor(available / qty)."""
    counts = [max(component_available.get(sku, 0), 0) // qty for sku, qty in components if qty > 0]
    return min(counts) if counts else 0
