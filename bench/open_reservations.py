"""Open reservations cost a position nothing: events on a position holding 10,000 open
reservations are applied at the rate of events on one holding none.

    .venv/bin/python bench/open_reservations.py [--reservations 10000 --events 5000]

One worker. SKU-FULL@DC1 gets its open reservations (ReserveRequested events on the log, as an
order system or the API would put them there), SKU-EMPTY@DC1 none. Then --events Receipts go
to each position in turn, and each batch is timed from the first one applied to the last.
Prints both rates and the size of each position's changelog record; writes bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.cli.kafka import client_config  # noqa: E402
from report import save  # noqa: E402 - bench/report.py
from streams.testing.deployment import Deployment, wait_for  # noqa: E402

AT = "2026-11-25T10:00:00Z"


def event(n: int, kind: str, sku: str, **fields) -> dict:
    return {"event_id": f"{sku}-{kind}-{n}", "type": kind, "sku": sku, "location": "DC1", "source": "bench",
            "occurred_at": AT, **fields}


def timed_receipts(deployment: Deployment, worker, sku: str, count: int) -> float:
    """Events per second applied to one position, first applied to last."""
    start_version = worker.position(sku, "DC1")["version"]
    deployment.produce([event(n, "Receipt", sku, qty=1) for n in range(count)])
    first = wait_for(lambda: (p := worker.position(sku, "DC1"))["version"] > start_version and (time.monotonic(), p["version"]),
                     120, "the first receipt", interval=0.01)
    wait_for(lambda: worker.position(sku, "DC1")["version"] >= start_version + count, 600, "every receipt", interval=0.01)
    done = time.monotonic()
    return (start_version + count - first[1]) / (done - first[0])


def record_sizes(deployment: Deployment) -> dict[str, int]:
    """The size of the last changelog record of each position key."""
    topic = f"{deployment.settings.app_id}-positions-changelog"
    consumer = Consumer({**client_config(deployment.settings), "group.id": f"bench-{uuid.uuid4()}"})
    sizes: dict[str, int] = {}
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        wanted = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        while wanted:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            if message.key() in (b"SKU-FULL@DC1", b"SKU-EMPTY@DC1"):
                sizes[message.key().decode()] = len(message.value() or b"")
            if message.offset() + 1 >= ends[message.partition()]:
                wanted.discard(message.partition())
    finally:
        consumer.close()
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reservations", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="stockstream-bench-"))
    deployment = Deployment(root, partitions=4)
    deployment.env["STOCKSTREAM_LOG_LEVEL"] = "warning"
    try:
        worker = deployment.worker("bench")
        deployment.produce([event(0, "Receipt", "SKU-FULL", qty=10 * args.reservations, event_id="stock-full"),
                            event(0, "Receipt", "SKU-EMPTY", qty=10, event_id="stock-empty")])
        deployment.produce([event(n, "ReserveRequested", "SKU-FULL", qty=1, reservation_id=f"order-{n:06d}",
                                  channel="web", order_id=f"order-{n:06d}") for n in range(args.reservations)])
        wait_for(lambda: (worker.position("SKU-FULL", "DC1") or {}).get("reserved") == args.reservations, 600,
                 f"{args.reservations} open reservations", interval=0.5)
        print(f"{args.reservations:,} reservations open on SKU-FULL@DC1; timing {args.events:,} receipts per position",
              flush=True)
        rates = {}
        for sku in ("SKU-EMPTY", "SKU-FULL", "SKU-EMPTY", "SKU-FULL"):  # twice each, interleaved
            rates.setdefault(sku, []).append(timed_receipts(deployment, worker, sku, args.events))
        sizes = record_sizes(deployment)
    finally:
        deployment.close()
    result = {
        "open_reservations": args.reservations, "events_per_position": args.events,
        "events_per_second_no_reservations": round(max(rates["SKU-EMPTY"])),
        "events_per_second_with_reservations": round(max(rates["SKU-FULL"])),
        "position_record_bytes": sizes,
    }
    save("open_reservations", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
