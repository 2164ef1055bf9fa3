"""`stockstream simulate`: random but valid event streams with the state they must produce
(--out), or a what-if of policies over an event history (--policies, streams/cli/whatif.py).

A scenario is three files: catalog.jsonl and events.jsonl to send with `stockstream produce`,
and expected.json, the clean fold of the events (tables.replay), to check GET /positions
against. Events include re-sent duplicates, stale counts, over-releases and transfers.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson

from tables.limits import Limits
from tables.replay import fold

START = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
DISPOSITIONS = ["restockable", "quarantine", "refurbish", "damaged"]
SCENARIO_DEFAULTS = {"seed": 1, "skus": 5, "locations": 3}
SCENARIO_EVENTS = "5000"
BASELINE_SYNC_MINUTES = 15.0
MAX_SYNC_MINUTES = 7 * 24 * 60.0
WHATIF_OPTIONS = ("baseline_sync_minutes", "catalog", "json")


def run(args: argparse.Namespace, limits: Limits) -> int:
    """--out: write a random scenario (--events is how many events); --policies: the what-if
    (--events is the history's file)."""
    if (args.out is None) == (args.policies is None):
        return _usage("give --out DIR for a random scenario, or --events FILE --policies FILE for a what-if")
    if args.policies is not None:
        if args.events is None:
            return _usage("--events FILE is required with --policies: the history to simulate")
        if stray := _given(args, tuple(SCENARIO_DEFAULTS)):
            return _usage(f"{stray} is for a random scenario (--out), not for a what-if")
        from streams.cli import whatif

        sync = BASELINE_SYNC_MINUTES if args.baseline_sync_minutes is None else args.baseline_sync_minutes
        if not 0 <= sync <= MAX_SYNC_MINUTES:  # NaN too
            return _usage(f"--baseline-sync-minutes: must be from 0 (every event) to {MAX_SYNC_MINUTES:g}, got {sync:g}")
        return whatif.run(args.events, args.policies, sync, args.catalog, args.json, limits)
    if stray := _given(args, WHATIF_OPTIONS):
        return _usage(f"{stray} is for a what-if (--policies), not for a random scenario")
    count = SCENARIO_EVENTS if args.events is None else args.events
    if not count.isdigit():
        return _usage(f"--events: with --out it is how many events to write, got {count!r}")
    options = {name: default if getattr(args, name) is None else getattr(args, name)
               for name, default in SCENARIO_DEFAULTS.items()}
    write(Path(args.out), count=int(count), **options)
    print(f"wrote {args.out}/catalog.jsonl, events.jsonl ({int(count)} events) and expected.json")
    return 0


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> str | None:
    """The first of these options the command line gave, as it is spelt there."""
    for name in names:
        if getattr(args, name) not in (None, False):
            return "--" + name.replace("_", "-")
    return None


def _usage(message: str) -> int:
    print(f"stockstream simulate: {message}", file=sys.stderr)
    return 2


def catalog(skus: int) -> list[dict[str, Any]]:
    return [{"sku": f"SKU-{i}", "uoms": {"CS": 6 + i % 7}} for i in range(skus)]


def events(seed: int, count: int, skus: int = 5, locations: int = 3,
           duplicate_ratio: float = 0.05) -> Iterator[dict[str, Any]]:
    """count events (duplicates included) over skus x locations."""
    rng = random.Random(seed)
    sent: list[dict[str, Any]] = []
    seq = 0
    for n in range(count):
        if sent and rng.random() < duplicate_ratio:
            yield dict(rng.choice(sent[-100:]))  # a retry: same event_id, same body
            continue
        seq += 1
        event = _random_event(rng, n, seq, skus, locations)
        sent.append(event)
        yield event


def _random_event(rng: random.Random, n: int, seq: int, skus: int, locations: int) -> dict[str, Any]:
    sku, location = f"SKU-{rng.randrange(skus)}", f"WH{rng.randrange(locations)}"
    at = START + timedelta(seconds=n)
    event: dict[str, Any] = {
        "event_id": f"sim-{n}", "sku": sku, "location": location, "source": rng.choice(["wms", "erp"]),
        "occurred_at": at.isoformat().replace("+00:00", "Z"), "qty": rng.randint(1, 8),
    }
    kind = rng.choices(
        ["Receipt", "Adjustment", "CycleCount", "ReserveRequested", "ReservationReleased",
         "ReservationExpired", "PickConfirmed", "ShipmentPosted", "ReturnReceived",
         "DispositionChanged", "HoldPlaced", "HoldReleased", "TransferShipped", "TransferReceived",
         "Snapshot"],
        weights=[14, 4, 2, 16, 5, 2, 8, 8, 4, 3, 3, 3, 3, 3, 2])[0]
    event["type"] = kind
    reservation = f"r-{sku}-{location}-{rng.randrange(12)}"
    if kind == "Receipt" and rng.random() < 0.3:
        event["uom"] = "CS"
    elif kind == "Adjustment":
        event["qty"] = rng.choice([-1, 1]) * event["qty"]
        event["reason"] = "count correction"
    elif kind in ("CycleCount", "Snapshot"):
        event["qty"] = rng.randint(0, 60)
        # Now and then a late count, older than the last from its source.
        event["source_seq"] = seq - rng.choice([0, 0, 0, 5])
    elif kind == "ReserveRequested":
        event.update(reservation_id=reservation, channel=rng.choice(["web", "amazon", "b2b"]), order_id=f"o-{n}")
    elif kind in ("ReservationReleased", "ReservationExpired"):
        event["reservation_id"] = reservation
        if kind == "ReservationExpired" or rng.random() < 0.5:
            del event["qty"]
    elif kind in ("PickConfirmed", "ShipmentPosted") and rng.random() < 0.7:
        event["reservation_id"] = reservation
    elif kind == "ReturnReceived":
        event["disposition"] = rng.choice(DISPOSITIONS)
    elif kind == "DispositionChanged":
        event["from_disposition"] = rng.choice(DISPOSITIONS)
        event["disposition"] = rng.choice(DISPOSITIONS + ["scrapped"])
    elif kind == "TransferShipped":
        event["to_location"] = f"WH{(int(location[2:]) + 1) % locations}"
    elif kind == "TransferReceived":
        event["from_location"] = f"WH{(int(location[2:]) - 1) % locations}"
    return event


def expected(records: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The positions the records must produce, as GET /positions shows them."""
    from streams.wire.records import parse_time

    parsed = [{**r, "occurred_at": parse_time("occurred_at", r["occurred_at"])} for r in records]
    by_sku = {item["sku"]: item for item in items}
    return {key: position.view() for key, position in sorted(fold(parsed, by_sku).items())}


def write(out: Path, seed: int, count: int, skus: int, locations: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    items = catalog(skus)
    records = list(events(seed, count, skus, locations))
    (out / "catalog.jsonl").write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in items))
    (out / "events.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    (out / "expected.json").write_bytes(orjson.dumps(expected(records, items), option=orjson.OPT_INDENT_2))
