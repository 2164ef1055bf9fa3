"""stockstream against the ceilings it runs under, in one run on one broker and one pre-filled
topic: a raw confluent-kafka consume->produce loop, a bare Faust agent that forwards each record
unchanged (bench/bare_faust.py), and stockstream's pipeline, timed for its location stage and
until the channel stage has read every location record.

    .venv/bin/python bench/ceiling.py [--events 100000 --partitions 8 --workers 1]

Prints each rate and stockstream's ratio to each; writes bench/results/ceiling-*.json and
ceiling-*.png (a bar chart).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import RESULTS, save  # noqa: E402 - bench/report.py
from streams.app import topics  # noqa: E402
from streams.cli import simulate  # noqa: E402
from streams.cli.kafka import client_config  # noqa: E402
from streams.testing.clients import apply_policies  # noqa: E402
from streams.testing.deployment import Deployment, free_port, http_get  # noqa: E402

POLICIES = """
locations:
  WH0: {safety_stock: 1}
channels:
  web: {locations: [WH0, WH1, WH2, WH3]}
  amazon: {locations: [WH0, WH1], buffer: 2, allocation_percent: 50}
"""
COUNTER = re.compile(r'^stockstream_events_total\{outcome="([^"]+)",stage="([^"]+)",type="[^"]*"\} ([0-9.e+]+)$', re.M)


def fill(deployment: Deployment, count: int, skus: int) -> None:
    deployment.produce(simulate.catalog(skus), topics.CATALOG)
    batch: list = []
    for event in simulate.events(seed=1, count=count, skus=skus, locations=4):
        batch.append(event)
        if len(batch) == 20_000:
            deployment.produce(batch)
            batch = []
    if batch:
        deployment.produce(batch)


def create(deployment: Deployment, name: str) -> str:
    topic = deployment.settings.topic(name)
    admin = AdminClient(client_config(deployment.settings))
    for future in admin.create_topics([NewTopic(topic, deployment.settings.partitions, 1)]).values():
        future.result(30)
    return topic


def end_offsets(deployment: Deployment, topic: str) -> int:
    """The sum of a topic's end offsets (0 while the topic or its leaders do not exist yet)."""
    consumer = Consumer({**client_config(deployment.settings), "group.id": f"bench-{uuid.uuid4()}"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(deployment.settings.partitions))
    except KafkaException:
        return 0
    finally:
        consumer.close()


def raw_passthrough(deployment: Deployment, total: int) -> float:
    """confluent-kafka: consume every record of inventory.events, produce it to a sink."""
    sink = create(deployment, "bench.raw-out")
    consumer = Consumer({**client_config(deployment.settings), "group.id": f"bench-raw-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    producer = Producer({**client_config(deployment.settings), "linger.ms": 5})
    consumer.subscribe([deployment.settings.topic(topics.EVENTS)])
    seen, started = 0, None
    try:
        while seen < total:
            for message in consumer.consume(10_000, 1.0):
                if message.error():
                    continue
                started = started or time.monotonic()
                while True:
                    try:
                        producer.produce(sink, key=message.key(), value=message.value())
                        break
                    except BufferError:
                        producer.poll(0.1)
                seen += 1
            producer.poll(0)
        producer.flush(60)
        return total / (time.monotonic() - started)
    finally:
        consumer.close()


def bare_faust(deployment: Deployment, total: int, root: Path) -> float:
    """A bare Faust agent forwarding each record (its own process), timed on its sink."""
    sink = create(deployment, "bench.faust-out")
    env = {**os.environ, "BENCH_BOOTSTRAP": deployment.settings.kafka_bootstrap,
           "BENCH_APP": deployment.settings.topic("bench-bare-faust"), "BENCH_SOURCE": deployment.settings.topic(topics.EVENTS),
           "BENCH_SINK": sink, "BENCH_PARTITIONS": str(deployment.settings.partitions), "BENCH_PORT": str(free_port()),
           "BENCH_DATA": str(root / "bare-faust")}
    with open(root / "bare-faust.log", "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_faust.py")], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        first = None
        while True:
            done = end_offsets(deployment, sink)
            if done and first is None:
                first = (time.monotonic(), done)
            if done >= total:
                return (done - first[1]) / (time.monotonic() - first[0])
            assert process.poll() is None, (root / "bare-faust.log").read_text()[-2000:]
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(30)


def counts(port: int) -> dict[str, float]:
    status, body = http_get(port, "/metrics")
    totals: dict[str, float] = {}
    if status == 200:
        for outcome, stage, value in COUNTER.findall(body):
            totals[stage] = totals.get(stage, 0) + float(value)
            if stage == "channels" and outcome in ("applied", "repeat"):
                totals["channels.locations"] = totals.get("channels.locations", 0) + float(value)
    return totals


def pipeline(deployment: Deployment, events: int, workers: int) -> dict[str, float]:
    """stockstream: rates of its location stage and of the whole pipeline (the channel stage
    has read every location record)."""
    started = [deployment.worker(f"w{n}", wait=False) for n in range(workers)]
    events_total = end_offsets(deployment, deployment.settings.topic(topics.EVENTS))
    first = shown = location_done = None
    while True:
        now = time.monotonic()
        seen = [counts(w.port) for w in started]
        located = sum(s.get("locations", 0) for s in seen)
        channeled = sum(s.get("channels.locations", 0) for s in seen)
        if located and first is None:
            first = shown = now
        if first is not None and now - shown >= 5:
            print(f"  {now - first:5.1f}s: location stage {located:,.0f}, channel stage {channeled:,.0f}", flush=True)
            shown = now
        if location_done is None and located >= end_offsets(deployment, deployment.settings.topic(topics.EVENTS)) >= events_total:
            location_done = now
        if location_done and channeled >= end_offsets(deployment, deployment.settings.topic(topics.LOCATIONS)):
            rss = sum(peak_rss_mib(w.process.pid) for w in started)
            return {"location_stage": events / (location_done - first), "pipeline": events / (now - first),
                    "peak_rss_mib": rss}
        time.sleep(0.2)


def records_written(deployment: Deployment) -> dict[str, int]:
    """Records on each of the deployment's topics but the input (changelogs included)."""
    admin = AdminClient(client_config(deployment.settings))
    names = [name for name in admin.list_topics(timeout=10).topics
             if name.startswith(deployment.prefix) and not name.startswith(deployment.prefix + "bench.")]
    counts = {name[len(deployment.prefix):]: end_offsets(deployment, name) for name in names}
    return {name: count for name, count in sorted(counts.items()) if count and name != topics.EVENTS}


def peak_rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["raw confluent-kafka", "bare Faust agent", "stockstream\nlocation stage", "stockstream\npipeline"]
    rates = [result["raw_per_second"], result["bare_faust_per_second"], result["location_stage_per_second"],
             result["pipeline_per_second"]]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    bars = axis.bar(names, rates, color=["#999999", "#5b8cc4", "#e3a23b", "#d2691e"])
    axis.set_yscale("log")
    axis.set_ylabel("events/s (log)")
    axis.set_title(f"{result['events']:,} events, {result['partitions']} partitions, {result['workers']} worker(s)")
    for bar, rate in zip(bars, rates):
        axis.annotate(f"{rate:,.0f}", (bar.get_x() + bar.get_width() / 2, rate), ha="center", va="bottom")
    figure.tight_layout()
    figure.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stockstream-ceiling-"))
    deployment = Deployment(root, partitions=args.partitions)
    deployment.env["STOCKSTREAM_LOG_LEVEL"] = "warning"
    try:
        apply_policies(deployment, root, POLICIES)
        print(f"filling {args.events:,} events ...", flush=True)
        fill(deployment, args.events, args.skus)
        total = end_offsets(deployment, deployment.settings.topic(topics.EVENTS))
        raw = raw_passthrough(deployment, total)
        print(f"raw confluent-kafka: {raw:,.0f}/s", flush=True)
        bare = bare_faust(deployment, total, root)
        print(f"bare Faust agent: {bare:,.0f}/s", flush=True)
        ours = pipeline(deployment, args.events, args.workers)
        written = records_written(deployment)
        print("records written per event:", {name: round(count / args.events, 2) for name, count in written.items()},
              flush=True)
    finally:
        deployment.close()
    result = {
        "events": args.events, "partitions": args.partitions, "workers": args.workers,
        "raw_per_second": round(raw), "bare_faust_per_second": round(bare),
        "location_stage_per_second": round(ours["location_stage"]), "pipeline_per_second": round(ours["pipeline"]),
        "pipeline_to_bare_faust": round(ours["pipeline"] / bare, 3),
        "location_stage_to_bare_faust": round(ours["location_stage"] / bare, 3),
        "pipeline_to_raw": round(ours["pipeline"] / raw, 5), "peak_rss_mib": ours["peak_rss_mib"],
        "records_written_per_event": {name: round(count / args.events, 3) for name, count in written.items()},
    }
    save("ceiling", result)
    RESULTS.mkdir(exist_ok=True)
    chart(result, RESULTS / f"ceiling-{int(time.time())}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
