"""Faust's Monitor, kept to what the worker reads of it.

Faust calls its monitor about a dozen times per record (in and out of the consumer, the
stream and the producer, every table read and write), each call updating counters, deques
and string-keyed dicts nobody here reads (Faust's own web views are off). This one keeps the
time a partition last fed a stream, which Faust's "stream stopped processing" check reads,
and the commit and offset figures its consumer reports (a few calls per commit, not per record):
each commit's time goes to stockstream_commit_seconds, the offsets to the consumer lag
(streams/app/metrics.py ConsumerLag); and each record's acknowledgement to the delivery
ledger (streams/app/delivery.py).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors import Monitor

from streams.app.delivery import ledger
from streams.app.metrics import COMMIT_SECONDS


class LeanMonitor(Monitor):
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        # Every stream is done with the record. Faust's compiled stream path acknowledges a
        # record without calling Consumer.ack, but always calls this.
        ledger.acked(message)

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass

    def on_table_del(self, table: Any, key: Any) -> None:
        pass

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        pass

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        COMMIT_SECONDS.observe(self.time() - state)  # state: on_commit_initiated's time
