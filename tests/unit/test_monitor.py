"""The worker's monitor is the lean one, and it still feeds Faust's stalled-stream check."""

from __future__ import annotations

from faust.types import TP

from streams.app import app
from streams.app.monitor import LeanMonitor


def test_the_app_monitors_with_the_lean_monitor():
    assert isinstance(app.monitor, LeanMonitor)


def test_a_stream_event_marks_its_partition_s_inbound_time_and_nothing_per_record_else():
    monitor = LeanMonitor()
    tp = TP("inventory.events", 3)
    monitor.on_message_in(tp, 7, object())
    monitor.on_stream_event_in(tp, 7, object(), object())
    monitor.on_table_set(object(), b"k", b"v")
    assert tp in monitor.stream_inbound_time  # read by faust's verify_event_path
    assert monitor.messages_received_total == 0 and monitor.events_total == 0
    assert not monitor.tables


def test_a_commit_is_timed_into_the_commit_histogram():
    from prometheus_client import REGISTRY

    monitor = LeanMonitor()
    count = REGISTRY.get_sample_value("stockstream_commit_seconds_count")
    total = REGISTRY.get_sample_value("stockstream_commit_seconds_sum")
    state = monitor.on_commit_initiated(object())
    monitor.on_commit_completed(object(), state - 0.2)  # begun 0.2 s earlier
    assert REGISTRY.get_sample_value("stockstream_commit_seconds_count") == count + 1
    assert 0.2 <= REGISTRY.get_sample_value("stockstream_commit_seconds_sum") - total < 1


def test_consumer_lag_is_the_highwater_a_fetch_saw_minus_the_committed_offset():
    from prometheus_client import CollectorRegistry

    from streams.app.metrics import ConsumerLag

    class App:
        monitor = LeanMonitor()

    events, locations = TP("inventory.events", 0), TP("availability.locations", 1)
    App.monitor.track_tp_end_offset(events, 120)
    App.monitor.track_tp_end_offset(locations, 40)  # read, not committed yet: no figure
    App.monitor.on_tp_commit({events: 100})
    registry = CollectorRegistry()
    registry.register(ConsumerLag(App()))
    assert registry.get_sample_value("stockstream_consumer_lag_records",
                                     {"topic": "inventory.events", "partition": "0"}) == 20
    assert registry.get_sample_value("stockstream_consumer_lag_records",
                                     {"topic": "availability.locations", "partition": "1"}) is None
