"""The verifier on the real broker: a clean run is ALL-POSITIONS-MATCH, and the three anomaly
classes planted on real topics, as a faulty engine would have written them, are each found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.app import topics
from streams.cli import simulate
from streams.testing.deployment import BOOTSTRAP, wait_for
from streams.wire.codec import cli_codec
from tests.chaos.channels_reference import location_ats
from tests.chaos.harness import PUBLISH_INTERVAL, prepare, wait_caught_up
from tests.chaos.verifier import verify, verify_settled

AT = "2026-11-25T12:00:00Z"
ROOT = Path(__file__).resolve().parents[2]


def receipt(event_id: str, sku: str, location: str, qty: int) -> dict:
    return {"event_id": event_id, "type": "Receipt", "sku": sku, "location": location, "qty": qty,
            "source": "wms", "occurred_at": AT}


def test_a_clean_run_matches_and_planted_anomalies_are_found(deployment, tmp_path):
    prepare(deployment, tmp_path, skus=4)
    worker = deployment.worker("w1")
    records = list(simulate.events(seed=5, count=2000, skus=4, locations=3))
    deployment.produce(records)
    wait_caught_up(deployment, 90)

    verdict = verify_settled(deployment.prefix, BOOTSTRAP, worker.port, settle_seconds=10 * PUBLISH_INTERVAL + 10)
    print(verdict.report())
    assert verdict.ok, verdict.report()
    assert verdict.records > len(records)  # the engine's own: inbound halves of transfers
    assert (verdict.positions, verdict.skus, verdict.channels) == (12, 5, ("amazon", "web"))  # 4 SKUs and the kit
    command = [sys.executable, "-m", "tests.chaos.verifier", "--prefix", deployment.prefix, "--bootstrap", BOOTSTRAP,
               "--worker-port", str(worker.port)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ALL-POSITIONS-MATCH: 12 positions"), done.stdout + done.stderr

    # A duplicate: an event the engine applies, whose location record is then published as if
    # it had been applied twice.
    deployment.produce([receipt("planted-twice", "SKU-1", "WH2", 4)])
    applied = wait_for(lambda: next((r for r in deployment.read(topics.LOCATIONS) if r["event_id"] == "planted-twice"), None),
                       30, "planted-twice applied")
    worker.stop()
    twice = {**applied, "on_hand": applied["on_hand"] + 4, "version": applied["version"] + 1}
    twice["ats"] = location_ats(twice, applied["safety_stock"])
    # A lost write: an event on the log that no worker will apply.
    deployment.produce([receipt("planted-lost", "SKU-0", "WH1", 7)])
    # A version going backwards: an older delta of a SKU published again after newer ones.
    web = [d for d in deployment.read(topics.CHANNEL_PREFIX + "web") if d["sku"] == "SKU-2"]
    older = {**web[-1], "version": web[-1]["version"] - 1, "available": web[-1]["available"] + 1}
    codec = cli_codec()
    deployment.produce_raw([(b"SKU-1", codec.encode("LocationAvailability", twice))], topics.LOCATIONS)
    deployment.produce_raw([(b"SKU-2", codec.encode("AvailabilityDelta", older))], topics.CHANNEL_PREFIX + "web")

    found = verify(deployment.prefix, BOOTSTRAP, worker_port=None)
    report = found.report()
    print(report)
    assert report.startswith("DIFFERENCES:")
    assert dict(found.lost_writes) == {"availability.locations": 1}
    assert "availability.locations SKU-0@WH1: on_hand" in report and "exactly the fold without event planted-lost" in report
    assert dict(found.duplicates_applied) == {"availability.locations": 1}
    assert "exactly the fold with event planted-twice applied twice" in report
    assert dict(found.non_monotonic) == {"availability.web": 1}
    assert f"availability.web SKU-2: version {older['version']} after {web[-1]['version']}" in report
    assert not found.diverged
