"""The oversell storm as a benchmark: 100 units, 1,000 concurrent single-unit reservations
from 50 clients, starting the moment a fresh worker is healthy and its policies were applied
live, a second worker joining mid-storm. Fails loudly if anything oversells, answers 500 or is
lost; prints how long it took.

    .venv/bin/python bench/storm.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import save  # noqa: E402 - bench/report.py
from streams.testing.clients import run_storm  # noqa: E402
from streams.testing.deployment import Deployment  # noqa: E402

REQUESTS, CLIENTS, STOCK = 1000, 50, 100


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="stockstream-storm-"))
    deployment = Deployment(root, partitions=4)
    try:
        report = run_storm(deployment, root, REQUESTS, CLIENTS, STOCK)
        reserved = report.workers[0].position("SKU-R", "DC1")["reserved"]
    finally:
        deployment.close()
    storm = report.storm
    accepted, rejected = len(storm.with_status(201)), len(storm.with_status(409))
    save("storm", {"requests": REQUESTS, "clients": CLIENTS, "stock": STOCK, "accepted": accepted,
                   "rejected": rejected, "reserved": reserved, "unanswered": REQUESTS - len(storm.final),
                   "statuses_seen": sorted(storm.seen()), "seconds": round(report.seconds, 1),
                   "slowest_answer_seconds": round(max(storm.took.values()), 1),
                   "second_worker_healthy_at_seconds": round(report.joined_healthy, 1)})
    held = accepted == reserved == STOCK and rejected == REQUESTS - STOCK and 500 not in storm.seen()
    print("storm held" if held else "STORM FAILED: oversold, lost or 500")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
