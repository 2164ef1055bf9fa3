"""Recovery: how long a worker holding N positions takes to answer /health 200 again, and its
peak memory (issue 9: <= 60 s and <= 500 MB with 1,000,000 positions).

    make bench                                            # 1,000,000 positions
    .venv/bin/python bench/recovery.py --positions 50000  # a quick run

Applying a million positions' events through inventory.events would take the engine some
twenty minutes, so the state is written straight into the positions table's changelog
(`<prefix>stockstream-positions-changelog`, Faust's `<app id>-<table>-changelog`), created
here with the table's partition count before any worker starts. Each record is what the
location agent writes: key SKU@LOCATION, value `Position.to_bytes()` (a few buckets set, the
ids of the last 1..--recent-ids events, the source mark of a count, the inventory.events
offset it applied), in the partition the engine gives the key (murmur2, as Kafka's default
partitioner: confluent-kafka's murmur2_random, checked against the engine's own function).

Then, on one worker:

1. wiped:   a worker on an empty disk rebuilds the table from its changelog; start -> /health 200.
2. killed:  that worker SIGKILLed and started again on the same disk; start -> /health 200.
            (The engine keeps a disk only across a clean stop, streams/app/local_state.py:
            after a kill it rebuilds from the changelog, so this is the wiped case plus the
            wait for the group to drop the dead member, STOCKSTREAM_SESSION_TIMEOUT.)
3. stopped: SIGTERM (timed), started again on the same disk: the local RocksDB is kept.

Each run's peak RSS is the worker's VmHWM (/proc/<pid>/status); after each, sampled
positions are read back over GET /positions and must equal what was written (the bench fails
otherwise; missing the targets is reported, not a failure). Phases (group joined, changelog
read) come from the worker's log at level info (Faust's recovery messages). Writes
bench/results/recovery-*.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2  # what streams/http/routing.py's partition_for uses
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import save  # noqa: E402 - bench/report.py
from streams.cli.kafka import client_config, wait_for_leaders  # noqa: E402
from streams.testing.deployment import Deployment, Worker  # noqa: E402
from tables import keys  # noqa: E402
from tables.position import Position  # noqa: E402

TARGET_SECONDS, TARGET_RSS_BYTES = 60, 500 * 10**6  # issue 9
SAMPLES = 50  # positions read back over HTTP after every start
NOW_MS = 1_790_000_000_000
# Faust's recovery messages (faust/tables/recovery.py) that mark the phases of a start.
PHASES = {
    "joined": "Joined group",
    "assigned": "Restoring state from changelog topics",
    "restored": "Done reading from changelog topics",
    "ready": "Worker ready",
}


def partition_for(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def position(rng: random.Random, n: int, sku: str, location: str, partition: int, recent_ids: int) -> Position:
    """A position as some events would have left it: the engine's own record type."""
    events = rng.randint(1, recent_ids)
    ids = [f"wms-{n * recent_ids + i:09d}" for i in range(events)]
    on_hand = rng.randint(0, 5000)
    reserved = rng.randint(0, on_hand // 4)
    counted_at = NOW_MS - rng.randint(0, 30 * 86_400_000)
    return Position(
        sku=sku, location=location, on_hand=on_hand,
        quarantined=rng.choice((0, 0, 0, rng.randint(1, 20))),
        held=rng.choice((0, 0, 0, 0, rng.randint(1, 50))),
        reserved=reserved, picked=rng.randint(0, reserved),
        incoming=rng.choice((0, 0, rng.randint(1, 1000))),
        version=events, last_event_id=ids[-1], last_correlation_id=f"po-{n}",
        updated_at=counted_at + rng.randint(0, 86_400_000),
        source_marks={"erp": [rng.randint(1, 10**6), counted_at]},
        offset=[partition, rng.randint(0, 10**7)],
        recent_ids=ids,
    )


def create_changelog(deployment: Deployment, partitions: int) -> str:
    """The positions table's changelog as Faust would create it (compacted, one partition per
    partition of the table), before any worker exists."""
    name = f"{deployment.settings.app_id}-positions-changelog"
    admin = AdminClient(client_config(deployment.settings))
    topic = NewTopic(name, num_partitions=partitions, replication_factor=deployment.settings.replication_factor,
                     config={"cleanup.policy": "compact"})
    for future in admin.create_topics([topic], request_timeout=30).values():
        future.result()
    wait_for_leaders(admin, [name])
    return name


def fill(deployment: Deployment, topic: str, count: int, partitions: int, locations: int,
         recent_ids: int) -> tuple[dict[tuple[str, str], dict[str, Any]], int]:
    """Writes count positions; returns the sampled ones' views and the bytes written."""
    rng = random.Random(9)
    skus = -(-count // locations)
    sampled = set(rng.sample(range(count), min(SAMPLES, count)))
    samples: dict[tuple[str, str], dict[str, Any]] = {}
    misplaced: list[str] = []
    producer = Producer({**client_config(deployment.settings), "partitioner": "murmur2_random",
                         "acks": "all", "linger.ms": 50, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 500_000, "queue.buffering.max.kbytes": 512 * 1024})

    def placed(err: Any, message: Any) -> None:
        if err is None and message.partition() != partition_for(message.key(), partitions):
            misplaced.append(message.key().decode())

    written = 0
    started = shown = time.monotonic()
    for n in range(count):
        sku, location = f"SKU-{n // locations:07d}", f"WH{n % locations}"
        key = keys.position(sku, location)
        partition = partition_for(key, partitions)
        value = position(rng, n, sku, location, partition, recent_ids).to_bytes()
        written += len(key) + len(value)
        check = None
        if n in sampled:
            samples[(sku, location)] = Position.from_bytes(value).view()
            check = placed
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=check)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        now = time.monotonic()
        if now - shown >= 10:
            print(f"  {n + 1:,} of {count:,} positions written ({(n + 1) / (now - started):,.0f}/s)", flush=True)
            shown = now
    assert producer.flush(120) == 0, "the changelog records were not all delivered"
    assert not misplaced, f"confluent-kafka's murmur2_random and the engine's murmur2 disagree on {misplaced[:5]}"
    print(f"  {count:,} positions ({skus:,} SKUs x {locations} locations) written in "
          f"{time.monotonic() - started:.1f}s, {written / count:,.0f} bytes per record", flush=True)
    return samples, written


def peak_rss_mib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0]) // 1024
    return found["VmHWM"], found["VmRSS"]


