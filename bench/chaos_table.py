"""The results table of `make chaos`: one row per fault from the JSON lines the fault tests
appended (STOCKSTREAM_CHAOS_RESULTS), written to bench/results/chaos-<time>.md and printed.

    python bench/chaos_table.py bench/results/chaos.jsonl
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("fault", "events", "faults injected", "anomalies", "lost writes", "duplicates applied",
           "non-monotonic", "figures differing", "to /health 200 (s)", "last fault to lag 0 (s)", "run (s)")


def anomalies(verdict: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(all, lost writes, duplicates applied, non-monotonic versions, figures differing)."""
    monotonic = sum(verdict.get("non_monotonic", {}).values())
    lost, twice, diverged = verdict.get("lost_writes", 0), verdict.get("duplicates_applied", 0), verdict.get("diverged", 0)
    return lost + twice + diverged + monotonic, lost, twice, monotonic, verdict.get("differences", 0)


LAG_KEYS = ("seconds_last_fault_to_lag_0", "seconds_last_poison_to_lag_0", "seconds_resume_to_receiver_match_and_lag_0")


def row(result: dict[str, Any]) -> list[str]:
    verdict = result.get("verdict")
    # a fault judged otherwise (a sink's receiver against its channel) has no verifier counts
    counts = [str(n) for n in anomalies(verdict)] if verdict is not None else ["-"] * 5
    events = result.get("events") or result.get("requests")
    unit = "" if result.get("events") else " requests"
    health = result.get("seconds_to_health") or []
    lag = next((result[key] for key in LAG_KEYS if result.get(key) is not None), None)
    return [result["fault"], f"{events:,}{unit}" if isinstance(events, int) else "-",
            str(len(result.get("injected") or [])), *counts,
            ", ".join(f"{s:g}" for s in health) or "-", "-" if lag is None else f"{lag:g}",
            f"{result.get('runtime_seconds', result.get('storm_seconds', 0)):g}"]


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(result)) + " |" for result in results]
    judged = [r for r in results if r.get("verdict") is not None]
    total = sum(anomalies(r["verdict"])[0] for r in judged)
    lines.append("")
    lines.append(f"{len(results)} faults, {total} anomalies found by the independent verifier in the "
                 f"{len(judged)} it judged; a `-` is a fault judged by its own test (a sink's receiver "
                 f"against its channel's latest values).")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    source = Path(argv[0])
    if not source.is_file():
        print(f"chaos_table: no results at {source} (did the fault tests run?)", file=sys.stderr)
        return 1
    results = [orjson.loads(line) for line in source.read_bytes().splitlines() if line.strip()]
    text = (f"# make chaos, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
            f"Each row: a fault injected while a seeded stream was produced, judged by "
            f"tests/chaos/verifier.py. Raw results: {source.name}.\n\n{table(results)}\n")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"chaos-{int(time.time())}.md"
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
