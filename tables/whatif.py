"""What-if: what each channel would have sold from an event history, under given policies,
if it learnt its availability from stockstream or from a periodic batch sync (issue 12).
Pure: plain functions over normalized events (tables.events.normalize), no I/O.

The true stock is the engine's own model (tables.model.apply) over the history; what a channel
may sell is the engine's formula (tables.channels.available). The history is replayed per SKU
(a SKU's channels depend on that SKU alone), in file order, as the engine takes it; an event
stamped earlier than the one before it counts at that one's time.

What a channel shows:
- stockstream: the formula, recomputed after every event (the sub-second publish delay and
  the coalescing of increases, at most publish_interval, are not modelled);
- batch every N minutes: the formula as it was at the last sync (every N minutes of event
  time from the history's first event; a sync sees the events stamped at or before it), minus
  what the channel itself sold since, as a marketplace counts its own stock down. Before the
  first sync it shows 0. With N = 0 it syncs after every event: the same as stockstream.

An order is a ReserveRequested (its first copy: a repeated reservation id is a retry). The
channel accepts it when it shows at least its qty; an accepted order is filled from the
channel's locations, its own location first, reserving what is free at each (the model
decides at every one). It is oversold when those locations have fewer free units than its
qty: nothing is reserved and what follows it in the history (picks, shipments, releases and
expiry naming it) never happens, as for an order the channel did not accept. Free units at a
location: on_hand - quarantined - damaged - held - reserved - picked, at least 0 (neither
safety stock nor buffers: an order that uses them is not oversold). A channel that counts
incoming stock (include_incoming) shows units that are not free yet: an order it takes on
them is oversold. A shipment that names no order is stock leaving, not demand, and is applied
as it happened.

Per channel, summed over SKUs, from the history's first event to its last:
- orders, accepted, oversold: counts of orders as above;
- units exposed: the time integral of (shown - free units at the channel's locations) while
  positive, in unit-hours: 3 units shown that are not there, for 20 minutes, are 1 unit-hour;
- time at zero: SKU-hours the channel showed 0; with stock: the part of it while its
  locations had free units (sales the channel could not take).
Orders from a channel the policies do not name, and what follows them, are applied as they
happened (the model decides), and counted apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping

from tables.channels import LocationStock, available
from tables.model import DUPLICATE, Outcome, apply, follow_ups
from tables.policy import ChannelPolicy, Policies
from tables.position import Position, Reservation

Event = Mapping[str, Any]
HOUR_MS = 3_600_000

FOLLOWERS = frozenset(("PickConfirmed", "ShipmentPosted", "ReservationReleased", "ReservationExpired"))
# What each follower with a quantity takes of what an order holds at a location (an expiry,
# or a release without one, takes all of it).
TAKES = {
    "PickConfirmed": lambda held: held.unpicked,
    "ShipmentPosted": lambda held: held.unpicked + held.picked,
    "ReservationReleased": lambda held: held.unpicked,
}


@dataclass(slots=True)
class Tally:
    """One channel under one way of syncing; times in milliseconds."""

    orders: int = 0
    accepted: int = 0
    oversold: int = 0
    exposed_unit_ms: int = 0
    at_zero_ms: int = 0
    at_zero_with_stock_ms: int = 0

    def add(self, other: Tally) -> None:
        for name in TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def view(self) -> dict[str, Any]:
        return {
            "orders": self.orders, "accepted": self.accepted, "oversold": self.oversold,
            "units_exposed_unit_hours": round(self.exposed_unit_ms / HOUR_MS, 2),
            "time_at_zero_sku_hours": round(self.at_zero_ms / HOUR_MS, 2),
            "time_at_zero_with_stock_sku_hours": round(self.at_zero_with_stock_ms / HOUR_MS, 2),
        }


TALLY_FIELDS = tuple(f.name for f in fields(Tally))


@dataclass(slots=True)
class Totals:
    """A history's tallies per channel for one way of syncing, and the orders of channels
    without a policy."""

    channels: dict[str, Tally]
    unlisted_orders: Counter[str]


def by_sku(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Each SKU's events in history order."""
    histories: dict[str, list[Event]] = {}
    for event in events:
        histories.setdefault(event["sku"], []).append(event)
    return histories


def replay(histories: Iterable[list[Event]], policies: Policies, sync_ms: int, start: int, end: int) -> Totals:
    """sync_ms: 0 for stockstream, the batch interval otherwise. start, end: the history's
    first and last event times (epoch ms), the span every SKU is measured over."""
    totals = Totals({name: Tally() for name in policies.channels}, Counter())
    for history in histories:
        shelf = replay_sku(history, policies, sync_ms, start, end)
        for name, tally in shelf.tallies.items():
            totals.channels[name].add(tally)
        totals.unlisted_orders.update(shelf.unlisted_orders)
    return totals


def replay_sku(history: list[Event], policies: Policies, sync_ms: int, start: int, end: int) -> Shelf:
    shelf = Shelf(history[0]["sku"], policies, start)
    next_sync = start
    for event in history:
        at = event["occurred_at"]
        if sync_ms and next_sync < at:
            shelf.elapse(next_sync)
            shelf.sync()
            # Syncs before the next event would show the same again: on to the first at or after it.
            next_sync = start - (start - at) // sync_ms * sync_ms
        shelf.elapse(at)
        shelf.take(event)
        if not sync_ms:
            shelf.sync()
    if sync_ms and next_sync < end:
        shelf.elapse(next_sync)
        shelf.sync()
    shelf.elapse(end)
    return shelf


