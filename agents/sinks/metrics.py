"""A sink's metrics, served at /metrics by `stockstream sink run --metrics-port PORT`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENT = Counter("stockstream_sink_sent_total", "SKU values a sink sent to its channel", ["sink"])
ACKNOWLEDGED = Counter("stockstream_sink_acknowledged_total", "SKU values the channel took", ["sink"])
FAILED = Counter("stockstream_sink_failed_total", "SKU values not taken: retried, or refused for good (DLQ)",
                 ["sink", "outcome"])
BUDGET_USED = Counter("stockstream_sink_budget_used_total", "Budget units spent (requests; points for Shopify)",
                      ["sink"])
BACKLOG = Gauge("stockstream_sink_backlog_skus", "SKUs whose latest value the channel has not taken yet", ["sink"])
LAG = Gauge("stockstream_sink_lag_records", "Records on availability.<channel> not read yet", ["sink"])
SEND_SECONDS = Histogram("stockstream_sink_send_seconds", "Time of one call to the channel", ["sink"],
                         buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
DRIFT = Counter("stockstream_sink_drift_total", "Values found changed in the channel since we set them", ["sink"])
DEAD_LETTERS = Counter("stockstream_sink_dead_letters_total", "Records a sink sent to its DLQ (sinks.NAME.dlq): decode "
                       "(unreadable), refused (by the channel, for good)", ["sink", "reason"])


class SinkMetrics:
    """The children of one sink, looked up once."""

    def __init__(self, sink: str) -> None:
        self.sent, self.acknowledged = SENT.labels(sink), ACKNOWLEDGED.labels(sink)
        self.retried, self.refused = FAILED.labels(sink, "retried"), FAILED.labels(sink, "refused")
        self.budget_used, self.backlog, self.lag = BUDGET_USED.labels(sink), BACKLOG.labels(sink), LAG.labels(sink)
        self.send_seconds, self.drift = SEND_SECONDS.labels(sink), DRIFT.labels(sink)
        self.undecodable, self.dead_refused = DEAD_LETTERS.labels(sink, "decode"), DEAD_LETTERS.labels(sink, "refused")
