"""Location-stage throughput: one worker draining a pre-filled inventory.events topic.

    make bench                       # 200,000 events
    .venv/bin/python bench/location_throughput.py --events 50000

Fills a fresh deployment (its own topic prefix) with simulated events over many positions,
then starts one `stockstream worker` and times it from its first processed record until it
has processed every record on the topic (the events plus the transfers' inbound halves it
writes itself). Prints events/s and the worker's peak RSS; writes bench/results/*.json.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.cli import simulate

from streams.app import topics  # noqa: E402
from report import save  # noqa: E402 - bench/report.py
from streams.testing.deployment import Deployment, http_get  # noqa: E402

PROCESSED = re.compile(r'^stockstream_events_total\{[^}]*\} ([0-9.e+]+)$', re.M)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--locations", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="stockstream-bench-"))
    deployment = Deployment(root, partitions=args.partitions)
    deployment.env["STOCKSTREAM_LOG_LEVEL"] = "warning"
    print(f"filling {deployment.prefix}inventory.events with {args.events:,} events "
          f"over {args.skus * args.locations:,} positions ...", flush=True)
    deployment.produce(simulate.catalog(args.skus), topics.CATALOG)
    started = time.monotonic()
    batch: list = []
    for event in simulate.events(seed=1, count=args.events, skus=args.skus, locations=args.locations):
        batch.append(event)
        if len(batch) == 20_000:
            deployment.produce(batch)
            batch = []
    if batch:
        deployment.produce(batch)
    print(f"filled in {time.monotonic() - started:.1f}s; starting one worker", flush=True)

    worker = deployment.worker("bench")
    first = None
    last_count, stable_since = -1, 0.0
    try:
        while True:
            count = _processed(worker.port)
            now = time.monotonic()
            if count and first is None:
                first = (now, count)
            total = deployment.end_offsets(topics.EVENTS)
            if count >= total and count == last_count:
                if now - stable_since > 2:
                    break
            else:
                stable_since = now
            last_count = count
            time.sleep(0.5)
        done = stable_since
        rate = (count - first[1]) / (done - first[0])
        rss = _peak_rss_mib(worker.process.pid)
    finally:
        deployment.close()
    result = {"events": args.events, "records_processed": count, "positions": args.skus * args.locations,
              "partitions": args.partitions, "seconds": round(done - first[0], 2),
              "events_per_second": round(rate), "worker_peak_rss_mib": rss}
    save("location_throughput", result)
    return 0


def _processed(port: int) -> int:
    status, body = http_get(port, "/metrics")
    if status != 200:
        return 0
    return int(sum(float(v) for v in PROCESSED.findall(body)))


def _peak_rss_mib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


if __name__ == "__main__":
    sys.exit(main())