class Shelf:
    """One SKU: its true positions and what each channel shows of it, and the tallies."""

    def __init__(self, sku: str, policies: Policies, start: int) -> None:
        self.sku = sku
        self.policies = policies
        self.now = start
        self.positions: dict[str, Position] = {}
        self.shown = dict.fromkeys(policies.channels, 0)
        self.tallies = {name: Tally() for name in policies.channels}
        self.unlisted_orders: Counter[str] = Counter()
        # An order of a channel with a policy -> the locations holding it ([]: none, it was not taken)
        self.holders: dict[str, list[str]] = {}
        self.seen: set[str] = set()  # event ids: a retry changes nothing
        self.transfers = 0  # stands in for a transfer's origin offset (tables.replay does the same)
        self._formula: dict[str, int] | None = None  # what each channel may sell now; None: to compute
        self._free: dict[str, int] | None = None

    def formula(self) -> dict[str, int]:
        if self._formula is None:
            stock = {name: LocationStock(p.on_hand, p.quarantined, p.damaged, p.held, p.reserved, p.picked,
                                         p.incoming) for name, p in self.positions.items()}
            self._formula = {name: available(self.sku, channel, self.policies, stock)
                             for name, channel in self.policies.channels.items()}
        return self._formula

    def free(self) -> dict[str, int]:
        """Free units at each channel's locations (positions keep no safety stock here: ats is free)."""
        if self._free is None:
            self._free = {name: sum(self.positions[loc].ats for loc in channel.locations if loc in self.positions)
                          for name, channel in self.policies.channels.items()}
        return self._free

    def sync(self) -> None:
        self.shown.update(self.formula())

    def elapse(self, until: int) -> None:
        span = until - self.now
        if span <= 0:  # an event stamped before the one before it counts at that one's time
            return
        free = self.free()
        for name, tally in self.tallies.items():
            shown, there = self.shown[name], free[name]
            if shown > there:
                tally.exposed_unit_ms += (shown - there) * span
            if shown == 0:
                tally.at_zero_ms += span
                if there > 0:
                    tally.at_zero_with_stock_ms += span
        self.now = until

    def take(self, event: Event) -> None:
        if event["event_id"] in self.seen:
            return
        self.seen.add(event["event_id"])
        if event["type"] == "ReserveRequested":
            self._order(event)
        elif event["type"] in FOLLOWERS and event.get("reservation_id") in self.holders:
            self._follow(event)
        else:
            self._apply(event)

    def _order(self, event: Event) -> None:
        rid, qty = event["reservation_id"], event["qty"]
        if rid in self.holders:
            return  # a retry: the first request decided
        channel = self.policies.channels.get(event["channel"])
        if channel is None:  # as it happened, and so is what follows it
            if self._apply(event).status != DUPLICATE:
                self.unlisted_orders[event["channel"]] += 1
            return
        tally = self.tallies[channel.name]
        tally.orders += 1
        self.holders[rid] = []
        if self.shown[channel.name] < qty:
            return  # not offered: the order is not placed
        tally.accepted += 1
        self.shown[channel.name] -= qty  # the channel counts its own sales down until it syncs
        if self.free()[channel.name] < qty:
            tally.oversold += 1
            return
        self.holders[rid] = self._fill(event, channel)

    def _fill(self, event: Event, channel: ChannelPolicy) -> list[str]:
        own = event["location"]
        order = [own] if own in channel.location_set else []
        order += [loc for loc in channel.locations if loc != own]
        left, holders = event["qty"], []
        for location in order:
            take = min(left, self._position(location).ats)
            if take > 0:
                self._apply({**event, "location": location, "qty": take})
                holders.append(location)
                left -= take
        return holders

    def _follow(self, event: Event) -> None:
        holders = self.holders[event["reservation_id"]]
        if holders == [event["location"]]:
            self._apply(event)
        elif event["type"] not in TAKES or event.get("qty") is None:  # all it holds, wherever it is
            for location in holders:
                self._apply({**event, "location": location})
        elif holders:
            for location, qty in self._shares(event, holders).items():
                self._apply({**event, "location": location, "qty": qty})

    def _shares(self, event: Event, holders: list[str]) -> dict[str, int]:
        """An order filled elsewhere than the history says: its picks, shipments and releases
        go where its units are; more than it holds goes to its last location, where the model
        clamps and flags it as it would have."""
        units_held = TAKES[event["type"]]
        shares: dict[str, int] = {}
        left = event["qty"]
        for location in holders:
            held: Reservation | None = self.positions[location].reservations.get(event["reservation_id"])
            take = min(left, units_held(held)) if held else 0
            if take > 0:
                shares[location] = take
                left -= take
        if left:
            shares[holders[-1]] = shares.get(holders[-1], 0) + left
        return shares

    def _apply(self, event: Event) -> Outcome:
        """Apply one event to its position, and a transfer's inbound half to its destination."""
        _, outcome = apply(self._position(event["location"]), event)
        if outcome.changed:
            self._formula = self._free = None
        self.transfers += 1
        for inbound in follow_ups(event, self.transfers):
            self._apply(inbound)
        return outcome

    def _position(self, location: str) -> Position:
        if location not in self.positions:
            self.positions[location] = Position(self.sku, location)
        return self.positions[location]
