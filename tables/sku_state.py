"""One SKU as the channel stage keeps it: its stock per location, its components' availability
(for a kit), and what each channel was last shown. One record per SKU, so a new input and
the deltas it causes are one changelog write. Pure: no Kafka, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

from tables import channels
from tables.channels import LocationStock
from tables.events import epoch_ms
from tables.policy import Policies
from tables.position import BUCKETS
from tables.publishing import Cause, ChannelOutput, Delta, decide, flush


@dataclass(slots=True)
class SkuState:
    sku: str
    # location -> the last LocationAvailability applied (buckets, version, event_id, ...)
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # component sku -> channel -> what that channel may sell of it (kits only)
    components: dict[str, dict[str, int]] = field(default_factory=dict)
    outputs: dict[str, ChannelOutput] = field(default_factory=dict)
    # Offsets of the last availability.components and availability.control records that
    # changed this state: one at or below them again is a redelivery after a crash, whose
    # deltas may never have been sent.
    component_offset: int | None = None
    control_offset: int | None = None

    def stock(self) -> dict[str, LocationStock]:
        return {loc: LocationStock(**{b: rec.get(b, 0) for b in BUCKETS}) for loc, rec in self.locations.items()}

    def next_due(self) -> int | None:
        """When the first pending increase goes out (epoch ms), None with nothing pending."""
        return min((out.due for out in self.outputs.values() if out.pending is not None and out.due is not None),
                   default=None)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SkuState:
        data = orjson.loads(raw)
        data["outputs"] = {name: ChannelOutput(**out) for name, out in data["outputs"].items()}
        return cls(**data)


def apply_location(state: SkuState, record: Mapping[str, Any]) -> bool:
    """Take a LocationAvailability; False for one not newer than what we hold (a repeat)."""
    held = state.locations.get(record["location"])
    if held is not None and held["version"] >= record["version"]:
        return False
    state.locations[record["location"]] = {
        **{b: record[b] for b in BUCKETS}, "version": record["version"], "event_id": record["event_id"],
        "correlation_id": record.get("correlation_id"), "occurred_at": epoch_ms(record["occurred_at"]),
    }
    return True


def cause_in(record: Mapping[str, Any]) -> Cause:
    """The change a LocationAvailability reports, as the cause of the deltas it brings."""
    return Cause(record["event_id"], record.get("correlation_id"), epoch_ms(record["occurred_at"]),
                 epoch_ms(record.get("ingested_at")))


def targets(state: SkuState, policies: Policies, kit: list[tuple[str, int]] | None) -> dict[str, int]:
    """What every channel may sell now: the formula for stock, the components' minimum for a kit."""
    stock = state.stock()
    out = {}
    for name, channel in policies.channels.items():
        if kit:
            out[name] = channels.kit_available(kit, {c: v.get(name, 0) for c, v in state.components.items()})
        else:
            out[name] = channels.available(state.sku, channel, policies, stock)
    return out


def recompute(state: SkuState, policies: Policies, kit: list[tuple[str, int]] | None,
              now_ms: int, cause: Cause) -> tuple[dict[str, int], list[Delta]]:
    """Every channel's target and the deltas to publish now (decreases, first values)."""
    values = targets(state, policies, kit)
    deltas = []
    for name, value in values.items():
        out = state.outputs.setdefault(name, ChannelOutput())
        interval_ms = int(policies.channels[name].publish_interval * 1000)
        delta = decide(out, name, value, now_ms, interval_ms, cause)
        if delta:
            deltas.append(delta)
    return values, deltas


def due(state: SkuState, now_ms: int) -> list[Delta]:
    """The pending increases whose time has come."""
    return [d for name, out in state.outputs.items() if (d := flush(out, name, now_ms))]


def current(state: SkuState) -> list[Delta]:
    """What every channel shows now, as the deltas that last said it (to send again): after a
    crash the last one may never have reached Kafka, and if it was a decrease the channel
    would go on showing more than there is."""
    return [
        Delta(name, out.published, out.previous, out.version, out.event_id, out.correlation_id)
        for name, out in state.outputs.items() if out.published is not None
    ]


def cause_of(state: SkuState) -> Cause:
    """The last event behind this SKU's stock, for deltas a policy change causes."""
    if not state.locations:
        return Cause(None, None)
    latest = max(state.locations.values(), key=lambda rec: rec["occurred_at"])
    return Cause(latest["event_id"], latest.get("correlation_id"))  # untimed: the policy made the change
