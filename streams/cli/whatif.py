"""`stockstream simulate --events FILE --policies FILE`: the what-if (tables/whatif.py) over
an event history, as a table for people or JSON for machines.

The history is JSON lines of InventoryEvents as `stockstream produce` reads them; every line
is checked first, and a bad one is reported with its number and field, as `produce` does.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import orjson

from streams.cli.kafka import read_lines
from streams.cli.policies import load
from streams.wire.codec import load_schemas
from streams.wire.records import RecordError, from_json
from tables.catalog import ItemError, check_item
from tables.events import InvalidEvent, normalize
from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits, OverLimit
from tables.policy import Policies, PolicyError
from tables.whatif import HOUR_MS, by_sku, replay

MAX_ERRORS_SHOWN = 20
STOCKSTREAM, BATCH = "stockstream", "batch"


class BadInput(Exception):
    """What to tell the user about the files, one message a line."""


def run(events_path: str, policies_path: str, sync_minutes: float, catalog_path: str | None,
        as_json: bool, limits: Limits = DEFAULT_LIMITS) -> int:
    try:
        policies = load(policies_path, limits)
    except PolicyError as err:
        print(f"{policies_path}: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"stockstream simulate: cannot read the policies: {err}", file=sys.stderr)
        return 2
    if not policies.channels:
        print(f"{policies_path}: names no channel: there is nothing to simulate", file=sys.stderr)
        return 1
    try:
        items = read_catalog(catalog_path, limits) if catalog_path else {}
        events = read_history(events_path, items, limits)
    except OSError as err:
        print(f"stockstream simulate: {err}", file=sys.stderr)
        return 2
    except BadInput as err:
        print(err, file=sys.stderr)
        return 1
    result = compare(events, policies, sync_minutes)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n" if as_json else render(result))
    return 0


def read_history(path: str, items: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """Normalized events (quantities in eaches, times in epoch ms), or BadInput naming every bad line."""
    schema = load_schemas()["InventoryEvent"]
    events, errors = [], []
    for number, line in _lines(path):
        try:
            record = from_json(schema, orjson.loads(line))
            events.append(normalize(record, items.get(record["sku"]), limits))
        except orjson.JSONDecodeError as err:
            errors.append(f"{path}: line {number}: not JSON: {err}")
        except (RecordError, InvalidEvent, OverLimit) as err:
            errors.append(f"{path}: line {number}: {err}")
    _refuse(errors)
    if not events:
        raise BadInput(f"{path}: holds no events: there is nothing to simulate")
    return events


def read_catalog(path: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The item master (catalog.jsonl, as `produce --topic catalog.items` reads it), by SKU."""
    schema = load_schemas()["Item"]
    items, errors = {}, []
    for number, line in _lines(path):
        try:
            item = from_json(schema, orjson.loads(line))
            check_item(item, limits)
            items[item["sku"]] = item
        except orjson.JSONDecodeError as err:
            errors.append(f"{path}: line {number}: not JSON: {err}")
        except (RecordError, ItemError, OverLimit) as err:
            errors.append(f"{path}: line {number}: {err}")
    _refuse(errors)
    return items


def _lines(path: str) -> Iterator[tuple[int, str]]:
    try:
        yield from read_lines(path)
    except UnicodeDecodeError:  # found a block ahead of the lines read: no line number to give
        raise BadInput(f"{path}: is not UTF-8 text") from None


def _refuse(errors: list[str]) -> None:
    """All the bad lines at once, as `produce` reports them (the first MAX_ERRORS_SHOWN)."""
    if errors:
        more = len(errors) - MAX_ERRORS_SHOWN
        unshown = f" ({more} not shown)" if more > 0 else ""
        summary = f"{len(errors)} bad line(s){unshown}; nothing was simulated"
        raise BadInput("\n".join([*errors[:MAX_ERRORS_SHOWN], summary]))


def compare(events: list[dict[str, Any]], policies: Policies, sync_minutes: float) -> dict[str, Any]:
    """Both ways of syncing over the same history, side by side."""
    start = min(e["occurred_at"] for e in events)
    end = max(e["occurred_at"] for e in events)
    histories = list(by_sku(events).values())
    live = replay(histories, policies, 0, start, end)
    batch = replay(histories, policies, round(sync_minutes * 60_000), start, end)
    return {
        "events": len(events), "skus": len(histories),
        "from": _iso(start), "to": _iso(end), "hours": round((end - start) / HOUR_MS, 2),
        "baseline_sync_minutes": sync_minutes,
        "channels": {name: {BATCH: batch.channels[name].view(), STOCKSTREAM: live.channels[name].view()}
                     for name in policies.channels},
        "unlisted_orders": dict(sorted(live.unlisted_orders.items())),
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


ROWS = (
    ("orders", "orders"),
    ("accepted", "accepted by the channel"),
    ("oversold", "oversold orders"),
    ("units_exposed_unit_hours", "units exposed (unit-hours)"),
    ("time_at_zero_sku_hours", "time at zero (SKU-hours)"),
    ("time_at_zero_with_stock_sku_hours", "  of it with stock free"),
)


def render(result: dict[str, Any]) -> str:
    batch = f"batch every {result['baseline_sync_minutes']:g} min"
    lines = [f"What-if over {result['events']:,} events for {result['skus']:,} SKUs, "
             f"{result['from']} to {result['to']} ({result['hours']:g} h)", ""]
    rows = [("channel", "measure", batch, STOCKSTREAM)]
    for name, both in result["channels"].items():
        for i, (key, label) in enumerate(ROWS):
            rows.append((name if i == 0 else "", label, _number(both[BATCH][key]), _number(both[STOCKSTREAM][key])))
    lines += _columns(rows)
    if result["unlisted_orders"]:
        unlisted = ", ".join(f"{name} {count:,}" for name, count in result["unlisted_orders"].items())
        lines += ["", f"orders from channels without a policy, taken as they happened: {unlisted}"]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _columns(rows: Iterable[tuple[str, ...]]) -> list[str]:
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]
