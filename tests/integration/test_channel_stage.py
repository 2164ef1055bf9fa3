"""The channel stage on the real broker: policies in, per-channel deltas out, throttled."""

from __future__ import annotations

import subprocess
import time

from streams.app import topics
from streams.testing.deployment import STOCKSTREAM, wait_for

AT = "2026-11-25T10:00:00Z"
POLICIES = """
locations:
  DC1: {safety_stock: 2}
channels:
  amazon:
    locations: [DC1, DC2]
    buffer: 5
    allocation_percent: 50
    max_qty: 200
    floor: 3
  b2b:
    locations: [DC1, DC2]
    ring_fence: 20
  web:
    locations: [DC1]
    publish_interval: 2
"""


def event(event_id: str, kind: str, sku: str = "SKU-1", location: str = "DC1", **fields):
    return {"event_id": event_id, "type": kind, "sku": sku, "location": location,
            "source": "wms", "occurred_at": AT, **fields}


def apply_policies(deployment, tmp_path, text: str) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    done = subprocess.run([STOCKSTREAM, "policies", "apply", str(path)], env=deployment.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def deltas(deployment, channel: str, sku: str) -> list[dict]:
    return [d for d in deployment.read(topics.CHANNEL_PREFIX + channel) if d["sku"] == sku]


def last_value(deployment, channel: str, sku: str, value: int):
    found = deltas(deployment, channel, sku)
    return found if found and found[-1]["available"] == value else None


def test_events_become_channel_deltas_and_a_policy_change_republishes(deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    worker = deployment.worker()
    deployment.produce([
        event("a1", "Receipt", qty=100),
        event("a2", "Receipt", location="DC2", qty=30),
        event("a3", "ReserveRequested", location="DC2", qty=5, reservation_id="r1", channel="web", order_id="o1"),
    ])
    # pool 98 + 25 = 123; amazon: (123 - 5 - 20 fenced for b2b) * 50% = 49; b2b: 123;
    # web: DC1's 98 - 20 fenced for b2b (web shares DC1 with it) = 78
    for channel, value in (("amazon", 49), ("b2b", 123), ("web", 78)):
        found = wait_for(lambda: last_value(deployment, channel, "SKU-1", value), 30, f"{channel} = {value}")
        versions = [d["version"] for d in found]
        assert versions == list(range(1, len(versions) + 1))
        assert found[-1]["event_id"] in {"a1", "a2", "a3"}

    status, body = worker.get("/availability/SKU-1")
    assert status == 200
    assert {k: v["available"] for k, v in body["channels"].items()} == {"amazon": 49, "b2b": 123, "web": 78}
    status, steps = worker.get("/availability/SKU-1/explain?channel=amazon")
    assert status == 200
    assert (steps["pool"], steps["after_buffer"], steps["ring_fences"], steps["allocated"], steps["available"]) == \
        (123, 118, {"b2b": 20}, 49, 49)
    dc2 = next(loc for loc in steps["locations"] if loc["location"] == "DC2")
    assert dc2["position"]["reserved"] == 5 and dc2["position"]["event_id"] == "a3"
    assert worker.get("/availability/SKU-1/explain")[0] == 400
    assert worker.get("/availability/SKU-1/explain?channel=nope")[0] == 404
    assert worker.get("/availability/NEVER")[0] == 404

    # No new event: the policy change alone republishes. amazon buffer 25 -> (123-25-20)/2 = 39.
    apply_policies(deployment, tmp_path, POLICIES.replace("buffer: 5", "buffer: 25"))
    wait_for(lambda: last_value(deployment, "amazon", "SKU-1", 39), 30, "amazon republished at 39")


def test_increases_are_coalesced_and_decreases_go_out_at_once_in_order(deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    deployment.worker()
    # web shows on_hand - 2 (DC1 safety stock) - 20 (b2b's ring fence) throughout
    deployment.produce([event("s0", "Receipt", sku="HOT", qty=2022)])
    wait_for(lambda: last_value(deployment, "web", "HOT", 2000), 30, "the first value")

    burst, decreases, value = [], [], 2000
    for block in range(10):
        burst.append(event(f"d{block}", "Adjustment", sku="HOT", qty=-150, reason="damaged"))
        value -= 150
        decreases.append(value)
        for n in range(99):
            burst.append(event(f"i{block}-{n}", "Receipt", sku="HOT", qty=1))
            value += 1
    started = time.monotonic()
    deployment.produce(burst)
    found = wait_for(lambda: last_value(deployment, "web", "HOT", value), 60, f"the final value {value}")
    elapsed = time.monotonic() - started

    # Every decrease reached the topic, in order: each one lowered what the channel showed.
    assert [d["available"] for d in found[1:] if d["available"] < d["previous"]] == decreases
    increases = [d for d in found[1:] if d["available"] > d["previous"]]
    # Increases: at most one per 2 s interval, the last one the burst's final value.
    assert len(increases) <= elapsed / 2 + 1
    assert increases[-1]["available"] == value == 1490
    assert [d["version"] for d in found] == list(range(1, len(found) + 1))
    assert all(d["previous"] == p["available"] for p, d in zip(found, found[1:]))


def test_a_thousand_increases_in_one_interval_publish_once(deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES.replace("publish_interval: 2", "publish_interval: 5"))
    deployment.worker()
    deployment.produce([event("s0", "Receipt", sku="BUSY", qty=32)])
    wait_for(lambda: last_value(deployment, "web", "BUSY", 10), 30, "the first value")
    started = time.monotonic()
    deployment.produce([event(f"i{n}", "Receipt", sku="BUSY", qty=1) for n in range(1000)])
    found = wait_for(lambda: last_value(deployment, "web", "BUSY", 1010), 60, "the final value")
    elapsed = time.monotonic() - started
    # The first value, then one delta per 5 s interval the burst took to apply, the last final.
    assert 2 <= len(found) <= 2 + elapsed // 5, ([d["available"] for d in found], elapsed)


def test_a_kit_follows_its_components(deployment, tmp_path):
    deployment.produce([
        {"sku": "KIT-1", "components": [{"sku": "PART-A", "qty": 2}, {"sku": "PART-B", "qty": 1}]},
        {"sku": "PART-A"}, {"sku": "PART-B"},
    ], topics.CATALOG)
    apply_policies(deployment, tmp_path, POLICIES)
    deployment.worker()
    deployment.produce([event("k1", "Receipt", sku="PART-A", qty=32), event("k2", "Receipt", sku="PART-B", qty=25)])
    # web: PART-A 10, PART-B 3 (after safety stock 2 and b2b's fence 20) -> min(10 // 2, 3 // 1) = 3
    wait_for(lambda: last_value(deployment, "web", "KIT-1", 3), 30, "KIT-1 = 3 on web")
    deployment.produce([event("k3", "ShipmentPosted", sku="PART-A", qty=8)])  # PART-A 2 -> 1 kit
    wait_for(lambda: last_value(deployment, "web", "KIT-1", 1), 30, "KIT-1 = 1 on web")


def test_a_pending_increase_survives_a_restart(deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES.replace("publish_interval: 2", "publish_interval: 8"))
    first = deployment.worker("w1")
    deployment.produce([event("p1", "Receipt", sku="SLOW", qty=27)])
    wait_for(lambda: last_value(deployment, "web", "SLOW", 5), 30, "the first value")
    deployment.produce([event("p2", "Receipt", sku="SLOW", qty=5)])
    wait_for(lambda: first.get("/availability/SLOW")[1]["channels"]["web"]["pending"] == 10, 30, "pending 10")
    first.stop()
    assert deltas(deployment, "web", "SLOW")[-1]["available"] == 5
    deployment.worker("w2")  # a new disk: the pending increase comes back from the changelog
    found = wait_for(lambda: last_value(deployment, "web", "SLOW", 10), 60, "the pending 10 published")
    assert [d["available"] for d in found] == [5, 10]
