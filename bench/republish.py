"""How long a live policy change takes to reach every SKU, and what it costs the events that
keep arriving meanwhile.

    .venv/bin/python bench/republish.py [--skus 20000 --partitions 8]

One worker holds --skus SKUs, each published on `amazon`. Then `policies apply` halves amazon's
allocation while receipts keep arriving at a steady rate, and the bench times the change from
the apply until the last SKU's new value is on availability.amazon, and the receipts' latency
(produced to applied, read from GET /positions) before and during the sweep.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.app import topics  # noqa: E402
from streams.wire.codec import default_codec  # noqa: E402
from streams.cli.kafka import client_config, encode_lines  # noqa: E402
from streams.testing.clients import apply_policies, receipts  # noqa: E402
from report import save  # noqa: E402 - bench/report.py
from streams.testing.deployment import Deployment, wait_for  # noqa: E402

POLICY = "channels:\n  amazon:\n    locations: [DC1]\n    allocation_percent: {pct}\n    publish_interval: 0.1\n"


class LastValues:
    """Follows availability.amazon: the last value per SKU, and when each SKU reached a value."""

    def __init__(self, deployment: Deployment) -> None:
        topic = deployment.settings.topic(topics.CHANNEL_PREFIX + "amazon")
        self.consumer = Consumer({**client_config(deployment.settings), "group.id": f"bench-{uuid.uuid4()}"})
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self.last: dict[str, int] = {}
        self.reached: dict[str, float] = {}

    def poll(self, want: int) -> None:
        for message in self.consumer.consume(5000, 0.2):
            if message.error():
                continue
            delta = default_codec().decode("AvailabilityDelta", message.value())
            self.last[delta["sku"]] = delta["available"]
            if delta["available"] == want:
                self.reached[delta["sku"]] = time.monotonic()


def receipt_latency(deployment: Deployment, worker, stop: threading.Event, out: list[float], phase: str) -> None:
    """Produced to applied, one receipt at a time, through one long-lived producer."""
    producer = Producer({**client_config(deployment.settings), "partitioner": "murmur2_random", "linger.ms": 0})
    topic = deployment.settings.topic(topics.EVENTS)
    n = 0
    while not stop.is_set():
        before = (worker.position("SKU-PROBE", "DC2") or {}).get("version", 0)
        (_, key, value), = encode_lines([(1, orjson.dumps(receipts({"DC2": 1}, "SKU-PROBE", prefix=f"{phase}{n}")[0]).decode())],
                                        topics.EVENTS)[0]
        sent = time.monotonic()
        producer.produce(topic, key=key, value=value)
        producer.flush(10)
        wait_for(lambda: (worker.position("SKU-PROBE", "DC2") or {}).get("version", 0) > before, 120, "a probe",
                 interval=0.002)
        out.append(time.monotonic() - sent)
        n += 1
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stockstream-bench-"))
    deployment = Deployment(root, partitions=args.partitions)
    deployment.env["STOCKSTREAM_LOG_LEVEL"] = "warning"
    skus = [f"SKU-{n:06d}" for n in range(args.skus)]
    try:
        apply_policies(deployment, root, POLICY.format(pct=100))
        worker = deployment.worker("bench")
        for start in range(0, len(skus), 20_000):
            deployment.produce([r for sku in skus[start:start + 20_000] for r in receipts({"DC1": 10}, sku)])
        values = LastValues(deployment)
        wait_for(lambda: values.poll(10) or sum(1 for v in values.last.values() if v == 10) == len(skus), 900,
                 "every SKU on amazon", interval=0)
        print(f"{len(skus):,} SKUs on amazon; halving its allocation live", flush=True)

        before: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=receipt_latency, args=(deployment, worker, stop, before, "before"))
        probe.start()
        time.sleep(5)
        stop.set()
        probe.join()
        during: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=receipt_latency, args=(deployment, worker, stop, during, "during"))
        applied = time.monotonic()
        apply_policies(deployment, root, POLICY.format(pct=50))
        probe.start()
        wait_for(lambda: values.poll(5) or sum(1 for v in values.last.values() if v == 5) == len(skus), 900,
                 "every SKU republished", interval=0)
        took = max(values.reached.values()) - applied
        stop.set()
        probe.join()
    finally:
        deployment.close()
    result = {
        "skus": args.skus, "partitions": args.partitions, "republish_seconds": round(took, 1),
        "skus_per_second": round(args.skus / took),
        "receipt_latency_ms_before": {"p50": round(statistics.median(before) * 1000), "max": round(max(before) * 1000)},
        "receipt_latency_ms_during": {"p50": round(statistics.median(during) * 1000), "max": round(max(during) * 1000)},
    }
    save("republish", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
