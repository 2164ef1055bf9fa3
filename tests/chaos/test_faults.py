"""Faults injected while a seeded random stream is produced (issue 13), each judged by the
independent verifier (tests/chaos/verifier.py): every position, location record and channel
value must equal the fold of the log, with no anomaly.

The short forms run in `make test`; STOCKSTREAM_CHAOS_EVENTS sets the stream's length (make
chaos: 100,000 and more), STOCKSTREAM_CHAOS_RESULTS a file each fault's results are appended to.
"""

from __future__ import annotations

import os
import time

import pytest

from streams.cli import simulate
from streams.testing.deployment import BOOTSTRAP, Deployment
from tests.chaos.harness import PUBLISH_INTERVAL, Stream, lag_after, prepare, record_result, wait_all_healthy
from tests.chaos.verifier import verify_settled

EVENTS = int(os.environ.get("STOCKSTREAM_CHAOS_EVENTS", "3000"))
SKUS, LOCATIONS, SEED = 6, 3, 13
# Two workers apply over 1,000 events/s: a stream's tail is applied within EVENTS / 500 s of its
# end, its pending increases go out within 10 intervals, and commits follow within Faust's commit
# interval (2.8 s).
SETTLE_SECONDS = 10 * PUBLISH_INTERVAL + 10 + EVENTS / 500
LAG_SECONDS = 20 + EVENTS / 500


@pytest.fixture
def two_workers_eight_partitions(broker, tmp_path):
    deployment = Deployment(tmp_path, partitions=8)
    yield deployment
    deployment.close()


def test_sigkill_three_times_mid_stream(two_workers_eight_partitions, tmp_path):
    """A worker SIGKILLed three times while the stream is produced (w1, w2, w1 again; the second
    restart on an empty disk, the others on their own), each restarted at once."""
    deployment = two_workers_eight_partitions
    started = time.monotonic()
    prepare(deployment, tmp_path, SKUS)
    workers = {"w1": deployment.worker("w1", wait=False), "w2": deployment.worker("w2", wait=False)}
    wait_all_healthy(list(workers.values()))
    disks = {"w1": "w1", "w2": "w2"}
    records = list(simulate.events(seed=SEED, count=EVENTS, skus=SKUS, locations=LOCATIONS))
    stream = Stream(deployment, records, marks=[EVENTS * k // 4 for k in (1, 2, 3)])
    stream.start()
    injected, to_health = [], []
    for kill, (victim, fresh_disk) in enumerate((("w1", False), ("w2", True), ("w1", False)), 1):
        mark = stream.fault_at()
        killed_at = time.monotonic()
        workers[victim].kill()
        if fresh_disk:
            disks[victim] = f"{victim}-{kill}"
        workers[victim] = deployment.worker(f"{victim}-{kill}", wait=False, disk=disks[victim])
        stream.go_on()  # the stream goes on while the victim is down
        wait_all_healthy(list(workers.values()))
        to_health.append(round(time.monotonic() - killed_at, 1))
        injected.append(f"SIGKILL {victim} after {mark} events, restarted on {'an empty' if fresh_disk else 'its own'} disk")
    stream.finish()
    # Everything the engine shows first (pending increases wait for their interval), then its
    # consumer group's lag: the records it applied must also be committed.
    verifying = time.monotonic()
    verdict = verify_settled(deployment.prefix, BOOTSTRAP, workers["w1"].port, settle_seconds=SETTLE_SECONDS)
    verified = round(time.monotonic() - verifying, 1)
    behind = lag_after(deployment, LAG_SECONDS)
    record_result({
        "fault": "SIGKILL a worker 3 times mid-stream (2 workers, 8 partitions)",
        "events": EVENTS, "injected": injected, "seconds_to_health": to_health,
        "seconds_last_kill_to_lag_0": round(time.monotonic() - killed_at, 1) if not behind else None,
        "lag_left": behind, "verifier_seconds": verified, "runtime_seconds": round(time.monotonic() - started, 1),
        "verdict": verdict.counts(),
    })
    print(verdict.report())
    assert verdict.ok, verdict.report()
    assert verdict.records >= EVENTS and verdict.positions == SKUS * LOCATIONS
    assert not behind, f"applied, but not committed after {LAG_SECONDS}s (topic, partition: committed, end): {behind}"
