"""The README's runbook for more partitions, as an operator runs it: a new deployment (its own
topic prefix, more partitions), the item master and the event log copied into it with
`consume --values | produce -`, a worker started on it, and every position the same as the
old deployment's. Keys move to other partitions; the order of each key's events does not."""

from __future__ import annotations

import subprocess

from streams.app import topics
from streams.cli import simulate
from streams.testing.deployment import STOCKSTREAM, Deployment, wait_for
from tables.position import BUCKETS


def copy(old: Deployment, new: Deployment, logical: str) -> None:
    consume = subprocess.Popen([STOCKSTREAM, "consume", logical, "--from-beginning", "--values", "--idle-timeout", "5"],
                               env=old.env, stdout=subprocess.PIPE)
    produce = subprocess.run([STOCKSTREAM, "produce", "-", "--topic", logical], env=new.env, stdin=consume.stdout,
                             capture_output=True, text=True, timeout=120)
    assert consume.wait(120) == 0
    assert produce.returncode == 0, produce.stderr


def test_a_copy_into_more_partitions_gives_the_same_positions(broker, tmp_path):
    (tmp_path / "old").mkdir(), (tmp_path / "new").mkdir()
    old = Deployment(tmp_path / "old", partitions=2)
    new = Deployment(tmp_path / "new", partitions=5)
    try:
        items = simulate.catalog(5)
        old.produce(items, topics.CATALOG)
        old.produce(simulate.events(seed=5, count=1500, skus=5, locations=3))
        before = old.worker()
        keys = [(i["sku"], f"WH{n}") for i in items for n in range(3)]
        wait_for(lambda: all(before.position(*key) for key in keys), 90, "the old deployment's positions")

        copy(old, new, topics.CATALOG)
        copy(old, new, topics.EVENTS)
        assert new.end_offsets(topics.EVENTS) == old.end_offsets(topics.EVENTS)
        after = new.worker()
        for sku, location in keys:
            want = {b: before.position(sku, location)[b] for b in BUCKETS}
            wait_for(lambda: {b: (after.position(sku, location) or {}).get(b) for b in BUCKETS} == want, 60,
                     f"{sku}@{location} in the new deployment to equal the old one's {want}")
    finally:
        old.close()
        new.close()
