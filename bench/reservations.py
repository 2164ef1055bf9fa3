"""Reservation throughput and latency: one worker, many concurrent clients, real HTTP.

    .venv/bin/python bench/reservations.py                        # 10,000 requests, 50 clients
    .venv/bin/python bench/reservations.py --requests 20000 --clients 100

Every request reserves one unit of one of --skus SKUs (stock enough for all), each answered
only after the location agent applied it. Prints requests/s and p50/p90/p99 latency.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import save  # noqa: E402 - bench/report.py
from streams.testing.deployment import STOCKSTREAM, Deployment, wait_for  # noqa: E402
from streams.testing.clients import TOKEN, post  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--skus", type=int, default=20)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="stockstream-reservations-"))
    deployment = Deployment(root, partitions=4)
    deployment.env["STOCKSTREAM_API_TOKENS"] = json.dumps({TOKEN: ["reserve"]})
    deployment.env["STOCKSTREAM_LOG_LEVEL"] = "warn"
    (root / "p.yaml").write_text("channels:\n  web:\n    locations: [DC1]\n")
    subprocess.run([STOCKSTREAM, "policies", "apply", str(root / "p.yaml")], env=deployment.env, check=True,
                   capture_output=True)
    skus = [f"RES-{i}" for i in range(args.skus)]
    deployment.produce([{"event_id": f"stock-{s}", "type": "Receipt", "sku": s, "location": "DC1",
                         "qty": args.requests, "source": "bench", "occurred_at": "2026-11-25T10:00:00Z"} for s in skus])
    worker = deployment.worker("bench")
    wait_for(lambda: all(worker.position(s, "DC1") for s in skus), 60, "stock applied")

    def one(n: int) -> tuple[int, float]:
        body = {"reservation_id": f"b-{n}", "sku": skus[n % len(skus)], "location": "DC1", "qty": 1,
                "channel": "web", "order_id": f"o-{n}"}
        started = time.monotonic()
        status, _ = post(worker.port, body)
        return status, (time.monotonic() - started) * 1000

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        results = list(pool.map(one, range(args.requests)))
    elapsed = time.monotonic() - started
    deployment.close()

    latencies = sorted(ms for _, ms in results)
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1)  # noqa: E731
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    result = {"requests": args.requests, "clients": args.clients, "seconds": round(elapsed, 2),
              "requests_per_second": round(args.requests / elapsed), "statuses": statuses,
              "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(latencies[-1], 1)}
    save("reservations", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