def phases(worker: Worker, started_wall: float) -> dict[str, float]:
    """Seconds from start to each of Faust's recovery messages (the last of each in this run's
    log; absent when the log level hides them)."""
    out: dict[str, float] = {}
    for raw in worker.log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)  # the worker logs JSON lines (STOCKSTREAM_LOG_FORMAT)
        except ValueError:
            continue
        for phase, text in PHASES.items():
            if text in line["message"]:
                at = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
                out[phase] = round(at - started_wall, 1)
    return out


def start(deployment: Deployment, name: str, disk: str, positions: int, timeout: float) -> tuple[Worker, dict[str, Any]]:
    """One worker started on disk and timed to /health 200."""
    worker = Worker(deployment, name, disk)
    deployment.workers.append(worker)
    wall, began = time.time(), time.monotonic()
    worker.start(wait=False)
    worker.wait_healthy(timeout)
    seconds = time.monotonic() - began
    peak, rss = peak_rss_mib(worker.process.pid)
    log = worker.log.read_text(errors="replace")
    run = {"seconds_to_health": round(seconds, 1), "peak_rss_mib": peak, "rss_at_health_mib": rss,
           "local_state_discarded": "the last stop was not clean" in log, **phases(worker, wall)}
    run["within_targets"] = seconds <= TARGET_SECONDS and peak * 1024**2 <= TARGET_RSS_BYTES
    if "assigned" in run and "restored" in run and run["restored"] > run["assigned"]:
        run["changelog_records_per_second"] = round(positions / (run["restored"] - run["assigned"]))
    print(f"  {name}: /health 200 after {seconds:.1f}s, peak RSS {peak} MiB", flush=True)
    return worker, run


