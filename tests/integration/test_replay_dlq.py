"""`stockstream replay-dlq` on the engine's own DLQ: events refused for a unit the item master did
not know yet are sent back once the item master knows it, applied once, and a second replay
changes nothing (the events' ids are remembered)."""

from __future__ import annotations

import subprocess

from streams.app import topics
from streams.testing.deployment import STOCKSTREAM, wait_for
from tests.integration.test_webhook_sink import receipt


def replay(deployment, *args: str) -> str:
    done = subprocess.run([STOCKSTREAM, "replay-dlq", *args], env=deployment.env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def duplicates(worker) -> float:
    """Events the location stage took as repeats, from its metrics."""
    lines = worker.get("/metrics")[1].splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("stockstream_events_total{")
               and 'outcome="duplicate"' in line and 'stage="locations"' in line)


def test_refused_events_are_applied_once_however_often_they_are_replayed(deployment):
    worker = deployment.worker()
    cases = [{**receipt(n, "SKU-CASE", 2), "uom": "CS"} for n in range(3)]
    deployment.produce(cases + [receipt(9, "SKU-EACH", 5)])
    wait_for(lambda: len(deployment.read(topics.DLQ)) == 3, 60, "three dead letters")
    assert (worker.position("SKU-EACH", "WH1") or {}).get("on_hand") == 5
    assert worker.position("SKU-CASE", "WH1") is None

    assert "would replay 3" in replay(deployment, "--reason", "uom", "--dry-run")
    assert "replayed 0" in replay(deployment, "--reason", "no such reason")
    deployment.produce([{"sku": "SKU-CASE", "uoms": {"CS": 12}}], topics.CATALOG)
    wait_for(lambda: "replayed 3" in replay(deployment, "--reason", "uom")
             and (worker.position("SKU-CASE", "WH1") or {}).get("on_hand") == 72, 60,
             "the replayed cases applied once the item master knows the unit")

    version, seen = worker.position("SKU-CASE", "WH1")["version"], duplicates(worker)
    assert "replayed 3" in replay(deployment)
    wait_for(lambda: duplicates(worker) >= seen + 3, 30, "the second replay's events taken as duplicates")
    assert worker.position("SKU-CASE", "WH1")["on_hand"] == 72
    assert worker.position("SKU-CASE", "WH1")["version"] == version
