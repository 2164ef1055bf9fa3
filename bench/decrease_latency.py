"""Event-to-delta latency of decreases: how long a sell-out takes to reach a channel topic.

    .venv/bin/python bench/decrease_latency.py                 # 1,000 decreases at 50/s
    .venv/bin/python bench/decrease_latency.py --decreases 2000 --rate 100

One worker, one channel. Stock is received for a set of SKUs, then decreases (Adjustment -1,
each lowering what the channel shows, so each is published at once) are offered at a steady
rate. Latency is from handing the event to the producer to receiving its delta on
availability.web, matched by event id, both clocks this machine's. Prints p50/p90/p99/max.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.app import topics  # noqa: E402
from streams.wire.codec import default_codec  # noqa: E402
from streams.cli.kafka import client_config  # noqa: E402
from report import save  # noqa: E402 - bench/report.py
from streams.testing.deployment import STOCKSTREAM, Deployment, wait_for  # noqa: E402

POLICIES = "channels:\n  web:\n    locations: [DC1]\n    publish_interval: 2\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decreases", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="decreases offered per second")
    parser.add_argument("--skus", type=int, default=20)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="stockstream-latency-"))
    deployment = Deployment(root, partitions=4)
    (root / "policies.yaml").write_text(POLICIES)
    subprocess.run([STOCKSTREAM, "policies", "apply", str(root / "policies.yaml")], env=deployment.env, check=True,
                   capture_output=True)
    deployment.worker("latency")
    skus = [f"LAT-{i}" for i in range(args.skus)]
    deployment.produce([event(f"stock-{s}", s, "Receipt", 1_000_000) for s in skus])
    web = deployment.settings.topic(topics.CHANNEL_PREFIX + "web")
    wait_for(lambda: len({d["sku"] for d in deployment.read(topics.CHANNEL_PREFIX + "web")}) == len(skus),
             60, "every SKU's first value")

    received: dict[str, float] = {}
    stop = threading.Event()
    listener = threading.Thread(target=listen, args=(deployment, web, received, stop), daemon=True)
    listener.start()
    time.sleep(2)  # the listener is assigned and at the end of the topic

    producer = Producer({**client_config(deployment.settings), "linger.ms": 0, "partitioner": "murmur2_random"})
    codec, sent = default_codec(), {}
    topic = deployment.settings.topic(topics.EVENTS)
    start = time.monotonic()
    for n in range(args.decreases):
        due = start + n / args.rate
        while (wait := due - time.monotonic()) > 0:
            time.sleep(min(wait, 0.01))
        record = event(f"dec-{uuid.uuid4().hex[:8]}-{n}", skus[n % len(skus)], "Adjustment", -1)
        value = codec.encode("InventoryEvent", avro(record))
        sent[record["event_id"]] = time.monotonic()
        producer.produce(topic, key=f"{record['sku']}@DC1".encode(), value=value)
        producer.poll(0)
    producer.flush(30)
    wait_for(lambda: all(e in received for e in sent), 120, "every decrease's delta")
    stop.set()
    deployment.close()

    latencies = sorted((received[e] - t) * 1000 for e, t in sent.items())
    pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]  # noqa: E731
    result = {"decreases": len(latencies), "offered_per_second": args.rate, "skus": args.skus,
              "p50_ms": round(pct(50), 1), "p90_ms": round(pct(90), 1), "p99_ms": round(pct(99), 1),
              "max_ms": round(latencies[-1], 1), "mean_ms": round(statistics.mean(latencies), 1)}
    save("decrease_latency", result)
    return 0


def event(event_id: str, sku: str, kind: str, qty: int) -> dict:
    record = {"event_id": event_id, "type": kind, "sku": sku, "location": "DC1", "qty": qty,
              "source": "bench", "occurred_at": "2026-11-25T10:00:00Z"}
    if kind == "Adjustment":
        record["reason"] = "bench"
    return record


def avro(record: dict) -> dict:
    from streams.wire.codec import load_schemas
    from streams.wire.records import from_json

    return from_json(load_schemas()["InventoryEvent"], record)


def listen(deployment: Deployment, topic: str, received: dict, stop: threading.Event) -> None:
    consumer = Consumer({**client_config(deployment.settings), "group.id": f"latency-{uuid.uuid4()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p))[1]) for p in partitions]
    consumer.assign(ends)
    codec = default_codec()
    while not stop.is_set():
        message = consumer.poll(0.05)
        if message is None or message.error():
            continue
        arrived = time.monotonic()
        delta = codec.decode("AvailabilityDelta", message.value())
        if delta["event_id"] and delta["event_id"].startswith("dec-"):
            received.setdefault(delta["event_id"], arrived)
    consumer.close()


if __name__ == "__main__":
    sys.exit(main())
