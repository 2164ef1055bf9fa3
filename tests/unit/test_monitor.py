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
