"""The oversell storm (issue 4): 100 units, 1,000 concurrent single-unit reservations from
50 clients, a second worker joining in the middle (a rebalance). Clients retry a 503 with the
same reservation id. Exactly 100 are accepted, and none is lost when both workers restart."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.integration.harness import wait_for
from tests.integration.test_reservations import call, post, reserve, setup

REQUESTS, CLIENTS, STOCK = 1000, 50, 100


def test_the_storm_never_oversells(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": STOCK})
    first = deployment.worker("w1")
    wait_for(lambda: first.position("SKU-R", "DC1"), 60, "stock applied")
    ports = [first.port]
    answered = {"n": 0}
    lock = threading.Lock()

    def client(n: int) -> tuple[str, int]:
        rid = f"storm-{n}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status, _ = post(ports[n % len(ports)], reserve(rid, 1))
            except OSError:
                status = 503  # a worker busy rebalancing may drop the connection
            if status in (201, 409):
                with lock:
                    answered["n"] += 1
                return rid, status
            time.sleep(0.2)
        return rid, 503

    def second_worker() -> None:
        wait_for(lambda: answered["n"] >= 100, 120, "the storm under way", interval=0.05)
        second = deployment.worker("w2", wait=False)
        second.wait_healthy()
        ports.append(second.port)

    joining = threading.Thread(target=second_worker)
    joining.start()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        outcomes = list(pool.map(client, range(REQUESTS)))
    joining.join()

    accepted = [rid for rid, status in outcomes if status == 201]
    assert [s for _, s in outcomes].count(503) == 0
    assert len(accepted) == STOCK
    assert len([s for _, s in outcomes if s == 409]) == REQUESTS - STOCK
    assert first.position("SKU-R", "DC1")["reserved"] == STOCK
    assert len(deployment.workers) == 2 and deployment.workers[1].get("/health")[0] == 200

    for worker in deployment.workers:
        worker.stop()
    again = [deployment.worker("w1-again", disk="w1"), deployment.worker("w2-again", disk="w2")]
    position = wait_for(lambda: again[0].position("SKU-R", "DC1"), 60, "the position after restarts")
    assert position["reserved"] == STOCK and position["ats"] == 0
    for rid in accepted:
        status, held = call(again[1].port, "GET", f"/reservations/{rid}")
        assert status == 200 and held["state"] == "open", (rid, held)
