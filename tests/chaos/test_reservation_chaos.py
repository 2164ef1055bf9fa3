"""Reservations when things break (issues 7 and 13): a worker killed before it answered; the
storm (1,000 clients' reservations for 100 units) with the owning worker SIGKILLed, or the
broker stopped for 10 s, mid-storm. Clients retry with the same reservation id; accepted never
exceeds stock, every 201 is still held afterwards, every request ends with 201, 409 or 503,
and the independent verifier finds the position equal to the fold of the log. (The broker
stopped for 70 s with clients asking is a fault of tests/chaos/test_faults.py.)"""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from aiokafka.partitioner import murmur2

from streams.app import topics
from streams.testing.clients import Storm, call, post, reserve, setup
from streams.testing.deployment import BOOTSTRAP, LocalBroker, wait_for
from tests.chaos.harness import record_result, wait_all_healthy
from tests.chaos.verifier import verify_settled


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


STORM_REQUESTS, STORM_STOCK, STORM_CLIENTS = 1000, 100, 50
KEY = b"SKU-R@DC1"


def owner_of(workers, partitions: int) -> int:
    """The index of the worker whose /health names the key's partition."""
    partition = (murmur2(KEY) & 0x7FFFFFFF) % partitions
    owners = [i for i, w in enumerate(workers) if partition in (w.get("/health")[1] or {}).get("partitions", [])]
    assert len(owners) == 1, f"partition {partition} owned by {owners}"
    return owners[0]


def storm_under(deployment, tmp_path, fault: str, inject) -> None:
    setup(deployment, tmp_path, {"DC1": STORM_STOCK})
    workers = [deployment.worker("w1", wait=False), deployment.worker("w2", wait=False)]
    wait_all_healthy(workers)
    wait_for(lambda: workers[0].position("SKU-R", "DC1"), 60, "stock applied")
    storm = Storm([w.port for w in workers], STORM_REQUESTS, STORM_CLIENTS, deadline_seconds=240, pace=0.1)
    timings: dict[str, float] = {}

    def trouble() -> None:
        wait_for(lambda: storm.answered >= STORM_STOCK // 2, 120, "the storm under way", interval=0.02)
        timings["fault"] = time.monotonic()
        timings["injected"] = inject(workers, storm)
        wait_all_healthy(workers)
        timings["health"] = time.monotonic() - timings["fault"]

    chaos = threading.Thread(target=trouble)
    chaos.start()
    started = time.monotonic()
    storm.run()
    chaos.join(300)
    accepted, rejected = storm.with_status(201), storm.with_status(409)
    verdict = verify_settled(deployment.prefix, BOOTSTRAP, workers[0].port, settle_seconds=20)
    position = workers[0].position("SKU-R", "DC1")
    not_held = [n for n in accepted if call(workers[0].port, "GET", f"/reservations/storm-{n}")[1].get("state") != "open"]
    record_result({
        "fault": fault, "requests": STORM_REQUESTS, "stock": STORM_STOCK, "clients": STORM_CLIENTS,
        "injected": [timings.get("injected")], "seconds_to_health": [round(timings.get("health", -1), 1)],
        "accepted": len(accepted), "rejected": len(rejected), "unanswered": STORM_REQUESTS - len(storm.final),
        "statuses_seen": sorted(storm.seen()), "storm_seconds": round(time.monotonic() - started, 1),
        "slowest_decision_seconds": round(max(storm.took.values()), 1), "reserved": position["reserved"],
        "not_held": len(not_held), "verdict": verdict.counts(),
    })
    print(verdict.report())
    assert len(storm.final) == STORM_REQUESTS, f"{STORM_REQUESTS - len(storm.final)} requests never got 201/409"
    # 0: no answer at all, from the worker while it was dead; never a 4xx other than 409, never a 500
    assert storm.seen() <= {201, 409, 503, 0}, storm.seen()
    assert len(accepted) <= STORM_STOCK and position["reserved"] == len(accepted), (len(accepted), position)
    assert not not_held, f"accepted, no longer held: {not_held[:10]}"
    assert verdict.ok, verdict.report()


def test_the_storm_with_the_owning_worker_sigkilled_mid_storm(deployment, tmp_path):
    def kill_the_owner(workers, storm) -> str:
        victim = owner_of(workers, deployment.settings.partitions)
        workers[victim].kill()
        workers[victim] = deployment.worker(f"w{victim + 1}-again", wait=False, disk=f"w{victim + 1}")
        storm.ports[victim] = workers[victim].port
        return f"SIGKILL the owner of {KEY.decode()} (w{victim + 1}) after {storm.answered} answers, restarted at once"
    storm_under(deployment, tmp_path, "reservation storm, the owning worker SIGKILLed", kill_the_owner)


def test_the_storm_with_the_broker_stopped_10s_mid_storm(deployment, tmp_path):
    def stop_the_broker(workers, storm) -> str:
        broker = LocalBroker()
        broker.stop()
        try:
            time.sleep(10)
        finally:
            broker.start()
        return f"broker stopped for 10s after {storm.answered} answers"
    storm_under(deployment, tmp_path, "reservation storm, the broker stopped for 10s", stop_the_broker)
