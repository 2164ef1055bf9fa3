"""A worker SIGKILLed mid-stream, restarted, ends with exactly the clean fold of its input:
nothing lost, nothing counted twice, whether it restarts on its own disk or on an empty one
(state rebuilt from the changelog)."""

from __future__ import annotations

import time

from streams import simulate, topics
from streams.records import parse_time
from tables.position import BUCKETS
from tables.replay import fold
from tests.integration.harness import wait_for

FIELDS = (*BUCKETS, "safety_stock", "ats")


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
    expected = fold([{**r, "occurred_at": parse_time("occurred_at", r["occurred_at"])} for r in sent],
                    {i["sku"]: i for i in items})
    assert len(expected) == 12
    for key, position in expected.items():
        want = {f: getattr(position, f) if f != "ats" else position.ats for f in FIELDS}
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
