"""What the fault tests share: the policies and catalog of their deployment, a stream produced
while faults are injected, the engine's lag, and where each fault's results go."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from typing import Any, Sequence

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from streams.app import topics
from streams.cli import simulate
from streams.cli.kafka import client_config, encode_lines
from streams.testing.clients import apply_policies
from streams.testing.deployment import Deployment, Worker, wait_for

# Two channels that share WH1 and WH2, so ring fences, buffers, caps, floors, incoming and a
# per-SKU override all take part in every SKU's numbers; increases go out within 0.5 s.
POLICIES = """
locations:
  WH0: {safety_stock: 1}
channels:
  web:
    locations: [WH0, WH1, WH2]
    buffer: 2
    ring_fence: 3
    publish_interval: 0.5
  amazon:
    locations: [WH1, WH2]
    allocation_percent: 50
    max_qty: 40
    floor: 3
    include_incoming: true
    publish_interval: 0.5
    overrides: {SKU-1: {max_qty: 10}}
"""
PUBLISH_INTERVAL = 0.5
# The same channels with other figures, applied to running workers mid-stream: every SKU is
# republished under them while events keep coming.
POLICIES_CHANGED = (POLICIES.replace("buffer: 2", "buffer: 0").replace("ring_fence: 3", "ring_fence: 1")
                    .replace("allocation_percent: 50", "allocation_percent: 80").replace("max_qty: 40", "max_qty: 25"))
KIT = {"sku": "KIT-1", "components": [{"sku": "SKU-0", "qty": 2}, {"sku": "SKU-1", "qty": 1}]}
STAGE_TOPICS = (topics.EVENTS, topics.LOCATIONS)  # the location stage's input, the channel stage's


def prepare(deployment: Deployment, root, skus: int) -> None:
    """Policies in force and the catalog (simulate's SKUs and a kit of two of them) on the log
    before any worker starts: the verifier folds with what is in force when it reads."""
    apply_policies(deployment, root, POLICIES)
    deployment.produce([*simulate.catalog(skus), KIT], topics.CATALOG)


def behind(deployment: Deployment, logical: Sequence[str] = STAGE_TOPICS,
           group: str | None = None) -> dict[str, tuple[int, int]]:
    """"topic[partition]" -> (committed, end) of every partition of these topics whose records
    the group (the workers', unless named) has not all committed."""
    # Asking for the group's offsets does not join it: nothing is taken from its members.
    consumer = Consumer({**client_config(deployment.settings), "group.id": group or deployment.settings.app_id,
                         "enable.auto.commit": False})
    try:
        out = {}
        for name in logical:
            topic = deployment.settings.topic(name)
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
                committed = tp.offset if tp.offset >= 0 else low  # never committed: from the start
                if committed < high:
                    out[f"{name}[{tp.partition}]"] = (committed, high)
        return out
    finally:
        consumer.close()


def lag_after(deployment: Deployment, timeout: float) -> dict[str, tuple[int, int]]:
    """Waits up to timeout for the workers' lag to reach 0; what is still behind then."""
    deadline = time.monotonic() + timeout
    while (left := behind(deployment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def wait_caught_up(deployment: Deployment, timeout: float) -> None:
    left = lag_after(deployment, timeout)
    assert not left, f"the workers' lag did not reach 0 in {timeout}s (committed, end): {left}"


def wait_all_healthy(workers: Sequence[Worker], timeout: float = 120, steady: float = 1.0) -> None:
    """Every worker answers /health 200, and still does `steady` seconds later: a worker that
    turned ready just before the group noticed a dead member would go 503 again."""
    since = None

    def healthy() -> bool:
        nonlocal since
        for worker in workers:
            assert worker.process and worker.process.poll() is None, f"{worker.name} exited:\n{worker.tail()}"
        if all(worker.get("/health")[0] == 200 for worker in workers):
            since = since or time.monotonic()
            return time.monotonic() - since >= steady
        since = None
        return False
    wait_for(healthy, timeout, f"{[w.name for w in workers]} healthy", interval=0.1)


class Stream(threading.Thread):
    """Produces records in batches, stopping at each mark until the fault meant for it has been
    injected (`fault_at` hands the mark over, `go_on` lets the stream resume): every fault lands
    with records produced before it and after it, also while the victim is down. A batch the
    broker did not take is produced again, as an upstream producer retries: the copies that
    did get through are duplicates the engine must recognise by event_id."""

    def __init__(self, deployment: Deployment, records: Sequence[dict[str, Any]], marks: Sequence[int],
                 batch: int = 100, pause: float = 0.05, retry_seconds: float = 240) -> None:
        super().__init__(daemon=True)
        self.deployment, self.records, self.marks = deployment, records, list(marks)
        self.batch, self.pause, self.retry_seconds = batch, pause, retry_seconds
        self.retried = 0  # batches produced again
        # One producer for the whole stream, as an upstream system has (the CLI's per call
        # would spend more on connecting than on 100 records); settings as `stockstream produce`.
        self.producer = Producer({**client_config(deployment.settings), "enable.idempotence": True, "linger.ms": 5,
                                  "partitioner": "murmur2_random"})
        self.topic = deployment.settings.topic(topics.EVENTS)
        self._reached: queue.Queue[int] = queue.Queue()
        self._resume = threading.Semaphore(0)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            sent = 0
            for mark in [*self.marks, len(self.records)]:
                while sent < mark:
                    chunk = self.records[sent:min(sent + self.batch, mark)]
                    self._produce(chunk)
                    sent += len(chunk)
                    time.sleep(self.pause)
                if mark in self.marks:
                    self._reached.put(mark)
                    self._resume.acquire()
        except BaseException as err:  # noqa: BLE001 - handed to the test by finish()
            self.error = err

    def _produce(self, chunk: Sequence[dict[str, Any]]) -> None:
        encoded, errors = encode_lines(((n, orjson.dumps(r).decode()) for n, r in enumerate(chunk)), topics.EVENTS)
        assert not errors, errors
        deadline = time.monotonic() + self.retry_seconds
        while True:
            failed: list[str] = []
            for _, key, value in encoded:
                self.producer.produce(self.topic, key=key, value=value,
                                      on_delivery=lambda err, _m: err is not None and failed.append(err.str()))
            left = self.producer.flush(60)
            if not left and not failed:
                return
            # Not all delivered (the broker away): the whole batch again, as upstream retries.
            assert time.monotonic() < deadline, f"{left} records undelivered, failures: {failed[:3]}"
            self.retried += 1
            time.sleep(1)

    def fault_at(self, timeout: float | None = None) -> int:
        """Waits until the stream stops at its next mark; that mark."""
        return self._reached.get(timeout=timeout or 120 + len(self.records) / 200)

    def go_on(self) -> None:
        self._resume.release()

    def finish(self, timeout: float | None = None) -> None:
        self.join(timeout or 300 + len(self.records) / 200)
        assert not self.is_alive(), "the stream did not finish"
        if self.error:
            raise self.error


def record_result(result: dict[str, Any]) -> None:
    """Printed always; with STOCKSTREAM_CHAOS_RESULTS=FILE also appended to FILE as one JSON
    line, from which `make chaos` writes its table."""
    print(f"\nfault result: {json.dumps(result, indent=1)}")
    path = os.environ.get("STOCKSTREAM_CHAOS_RESULTS")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(result) + "\n")
