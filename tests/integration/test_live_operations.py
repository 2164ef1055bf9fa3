"""Run like production (issue 7): policies applied to running workers, load from the second a
worker is healthy, workers joining mid-load, clients retrying. Nothing answers 500, nothing
stalls, nothing oversells."""

from __future__ import annotations

import threading
import time

from streams.app import topics
from streams.testing.clients import apply_policies, call, post, receipts, reserve, run_storm, setup
from streams.testing.deployment import wait_for

REQUESTS, CLIENTS, STOCK = 1000, 50, 100
REPUBLISH_BOUND_SECONDS = 20  # README: a policy change reaches every SKU of a partition in this


class Poller:
    """Reads a path over and over on some workers while something else happens; every status."""

    def __init__(self, ports: list[int], paths: list[str]) -> None:
        self.ports, self.paths = ports, paths
        self.statuses: list[tuple[int, bool]] = []  # (status, had Retry-After)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            status, body = call(self.ports[n % len(self.ports)], "GET", self.paths[n % len(self.paths)], timeout=15,
                                retry_seconds=0)
            self.statuses.append((status, "_retry_after" in body))
            n += 1
            time.sleep(0.02)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def seen(self) -> set[int]:
        return {status for status, _ in self.statuses}


def test_policies_applied_to_a_running_worker_never_break_reads_or_reservations(deployment, tmp_path):
    deployment.env["STOCKSTREAM_API_TOKENS"] = '{"it-token": {"client": "web-store", "scopes": ["reserve"]}}'
    worker = deployment.worker()
    with Poller([worker.port], ["/positions/SKU-R/DC1", "/availability/SKU-R"]) as reads:
        apply_policies(deployment, tmp_path)
        deployment.produce(receipts({"DC1": 10}))
        wait_for(lambda: worker.position("SKU-R", "DC1"), 30, "the receipt")
        assert post(worker.port, reserve("after-apply", 2))[0] == 201
        wait_for(lambda: worker.get("/availability/SKU-R")[0] == 200, 30, "availability")
    assert reads.seen() <= {200, 404}, reads.statuses


def test_reads_during_a_rebalance_answer_or_say_when_to_retry(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 10, "DC2": 10})
    first = deployment.worker("w1")
    wait_for(lambda: first.position("SKU-R", "DC2"), 60, "stock applied")
    with Poller([first.port], ["/positions/SKU-R/DC1", "/positions/SKU-R/DC2", "/availability/SKU-R"]) as reads:
        second = deployment.worker("w2")
        third = deployment.worker("w3")
        third.kill()  # leaves without a goodbye: the group notices after the session timeout
        wait_for(lambda: second.get("/health")[0] == 200 and first.get("/health")[0] == 200, 60, "stable again")
        time.sleep(1)
    assert reads.seen() <= {200, 503}, reads.statuses
    assert all(retry_after for status, retry_after in reads.statuses if status == 503)
    assert reads.statuses[-1][0] == 200  # answers resumed without a restart
    for worker in (first, second):
        assert worker.position("SKU-R", "DC1")["on_hand"] == 10


def test_a_live_policy_change_while_events_flow_reaches_every_sku_within_the_bound(deployment, tmp_path):
    skus = [f"SKU-{n:03d}" for n in range(200)]
    apply_policies(deployment, tmp_path, "channels:\n  amazon:\n    locations: [DC1]\n    publish_interval: 0.1\n")
    worker = deployment.worker()
    deployment.produce([r for sku in skus for r in receipts({"DC1": 10}, sku)])
    wait_for(lambda: len({d["sku"] for d in deployment.read(topics.CHANNEL_PREFIX + "amazon")}) == len(skus), 60,
             "every SKU on amazon")
    flowing = threading.Event()

    def events() -> None:  # more stock keeps arriving while the policy changes
        n = 0
        while not flowing.is_set():
            deployment.produce(receipts({"DC2": 1}, skus[n % len(skus)], prefix=f"flow{n}"))
            n += 1

    producer = threading.Thread(target=events, daemon=True)
    with Poller([worker.port], [f"/positions/{skus[7]}/DC1", f"/availability/{skus[9]}"]) as reads:
        producer.start()
        applied = time.monotonic()
        apply_policies(deployment, tmp_path,
                       "channels:\n  amazon:\n    locations: [DC1]\n    allocation_percent: 50\n    publish_interval: 0.1\n")

        def all_halved() -> bool:
            last = {d["sku"]: d["available"] for d in deployment.read(topics.CHANNEL_PREFIX + "amazon")}
            return all(last.get(sku) == 5 for sku in skus)

        wait_for(all_halved, REPUBLISH_BOUND_SECONDS, "every SKU republished with the new policy", interval=0.5)
        took = time.monotonic() - applied
        flowing.set()
        producer.join(30)
    assert reads.seen() <= {200}, reads.statuses
    print(f"republished {len(skus)} SKUs in {took:.1f}s")


def test_the_storm_right_after_a_fresh_worker_and_a_live_policy_apply(deployment, tmp_path):
    """1,000 single-unit reservations from 50 clients for 100 units, starting the moment a fresh
    worker is healthy and its policies were applied live, a second worker joining mid-storm."""
    report = run_storm(deployment, tmp_path, REQUESTS, CLIENTS, STOCK)
    storm = report.storm
    assert report.joined_healthy < report.seconds - 1  # the second worker joined while the storm went on
    assert len(storm.final) == REQUESTS, f"{REQUESTS - len(storm.final)} requests never got 201/409"
    assert 500 not in storm.seen() and storm.seen() <= {201, 409, 503, 0}
    assert len(storm.with_status(201)) == STOCK and len(storm.with_status(409)) == REQUESTS - STOCK
    assert max(storm.took.values()) < 60
    first, second = report.workers
    assert first.position("SKU-R", "DC1")["reserved"] == STOCK
    for n in storm.with_status(201):
        for worker in (first, second):
            status, held = call(worker.port, "GET", f"/reservations/storm-{n}")
            assert status == 200 and held["state"] == "open", (n, held)
    print(f"storm: {REQUESTS} requests in {report.seconds:.1f}s, slowest answered after "
          f"{max(storm.took.values()):.1f}s, statuses seen {sorted(storm.seen())}")