def verify(worker: Worker, samples: dict[tuple[str, str], dict[str, Any]]) -> int:
    """Every sampled position read back must equal what was written; returns how many were read."""
    fields = ("on_hand", "quarantined", "damaged", "held", "reserved", "picked", "incoming", "ats", "version",
              "event_id", "correlation_id")
    wrong = []
    for (sku, location), expected in samples.items():
        got = worker.position(sku, location)
        if got is None or any(got.get(f) != expected[f] for f in fields):
            wrong.append((sku, location, got, {f: expected[f] for f in fields}))
    assert not wrong, f"{len(wrong)} of {len(samples)} positions differ after {worker.name}'s start: {wrong[:3]}"
    return len(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--locations", type=int, default=4)
    parser.add_argument("--recent-ids", type=int, default=20,
                        help="each position remembers the ids of its last 1..N events (the engine keeps up to 200)")
    parser.add_argument("--session-timeout", type=int, default=6,
                        help="STOCKSTREAM_SESSION_TIMEOUT of the workers (the engine's default is 30)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a start may take before the bench fails")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="stockstream-recovery-"))
    deployment = Deployment(root, partitions=args.partitions)
    deployment.env["STOCKSTREAM_SESSION_TIMEOUT"] = str(args.session_timeout)
    runs: dict[str, dict[str, Any]] = {}
    try:
        topic = create_changelog(deployment, args.partitions)
        print(f"writing {args.positions:,} positions to {topic} ...", flush=True)
        samples, written = fill(deployment, topic, args.positions, args.partitions, args.locations, args.recent_ids)

        worker, runs["wiped"] = start(deployment, "wiped", "wiped", args.positions, args.timeout)
        verify(worker, samples)
        worker.kill()
        worker, runs["killed"] = start(deployment, "killed", "wiped", args.positions, args.timeout)
        verify(worker, samples)
        began = time.monotonic()
        worker.stop()
        stopped = time.monotonic() - began
        clean = any(root.glob("wiped-data/**/stopped-cleanly"))
        worker, runs["stopped"] = start(deployment, "stopped", "wiped", args.positions, args.timeout)
        runs["stopped"].update(stop_seconds=round(stopped, 1), stop_was_clean=clean)
        verify(worker, samples)
        disk = sum(f.stat().st_size for f in (root / "wiped-data").rglob("*") if f.is_file())
    finally:
        deployment.close()
        for data in root.glob("*-data"):
            shutil.rmtree(data, ignore_errors=True)  # RocksDB: up to gigabytes; the logs stay

    print(f"\n{'start':<10}{'to /health 200':>16}{'group joined':>14}{'changelog read':>16}{'peak RSS':>12}"
          f"{'local state':>14}{'<= 60 s, 500 MB':>17}")
    for name, run in runs.items():
        kept = "discarded" if run["local_state_discarded"] else ("none" if name == "wiped" else "kept")
        joined = f"{run['joined']:.1f} s" if "joined" in run else "-"
        read = (f"{run['restored'] - run['assigned']:.1f} s" if "restored" in run and "assigned" in run else "-")
        print(f"{name:<10}{run['seconds_to_health']:>14.1f} s{joined:>14}{read:>16}{run['peak_rss_mib']:>8} MiB{kept:>14}"
              f"{'yes' if run['within_targets'] else 'no':>17}")
    print(f"logs in {root}")
    save("recovery", {
        "positions": args.positions, "partitions": args.partitions, "locations": args.locations,
        "recent_ids_max": args.recent_ids, "session_timeout": args.session_timeout,
        "changelog_bytes": written, "bytes_per_record": round(written / args.positions),
        "rocksdb_bytes_after": disk, "samples_verified_per_start": len(samples), **{
            f"{name}_{field}": value for name, run in runs.items() for field, value in run.items()},
        "targets": {"seconds_to_health": TARGET_SECONDS, "peak_rss_mb": TARGET_RSS_BYTES // 10**6},
        "engine": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                 text=True, check=False).stdout.strip(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
