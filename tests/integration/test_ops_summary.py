"""GET /ops/summary with two workers on the real broker: either one answers for the whole
deployment. Dead letters land on both (each owns some partitions of inventory.events), so the
counts by reason are only whole once a worker adds the other's counters to its own."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from streams.testing.deployment import wait_for

BAD = 24  # undecodable records, keyed over every partition


def dead_letters_counted_by(worker) -> int:
    status, text = worker.get("/metrics")
    assert status == 200
    return int(sum(s.value for f in text_string_to_metric_families(text) if f.name == "stockstream_dead_letters"
                   for s in f.samples if s.name == "stockstream_dead_letters_total"))


def test_any_worker_answers_for_the_deployment(deployment):
    first, second = deployment.worker("w1"), deployment.worker("w2")
    deployment.produce_raw([(f"SKU-{n}@DC1".encode(), b"not avro") for n in range(BAD)])

    def whole(worker):
        status, summary = worker.get("/ops/summary")
        letters = summary.get("dead_letters", {}) if status == 200 else {}
        counted = sum(r["count"] for r in letters.get("by_reason", []))
        return summary if letters.get("records") == BAD and counted == BAD and letters["workers"]["counted"] == 2 \
            and not letters["workers"]["unreachable"] else None

    answers = [wait_for(lambda w=w: whole(w), 60, f"{w.name}'s summary to count all {BAD}") for w in (first, second)]
    # Each worker processed only its own partitions: the totals above are sums, not one worker's.
    mine = [dead_letters_counted_by(w) for w in (first, second)]
    assert sum(mine) == BAD and all(0 < n < BAD for n in mine), mine
    for summary in answers:
        assert summary["dead_letters"]["by_reason"] == [{"stage": "locations", "reason": "decode", "count": BAD}]
        latest = summary["dead_letters"]["latest"]
        assert len(latest) == 10 and all(one["reason"].startswith("value is not Avro") for one in latest)
        assert latest == sorted(latest, key=lambda one: one["failed_at"], reverse=True)

    # Built once per request burst and kept for a few seconds: cheap for a page left open.
    started = time.monotonic()
    assert first.get("/ops/summary")[0] == 200
    print(f"\n/ops/summary from the cache: {1000 * (time.monotonic() - started):.0f} ms")
    time.sleep(3.5)
    started = time.monotonic()
    assert first.get("/ops/summary")[0] == 200
    print(f"/ops/summary built: {1000 * (time.monotonic() - started):.0f} ms")
