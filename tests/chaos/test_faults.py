"""Faults injected while a seeded random stream is produced (issue 13), each judged by the
independent verifier (tests/chaos/verifier.py): every position, location record and channel
value must equal the fold of the log, with no anomaly, and the workers' lag must reach 0.
The steps of a run are in tests/chaos/scenario.py.

The short forms run in `make test`; STOCKSTREAM_CHAOS_EVENTS sets the stream's length (make
chaos: 100,000), STOCKSTREAM_CHAOS_RESULTS a file each fault's results are appended to.
"""

from __future__ import annotations

import json
import time

import pytest

from streams.testing.clients import TOKEN, TOKENS, call, post, reserve
from streams.testing.deployment import Deployment, wait_for
from tests.chaos import upstream
from tests.chaos.harness import POLICIES_CHANGED, wait_caught_up
from tests.chaos.scenario import EVENTS, LOCATIONS, SKUS, Scenario

# Enough SKUs that a position sees fewer events than its dedupe window (200) in any run: a
# retry is recognised by id only among its position's last 200.
SKU_COUNT = max(SKUS, EVENTS // 400)
BROKER_OUTAGE_SECONDS = 70
REQUEST_TIMEOUT = 10  # STOCKSTREAM_REQUEST_TIMEOUT's default: an answer within it, 503 if need be


@pytest.fixture
def eight_partitions(broker, tmp_path):
    deployment = Deployment(tmp_path, partitions=8, env={"STOCKSTREAM_API_TOKENS": json.dumps({TOKEN: TOKENS[TOKEN]})})
    yield deployment
    deployment.close()


def stream(seed: int) -> list[dict]:
    return upstream.events(EVENTS, SKU_COUNT, LOCATIONS, seed)


def test_sigkill_three_times_mid_stream(eight_partitions, tmp_path):
    """w1, w2 (restarted on an empty disk: all it knows comes from the changelogs), w1 again."""
    run = Scenario(eight_partitions, tmp_path, skus=SKU_COUNT)
    run.run(stream(13), [run.kill("w1"), run.kill("w2", fresh_disk=True), run.kill("w1")])
    run.judge("SIGKILL a worker 3 times mid-stream", EVENTS)


def test_sigterm_rolling_restart_of_both_workers(eight_partitions, tmp_path):
    run = Scenario(eight_partitions, tmp_path, skus=SKU_COUNT)
    run.run(stream(14), [run.terminate("w1"), run.terminate("w2")])
    run.judge("SIGTERM rolling restart of both workers", EVENTS)


def test_a_worker_added_and_another_removed_while_producing(eight_partitions, tmp_path):
    """Between the two, other policies applied to the running workers: the channels must end
    on the new figures for every SKU."""
    run = Scenario(eight_partitions, tmp_path, skus=SKU_COUNT)
    run.run(stream(15), [run.add("w3"), run.apply_policies(POLICIES_CHANGED), run.remove("w1")])
    run.judge("a worker added, another removed, policies changed, while producing", EVENTS)


def test_the_broker_sigkilled_and_restarted(eight_partitions, tmp_path):
    run = Scenario(eight_partitions, tmp_path, skus=SKU_COUNT)
    run.run(stream(16), [Scenario.broker_killed()])
    run.judge("the broker SIGKILLed and restarted", EVENTS)


def test_the_broker_stopped_70s_while_producers_and_clients_retry(eight_partitions, tmp_path):
    """Producers retry their batches; reservation clients get a 503 within the request timeout
    while the broker is away, then retry with the same id until the engine decides."""
    run = Scenario(eight_partitions, tmp_path, skus=SKU_COUNT)
    asked: list[tuple[str, int, float]] = []  # id, status, seconds to the answer

    def clients() -> None:
        port, began = run.live()[0].port, time.monotonic()
        time.sleep(5)  # the workers notice first: a request then may not be a 503 yet
        while time.monotonic() - began < BROKER_OUTAGE_SECONDS - REQUEST_TIMEOUT - 5:
            n, started = len(asked), time.monotonic()
            status, body = post(port, reserve(f"outage-{n}", 1, location="WH0", sku="SKU-0"), retry_seconds=0)
            asked.append((f"outage-{n}", status, time.monotonic() - started))
            assert status == 503 and body["_retry_after"], (status, body)
            time.sleep(4)
    run.run(stream(17), [Scenario.broker_stopped(BROKER_OUTAGE_SECONDS, during=clients)])
    port = run.live()[0].port
    for rid, _, _ in asked:  # the same ids again, until each is decided
        status, _ = wait_for(lambda: (r := post(port, reserve(rid, 1, location="WH0", sku="SKU-0")))[0] in (201, 409)
                             and r, 60, f"a decision for {rid}")
        if status == 201:
            assert call(port, "GET", f"/reservations/{rid}")[1]["state"] == "open"
    slowest = max(took for _, _, took in asked)
    run.judge(f"the broker stopped for {BROKER_OUTAGE_SECONDS}s", EVENTS,
              requests_during_outage=len(asked), slowest_503_seconds=round(slowest, 2))
    assert len(asked) >= 5 and slowest < REQUEST_TIMEOUT + 1


def test_a_workers_local_state_wiped_between_restarts(eight_partitions, tmp_path):
    """One worker: every partition's tables come back from the changelogs alone, twice."""
    run = Scenario(eight_partitions, tmp_path, workers=("w1",), skus=SKU_COUNT)
    run.run(stream(18), [run.terminate("w1", wipe=True), run.terminate("w1", wipe=True)])
    run.judge("local RocksDB wiped between restarts", EVENTS)


def test_redelivered_events_and_a_block_produced_again_later(eight_partitions, tmp_path):
    """10 % of the records sent twice (a producer that lost its acknowledgement), and once the
    stream has been applied a block of 10 % of it produced again: nothing may change."""
    records = upstream.redelivered(stream(19), 0.10, seed=19)
    run = Scenario(eight_partitions, tmp_path, workers=("w1",), skus=SKU_COUNT)
    run.run(records, [])
    wait_caught_up(run.deployment, 30 + len(records) / 250)  # all applied: the figures the block must not move
    worker = run.live()[0]
    before = run.positions(worker)
    block = records[len(records) // 3:len(records) // 3 + len(records) // 10]
    run.last_fault = time.monotonic()
    run.deployment.produce(block)
    run.injected += [f"{len(records) - EVENTS} records sent twice, up to 20 records apart",
                     f"{len(block)} records produced again once the stream was applied"]
    run.judge("10 % redelivered, a block produced again later", len(records) + len(block),
              redelivered=len(records) - EVENTS, produced_again=len(block))
    assert run.positions(worker) == before, "the block produced again changed positions"


def test_stale_and_out_of_order_counts_from_two_sources(eight_partitions, tmp_path):
    records = upstream.with_stale_counts(stream(20), 0.2, SKU_COUNT, LOCATIONS, seed=20)
    run = Scenario(eight_partitions, tmp_path, workers=("w1",), skus=SKU_COUNT)
    run.injected.append(f"{len(records) - EVENTS} counts from two sources, a fifth without source_seq, "
                        "arriving in shuffled runs of four")
    run.run(records, [run.kill("w1")])
    run.judge("stale and out-of-order counts from two sources", len(records), counts=len(records) - EVENTS)
