"""A generated day of a distributor's inventory events, for the business case (issue 12 point
7, bench/business_case.py): SKUs x 3 locations, 4 channels, seeded.

The day starts with a count of every position; then, as it goes:
- orders from web, amazon, edi and b2b, of SKUs picked by a skewed (Zipf-like) popularity,
  at the hours each channel buys (edi in bursts, as partners' purchase orders arrive), each
  followed by a pick and a shipment, or a cancellation, or (web) the expiry of an abandoned
  cart. They are demand: what a customer asked for, whether or not the stock was there, so a
  what-if can decide which would have been taken;
- purchase receipts mid-day, mostly for the SKUs that run short (some still sell out);
- returns received into quarantine, released after inspection, a few found damaged or scrapped;
- transfers from DC1 to DC2 or DC3, received hours later;
- counts correcting shrink. A mid-day count is posted as its variance (an Adjustment), as a
  WMS does: an absolute CycleCount would also undo, in a what-if, the orders that the
  simulated policies took differently from the history.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any

DAY_START = datetime(2026, 11, 25, tzinfo=timezone.utc)
DAY_MS = 24 * 3_600_000
MINUTE_MS = 60_000
LOCATIONS = ("DC1", "DC2", "DC3")
OPENING_SPLIT = (0.6, 0.3, 0.1)  # of a SKU's stock, by location
ORDERS_PER_SKU = 8  # order lines a day, on average

# The policies the business case tries: what `stockstream policies apply` would take.
POLICIES: dict[str, Any] = {
    "locations": {
        "DC1": {"safety_stock": 1},
        "DC2": {"safety_stock": 1},
        "DC3": {"safety_stock": 0},
    },
    "channels": {
        "web": {"locations": ["DC1", "DC2"]},
        "amazon": {"locations": ["DC1", "DC2"], "buffer": 1, "allocation_percent": 80, "max_qty": 100, "floor": 2},
        "edi": {"locations": ["DC1", "DC3"], "allocation_percent": 60},
        "b2b": {"locations": ["DC1", "DC2", "DC3"], "ring_fence": 2},
    },
}


class Channel:
    def __init__(self, name: str, share: float, hours: list[float], ships_from: dict[str, float],
                 quantities: list[tuple[int, float]]) -> None:
        self.name, self.share = name, share
        self.hours = list(accumulate(hours))  # cumulative weight of each hour of the day
        self.ships_from = ships_from
        self.quantities = quantities


QUIET, BUSY = [0.3] * 7, [1.0] * 10
CHANNELS = (
    # web and amazon buy around the clock and most in the evening; qty mostly 1
    Channel("web", 0.45, QUIET + BUSY + [1.6] * 5 + [0.8] * 2, {"DC1": 0.6, "DC2": 0.4},
            [(1, 0.7), (2, 0.2), (3, 0.07), (4, 0.03)]),
    Channel("amazon", 0.35, QUIET + BUSY + [1.4] * 5 + [0.8] * 2, {"DC1": 0.5, "DC2": 0.5},
            [(1, 0.75), (2, 0.18), (3, 0.05), (5, 0.02)]),
    # partners buy in cases, in business hours
    Channel("edi", 0.10, [0] * 8 + [1] * 9 + [0] * 7, {"DC3": 0.7, "DC1": 0.3},
            [(6, 0.4), (12, 0.3), (24, 0.2), (48, 0.1)]),
    Channel("b2b", 0.10, [0] * 7 + [1] * 11 + [0] * 6, {"DC1": 1.0},
            [(2, 0.3), (4, 0.3), (6, 0.2), (12, 0.15), (24, 0.05)]),
)
EDI_BURSTS = (6, 10, 14)  # hours at which partners' purchase orders arrive


def day(skus: int, seed: int = 1) -> list[dict[str, Any]]:
    """The day's events, in time order (stable: the same seed, the same list)."""
    rng = random.Random(seed)
    names = [f"SKU-{i:05d}" for i in range(skus)]
    ranks = list(range(skus))
    rng.shuffle(ranks)  # popularity is not the SKU number
    popularity = [1 / (rank + 1) ** 0.8 for rank in ranks]
    total = sum(popularity)
    cumulative = list(accumulate(popularity))  # once: rng.choices would add them up at every call
    mean_units = sum(c.share * sum(q * w for q, w in c.quantities) for c in CHANNELS)
    out = _Events()
    for sku, rank, weight in zip(names, ranks, popularity):
        expected_units = ORDERS_PER_SKU * skus * weight / total * mean_units
        short = rng.random() < (0.2 if rank < skus * 0.05 else 0.03)  # best sellers run out most
        _stock(rng, out, sku, expected_units, short)
    for _ in range(ORDERS_PER_SKU * skus):
        channel = rng.choices(CHANNELS, weights=[c.share for c in CHANNELS])[0]
        sku = rng.choices(names, cum_weights=cumulative)[0]
        _order(rng, out, channel, sku)
    for _ in range(skus // 5):
        _return(rng, out, rng.choices(names, cum_weights=cumulative)[0])
    return out.sorted()


class _Events:
    def __init__(self) -> None:
        self.events: list[tuple[int, int, dict[str, Any]]] = []

    def add(self, at: int, sku: str, location: str, kind: str, source: str, **fields: Any) -> None:
        n = len(self.events)
        event = {"event_id": f"d-{n}", "type": kind, "sku": sku, "location": location, "source": source,
                 "occurred_at": _iso(at), **fields}
        self.events.append((at, n, event))

    def sorted(self) -> list[dict[str, Any]]:
        return [event for _, _, event in sorted(self.events, key=lambda e: (e[0], e[1]))]


def _iso(ms: int) -> str:
    return (DAY_START + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stock(rng: random.Random, out: _Events, sku: str, expected_units: float, short: bool) -> None:
    """Opening counts, and what the day brings besides orders: receipts, transfers, shrink.
    short: less than a day of stock, it sells out unless its purchase order comes in time."""
    if short:
        cover, lot, restocked = rng.uniform(0.3, 0.8), 0, rng.random() < 0.5
    else:  # days of demand on hand: median 1.5, a tenth under 0.8; slow movers by the case all the same
        cover, lot = rng.lognormvariate(0.4, 0.5), rng.choice((6, 12))
        restocked = rng.random() < (0.5 if cover < 1 else 0.05)
    opening = [round((expected_units * cover + lot) * split) for split in OPENING_SPLIT]
    for location, qty in zip(LOCATIONS, opening):
        out.add(0, sku, location, "CycleCount", "wms", qty=qty, source_seq=1)
    if restocked:
        out.add(_between(rng, 9, 17), sku, "DC1", "Receipt", "erp", qty=max(6, round(expected_units * rng.uniform(0.5, 2))))
    if opening[0] >= 20 and rng.random() < 0.05:
        qty = round(opening[0] * rng.uniform(0.2, 0.3))
        shipped = _between(rng, 6, 12)
        to = rng.choice(LOCATIONS[1:])
        out.add(shipped, sku, "DC1", "TransferShipped", "wms", qty=qty, to_location=to)
        out.add(shipped + rng.randint(3 * 60, 8 * 60) * MINUTE_MS, sku, to, "TransferReceived", "wms",
                qty=qty, from_location="DC1")
    for location, qty in zip(LOCATIONS, opening):
        if qty and rng.random() < 0.03:
            out.add(_between(rng, 10, 20), sku, location, "Adjustment", "wms", qty=-min(qty, rng.randint(1, 3)),
                    reason="cycle count: shrink")


def _order(rng: random.Random, out: _Events, channel: Channel, sku: str) -> None:
    at = _order_time(rng, channel)
    location = rng.choices(list(channel.ships_from), weights=list(channel.ships_from.values()))[0]
    qty = rng.choices([q for q, _ in channel.quantities], weights=[w for _, w in channel.quantities])[0]
    n = len(out.events)
    rid = f"r-{n}"
    fields: dict[str, Any] = {"reservation_id": rid, "channel": channel.name, "order_id": f"o-{n}", "qty": qty}
    fate = rng.random()
    if channel.name == "web" and fate < 0.04:  # an abandoned cart: its hold runs out
        fields["expires_at"] = _iso(at + 30 * MINUTE_MS)
        out.add(at, sku, location, "ReserveRequested", "api", **fields)
        _later(out, at + 30 * MINUTE_MS, sku, location, "ReservationExpired", "api", reservation_id=rid)
        return
    out.add(at, sku, location, "ReserveRequested", "api", **fields)
    if fate < 0.12:  # cancelled
        _later(out, at + rng.randint(2, 120) * MINUTE_MS, sku, location, "ReservationReleased", "oms",
               reservation_id=rid)
        return
    picked = at + rng.randint(15, 180) * MINUTE_MS
    _later(out, picked, sku, location, "PickConfirmed", "wms", reservation_id=rid, qty=qty)
    _later(out, picked + rng.randint(10, 90) * MINUTE_MS, sku, location, "ShipmentPosted", "wms",
           reservation_id=rid, qty=qty)


def _order_time(rng: random.Random, channel: Channel) -> int:
    if channel.name == "edi" and rng.random() < 0.6:  # most come in a burst of a few minutes
        return rng.choice(EDI_BURSTS) * 60 * MINUTE_MS + rng.randint(0, 5 * 60_000)
    hour = rng.choices(range(24), cum_weights=channel.hours)[0]
    return hour * 60 * MINUTE_MS + rng.randint(0, 60 * MINUTE_MS - 1)


def _return(rng: random.Random, out: _Events, sku: str) -> None:
    """A customer return: quarantined until inspected, then released, or found damaged, or scrapped."""
    received = _between(rng, 8, 18)
    qty = rng.choice([1, 1, 1, 2])
    out.add(received, sku, "DC1", "ReturnReceived", "returns", qty=qty, disposition="quarantine")
    verdict = rng.choices(["restockable", "damaged", "scrapped"], weights=[0.85, 0.1, 0.05])[0]
    _later(out, received + rng.randint(60, 240) * MINUTE_MS, sku, "DC1", "DispositionChanged", "returns",
           qty=qty, from_disposition="quarantine", disposition=verdict)


def _later(out: _Events, at: int, sku: str, location: str, kind: str, source: str, **fields: Any) -> None:
    """Follow-ups after the day's end happen tomorrow: not in this day's events."""
    if at < DAY_MS:
        out.add(at, sku, location, kind, source, **fields)


def _between(rng: random.Random, first_hour: int, last_hour: int) -> int:
    return rng.randint(first_hour * 60 * MINUTE_MS, last_hour * 60 * MINUTE_MS)
