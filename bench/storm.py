"""The oversell storm as a benchmark: 100 units, 1,000 concurrent single-unit reservations
from 50 clients, starting the moment a fresh worker is healthy and its policies were applied
live, a second worker joining mid-storm. Fails loudly if anything oversells, answers 500 or is
lost; prints how long it took.

    .venv/bin/python bench/storm.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.harness import Deployment  # noqa: E402
from tests.integration.test_live_operations import (  # noqa: E402
    CLIENTS, REQUESTS, STOCK, test_the_storm_right_after_a_fresh_worker_and_a_live_policy_apply as storm,
)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="stockstream-storm-"))
    deployment = Deployment(root, partitions=4)
    started = time.monotonic()
    try:
        storm(deployment, root)
    finally:
        deployment.close()
    print(f"storm held: {REQUESTS} requests from {CLIENTS} clients for {STOCK} units, exactly {STOCK} accepted, "
          f"none lost across a rebalance, in {time.monotonic() - started:.1f}s (with setup)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
