"""The business case, measured (issue 12 point 7): a generated day of demand for a distributor
(streams/testing/demand_day.py) through the what-if of `stockstream simulate`, a 15-minute
batch sync against stockstream, under the same policies.

    .venv/bin/python bench/business_case.py [--skus 5000 --seed 1 --sync-minutes 15]

Writes the day's events and policies to bench/results/business-case/ (the what-if runs on those
files, as `stockstream simulate --events ... --policies ...` does), and the table and chart to
docs/business-case.md and docs/business-case.png. No broker needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.cli.policies import load  # noqa: E402
from streams.cli.whatif import BATCH, ROWS, STOCKSTREAM, compare, read_history  # noqa: E402
from streams.testing.demand_day import POLICIES, day  # noqa: E402

CHARTED = {
    "oversold": "oversold orders",
    "units_exposed_unit_hours": "units exposed (unit-hours)",
    "time_at_zero_sku_hours": "time at zero (SKU-hours)",
    "time_at_zero_with_stock_sku_hours": "at zero with stock free (SKU-hours)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sync-minutes", type=float, default=15)
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "results" / "business-case",
                        help="where the day's events and policies go")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the table and chart go")
    args = parser.parse_args(argv)

    began = time.monotonic()
    records = day(args.skus, args.seed)
    args.data.mkdir(parents=True, exist_ok=True)
    events_path, policies_path = args.data / "events.jsonl", args.data / "policies.yaml"
    events_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    policies_path.write_text(yaml.safe_dump(POLICIES, sort_keys=False))
    generated = time.monotonic()
    result = compare(read_history(str(events_path), {}), load(str(policies_path)), args.sync_minutes)
    simulated = time.monotonic()

    command = "bench/business_case.py" + "".join(
        f" --{name.replace('_', '-')} {getattr(args, name):g}" for name in ("skus", "seed", "sync_minutes")
        if getattr(args, name) != parser.get_default(name))
    args.docs.mkdir(parents=True, exist_ok=True)
    chart(result, args.docs / "business-case.png")
    (args.docs / "business-case.md").write_text(markdown(result, Counter(r["type"] for r in records), command))
    print(f"{len(records):,} events for {args.skus:,} SKUs generated in {generated - began:.1f} s, "
          f"simulated in {simulated - generated:.1f} s; wrote {args.docs}/business-case.md and .png")
    return 0


def markdown(result: dict[str, Any], types: Counter[str], command: str) -> str:
    batch = f"batch every {result['baseline_sync_minutes']:g} min"
    totals = {side: {key: sum(c[side][key] for c in result["channels"].values()) for key, _ in ROWS}
              for side in (BATCH, STOCKSTREAM)}
    table = [f"| channel | measure | {batch} | stockstream |", "|---|---|---:|---:|"]
    for name, both in [*result["channels"].items(), ("all", totals)]:
        for i, (key, label) in enumerate(ROWS):
            table.append(f"| {name if i == 0 else ''} | {label.strip()} | {_number(both[BATCH][key])} | "
                         f"{_number(both[STOCKSTREAM][key])} |")
    mix = ", ".join(f"{count:,} {kind}" for kind, count in types.most_common())
    return f"""# The business case, measured

A generated day of a distributor ({result['skus']:,} SKUs at three locations, four channels;
`streams/testing/demand_day.py`) replayed by the what-if of `stockstream simulate`: what each
channel would have sold if it learnt its availability from a batch sync every
{result['baseline_sync_minutes']:g} minutes, and from stockstream, under the same policies.

Over the day the batch sync oversold **{totals[BATCH]['oversold']:,}** orders and showed \
**{_number(totals[BATCH]['units_exposed_unit_hours'])}** unit-hours of stock that was not there; stockstream oversold \
**{totals[STOCKSTREAM]['oversold']:,}** and showed **{_number(totals[STOCKSTREAM]['units_exposed_unit_hours'])}**.
Time at zero is about the same either way: the policies' margins (safety stock, buffers,
ring fences, floors) account for most of it; the batch shows 0 longer after a receipt, but
less after a sell-down, when it goes on showing stock that is gone (which units exposed counts).

![oversold orders, units exposed and time at zero per channel](business-case.png)

{chr(10).join(table)}

Produced by

```sh
.venv/bin/python {command}
```

which writes the day to `bench/results/business-case/` and runs the same what-if as

```sh
.venv/bin/stockstream simulate --events bench/results/business-case/events.jsonl \\
    --policies bench/results/business-case/policies.yaml --baseline-sync-minutes {result['baseline_sync_minutes']:g}
```

## The day

{result['events']:,} events from {result['from']} to {result['to']}: {mix}.
Each position starts with a count; orders arrive at the hours each channel buys (EDI partly in
bursts), from SKUs of skewed popularity, and are picked and shipped, cancelled, or (web) left
to expire; a few best sellers start short and sell out unless their purchase order arrives;
returns wait in quarantine for inspection; transfers go from DC1 to DC2 or DC3; counts correct
shrink. Orders are demand: the what-if decides which a channel would have taken.

## The policies

```yaml
{yaml.safe_dump(POLICIES, sort_keys=False).rstrip()}
```

## The measures

- **orders**: the channel's orders in the history (ReserveRequested, retries once); **accepted**:
  those it showed enough for. The batch channel shows the formula as of its last sync minus
  what it sold itself since; stockstream's shows the formula after every event.
- **oversold**: accepted orders that the free units at the channel's locations (on hand less
  quarantined, damaged, held, reserved and picked; not less safety stock or buffers) could not
  fill. What follows them in the history never happens.
- **units exposed**: shown minus free units at the channel's locations, while positive,
  integrated over time: 3 units that are not there, shown for 20 minutes, are 1 unit-hour.
- **time at zero**: SKU-hours the channel showed 0; **of it with stock free**: while its
  locations had free units (sales it could not take; the policies' margins account for most of
  it in both columns).

The model, its assumptions and its limits: `tables/whatif.py`.
"""


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["channels"])
    figure, axes = plt.subplots(1, len(CHARTED), figsize=(15, 4))
    for axis, (key, title) in zip(axes, CHARTED.items()):
        for offset, side, colour in ((-0.2, BATCH, "#c44e52"), (0.2, STOCKSTREAM, "#4c72b0")):
            values = [result["channels"][name][side][key] for name in names]
            axis.bar([i + offset for i in range(len(names))], values, width=0.4, color=colour,
                     label=f"batch every {result['baseline_sync_minutes']:g} min" if side == BATCH else side)
        axis.set_xticks(range(len(names)), names)
        axis.set_title(title, fontsize=10)
    axes[0].legend(fontsize=9)
    figure.suptitle(f"One generated day, {result['skus']:,} SKUs: the same policies, two ways of syncing")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
