"""A worker SIGKILLed mid-stream, restarted, ends with exactly the clean fold of its input:
nothing lost, nothing counted twice, whether it restarts on its own disk or on an empty one
(state rebuilt from the changelog).

The clean fold is computed twice: by tables.replay.fold (the engine's own model.apply, so it
checks the plumbing) and by tests/reference/inventory.py, written from DESIGN §3 without the
engine's model (so a model bug that the engine and replay.fold share cannot pass)."""

from __future__ import annotations

import time

from streams.cli import simulate

from streams.app import topics
from streams.wire.records import parse_time
from tables.position import BUCKETS
from tables.replay import fold
from streams.testing.deployment import wait_for
from tests.reference import inventory as reference

FIELDS = (*BUCKETS, "safety_stock", "ats")


def _both_folds(records, catalog, safety_stock=lambda location, sku: 0) -> dict[str, dict[str, int]]:
    """The clean fold of records, per SKU@LOCATION: replay.fold's figures, checked against the
    independent reference's first."""
    parsed = [{**r, "occurred_at": parse_time("occurred_at", r["occurred_at"])} for r in records]
    engine_model = fold(parsed, catalog, safety_stock=safety_stock)
    independent = reference.fold(parsed, catalog, safety_stock=safety_stock)
    assert engine_model.keys() == independent.keys()
    out = {}
    for key, position in engine_model.items():
        figures = {f: getattr(position, f) if f != "ats" else position.ats for f in FIELDS}
        assert figures == independent[key].view(), (
            f"{key}: tables.replay.fold (the engine's model) {figures} != the DESIGN §3 "
            f"reference {independent[key].view()}")
        out[key] = figures
    return out


def test_killed_workers_end_with_the_clean_fold(deployment):
    items = simulate.catalog(4)
    records = list(simulate.events(seed=11, count=12_000, skus=4, locations=3))
    first, second, third = records[:6000], records[6000:9000], records[9000:]
    deployment.produce(items, topics.CATALOG)
    deployment.produce(first)

    worker = deployment.worker("w1")
    killed_at = _kill_mid_stream(deployment, worker, progress=600)

    # Upstream retries of what was sent just before the crash, then more traffic.
    resent = first[-150:]
    deployment.produce(resent + second)
    worker = deployment.worker("w1-restarted", disk="w1")
    _kill_mid_stream(deployment, worker, progress=killed_at + 600)

    # The third life starts on an empty disk: every position comes back from the changelog.
    deployment.produce(third + second[-100:])
    survivor = deployment.worker("w-fresh-disk")

    sent = first + resent + second + third + second[-100:]
    expected = _both_folds(sent, {i["sku"]: i for i in items})
    assert len(expected) == 12
    for key, want in expected.items():
        sku, location = key.split("@")

        def current():
            found = survivor.position(sku, location)
            return found if found and {f: found[f] for f in FIELDS} == want else None
        try:
            wait_for(current, 90, f"{key} to equal the clean fold")
        except AssertionError:
            found = survivor.position(sku, location)
            raise AssertionError(f"{key}: engine {found} != fold {want}\n{survivor.tail()}") from None


def _kill_mid_stream(deployment, worker, progress: int) -> int:
    """SIGKILL the worker once it has published `progress` availability records."""
    published = wait_for(lambda: (n := deployment.end_offsets(topics.LOCATIONS)) >= progress and n,
                         60, f"{progress} availability records", interval=0.05)
    worker.kill()
    time.sleep(0.5)
    after = deployment.end_offsets(topics.LOCATIONS)
    return max(published, after)


CHANNEL_POLICIES = """
locations:
  WH0: {safety_stock: 1}
channels:
  web:
    locations: [WH0, WH1, WH2]
    buffer: 2
    publish_interval: 0.5
"""


def test_a_killed_worker_leaves_every_channel_showing_the_clean_fold(deployment, tmp_path):
    import subprocess

    from tables import channels
    from tables.channels import LocationStock
    from tables.policy import parse_policies
    from streams.testing.deployment import STOCKSTREAM
    import yaml

    (tmp_path / "policies.yaml").write_text(CHANNEL_POLICIES)
    done = subprocess.run([STOCKSTREAM, "policies", "apply", str(tmp_path / "policies.yaml")],
                          env=deployment.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    items = simulate.catalog(6)
    records = list(simulate.events(seed=3, count=6000, skus=6, locations=3))
    deployment.produce(items, topics.CATALOG)
    deployment.produce(records)
    worker = deployment.worker("w1")
    wait_for(lambda: deployment.end_offsets(topics.LOCATIONS) >= 1500 and deployment.end_offsets(
        topics.CHANNEL_PREFIX + "web") >= 5, 60, "both stages busy", interval=0.05)
    worker.kill()
    deployment.worker("w1-restarted", disk="w1")

    policies = parse_policies(yaml.safe_load(CHANNEL_POLICIES))
    folded = _both_folds(records, {i["sku"]: i for i in items}, safety_stock=policies.safety_stock)
    expected = {}
    for item in items:
        stock = {key.split("@")[1]: LocationStock(**{b: figures[b] for b in BUCKETS})
                 for key, figures in folded.items() if key.split("@")[0] == item["sku"]}
        expected[item["sku"]] = channels.available(item["sku"], policies.channels["web"], policies, stock)

    def settled():
        by_sku: dict[str, list[dict]] = {}
        for delta in deployment.read(topics.CHANNEL_PREFIX + "web"):
            by_sku.setdefault(delta["sku"], []).append(delta)
        return by_sku if all(by_sku.get(s, [{}])[-1].get("available") == v for s, v in expected.items()) else None

    by_sku = wait_for(settled, 90, f"every SKU's last web delta to equal the fold {expected}")
    for sku, deltas in by_sku.items():
        seen: dict[int, int] = {}
        for delta in deltas:  # a version sent again after the crash carries the same value
            assert seen.setdefault(delta["version"], delta["available"]) == delta["available"], sku
        # Versions only grow. A delta superseded while a worker died may be missing (the
        # values are absolute: the latest is the truth), never one sent out of order.
        versions = [d["version"] for d in deltas]
        assert versions == sorted(versions), f"{sku}: versions out of order {versions}"
