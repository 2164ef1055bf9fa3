"""streams.app.metrics.inc: the cached child counts into the same series as labels()."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from streams.app.metrics import inc


def test_inc_counts_into_the_labelled_series_and_keeps_series_apart():
    registry = CollectorRegistry()
    counter = Counter("t_events_total", "test", ["stage", "outcome"], registry=registry)
    for _ in range(3):
        inc(counter, "locations", "applied")
    inc(counter, "locations", "rejected")
    counter.labels("locations", "applied").inc()
    assert registry.get_sample_value("t_events_total", {"stage": "locations", "outcome": "applied"}) == 4
    assert registry.get_sample_value("t_events_total", {"stage": "locations", "outcome": "rejected"}) == 1
