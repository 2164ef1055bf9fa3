"""Reservations when things break (issue 7): a worker killed before it answered, a worker killed
and the broker frozen mid-storm, the broker stopped for a minute. Clients retry with the same
reservation id; nothing is held that GET and DELETE cannot find, and accepted is what
`reserved` rose by."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from streams.app import topics
from streams.testing.clients import Storm, call, post, reserve, setup
from streams.testing.deployment import LocalBroker, wait_for


def logged(deployment, logical: str, match) -> bool:
    return any(match(record) for record in deployment.read(logical))


def ask_logged(deployment, reference: str) -> bool:
    return logged(deployment, topics.EVENTS,
                  lambda e: e["type"] == "ReserveRequested" and e["reservation_id"] == reference)


def request_logged(deployment, reference: str) -> bool:
    return logged(deployment, topics.RESERVATIONS,
                  lambda m: m.key() == reference.encode() and orjson.loads(m.value())["kind"] == "request")


@pytest.mark.parametrize("moment", ["request logged", "ask logged"])
def test_a_worker_killed_before_it_answered_leaves_a_reservation_found_and_releasable(deployment, tmp_path, moment):
    setup(deployment, tmp_path, {"DC1": 10})
    first = deployment.worker("w1")
    wait_for(lambda: first.position("SKU-R", "DC1"), 60, "stock applied")
    reference = "web-store/k1"
    answered: list = []
    client = threading.Thread(target=lambda: answered.append(post(first.port, reserve("k1", 4))))
    client.start()
    reached = request_logged if moment == "request logged" else ask_logged
    wait_for(lambda: reached(deployment, reference), 30, moment, interval=0.02)
    first.kill()
    client.join(30)

    second = deployment.worker("w2")  # a fresh disk: all it knows comes from the changelogs
    status, body = wait_for(lambda: (r := post(second.port, reserve("k1", 4)))[0] in (201, 409) and r, 60,
                            "the retry's answer")
    assert status == 201 and body["allocations"] == [{"location": "DC1", "qty": 4}]
    if answered and answered[0][0] == 201:
        assert answered[0][1] == body  # if the first one got through, the retry got the same
    assert second.position("SKU-R", "DC1")["reserved"] == 4
    status, held = call(second.port, "GET", "/reservations/k1")
    assert status == 200 and held["state"] == "open"
    assert call(second.port, "DELETE", "/reservations/k1")[0] == 200
    assert second.position("SKU-R", "DC1")["reserved"] == 0


def test_a_storm_across_two_workers_with_one_killed_and_the_broker_frozen(deployment, tmp_path):
    requests, stock = 600, 400
    setup(deployment, tmp_path, {"DC1": stock})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: first.position("SKU-R", "DC1"), 60, "stock applied")
    storm = Storm([first.port, second.port], requests, 40, deadline_seconds=180)
    broker = LocalBroker()

    def chaos() -> None:
        wait_for(lambda: storm.answered >= 120, 120, "the storm under way", interval=0.05)
        second.kill()
        restarted = deployment.worker("w2-again", wait=False, disk="w2")
        wait_for(lambda: storm.answered >= 250, 120, "the storm going on", interval=0.05)
        broker.pause(10)
        restarted.wait_healthy(120)
        storm.ports.append(restarted.port)

    trouble = threading.Thread(target=chaos)
    trouble.start()
    started = time.monotonic()
    storm.run()
    took = time.monotonic() - started
    trouble.join(300)
    print(f"chaos storm: {requests} requests in {took:.1f}s, statuses seen {sorted(storm.seen())}, "
          f"slowest answered after {max(storm.took.values()):.1f}s")

    assert len(storm.final) == requests, f"{requests - len(storm.final)} requests never got 201/409"
    assert storm.seen() <= {201, 409, 503, 0}, storm.seen()  # no valid request got a 4xx other than 409
    accepted = storm.with_status(201)
    worker = deployment.workers[-1]
    position = wait_for(lambda: worker.position("SKU-R", "DC1"), 60, "the position")
    assert position["reserved"] == len(accepted) == stock
    for n in accepted:
        status, held = call(worker.port, "GET", f"/reservations/storm-{n}")
        assert status == 200 and held["state"] == "open" and held["qty"] == 1


def test_the_broker_away_for_a_minute_gets_503s_in_time_and_leaves_nothing_half_done(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 50})
    worker = deployment.worker("w1")
    wait_for(lambda: worker.position("SKU-R", "DC1"), 60, "stock applied")
    assert post(worker.port, reserve("before", 5))[0] == 201
    broker = LocalBroker()
    broker.stop()
    try:
        stopped = time.monotonic()
        outage: list[tuple[int, float]] = []
        n = 0
        while time.monotonic() - stopped < 60:
            started = time.monotonic()
            status, body = post(worker.port, reserve(f"during-{n}", 1), retry_seconds=0)
            outage.append((status, time.monotonic() - started))
            assert status == 503 and body["_retry_after"], (status, body)
            n += 1
            time.sleep(2)
        health = worker.get("/health")[0]
    finally:
        broker.start()
    assert health == 503
    slowest = max(took for _, took in outage)
    assert slowest < 11  # within the request timeout (10 s)
    print(f"broker away: {len(outage)} requests answered 503, the slowest in {slowest:.2f}s")
    worker.wait_healthy(120)  # the same process: it resumes by itself
    assert worker.process.poll() is None
    assert post(worker.port, reserve("after", 2))[0] == 201
    decided = {}
    for i in range(n):  # clients retry what got a 503
        status, _ = wait_for(lambda: (r := post(worker.port, reserve(f"during-{i}", 1)))[0] in (201, 409) and r, 60,
                             f"a decision for during-{i}")
        decided[i] = status
    held = 5 + 2 + sum(1 for status in decided.values() if status == 201)
    assert worker.position("SKU-R", "DC1")["reserved"] == held
