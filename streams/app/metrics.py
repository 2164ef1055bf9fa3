"""Prometheus metrics, served at GET /metrics. Labels stay few: reasons are kinds, not texts."""

from typing import Any, Iterator

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

# type: the event type at the location stage (InventoryEvent's fixed set, "unknown" for a record
# that does not decode); empty at the other stages, which Prometheus reads as no label.
EVENTS = Counter("stockstream_events_total", "Records a stage processed, by outcome (and event type at the location "
                 "stage)", ["stage", "type", "outcome"])
NO_TYPE = ""
DEAD_LETTERS = Counter("stockstream_dead_letters_total", "Records sent to the DLQ", ["stage", "reason"])
FLAGS = Counter("stockstream_flags_total", "Applied events that need an operator's eye", ["flag"])
DELTAS = Counter("stockstream_deltas_total", "Availability deltas published", ["channel", "direction"])
REFUSED = Counter("stockstream_refused_total", "Records of catalog.items or inventory.policies refused (the value before "
                  "them stays in force)", ["topic", "reason"])
# Reconciliation (tables/reconcile.py): ERP snapshots that disagreed with the engine at their watermark.
DRIFT_RECORDS = Counter("stockstream_drift_records_total", "ERP snapshots that found drift, by what was done",
                        ["location", "action"])
DRIFT_UNITS = Counter("stockstream_drift_units_total", "Units of drift found: missing (ERP lower) or extra (ERP higher)",
                      ["location", "direction"])

RESERVATIONS = Counter("stockstream_reservations_total", "Reservations decided or closed at a position: accepted, "
                       "rejected (fewer units free than asked: accepting would have oversold), released, expired",
                       ["decision"])
# From milliseconds (a sell-out) to the 15 minutes of the batch sync this replaces.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
EVENT_TO_DELTA = Histogram("stockstream_event_to_delta_seconds", "From the event behind a published delta to its "
                           "publish: since it occurred (occurred_at) or since it reached Kafka (ingested); a coalesced "
                           "increase counts from its oldest change", ["channel", "since"], buckets=LATENCY_BUCKETS)
REBALANCES = Counter("stockstream_rebalances_total", "Partition assignments this worker received (one per rebalance)")
RECOVERY_SECONDS = Gauge("stockstream_recovery_seconds", "The latest assignment, from its arrival to its tables "
                         "recovered (the worker ready again)")
COMMIT_SECONDS = Histogram("stockstream_commit_seconds", "Offset commits, with the producer flush before each",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

_children: dict = {}


def _child(metric: Any, labels: tuple[str, ...]) -> Any:
    """metric.labels(*labels), kept: labels() takes a lock and builds a key for every call, and
    the stages count several times per record."""
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels)
    return child


def inc(metric: Counter, *labels: str) -> None:
    _child(metric, labels).inc()


def observe(metric: Histogram, value: float, *labels: str) -> None:
    _child(metric, labels).observe(value)


def lag_family() -> GaugeMetricFamily:
    return GaugeMetricFamily("stockstream_consumer_lag_records", "Records of a partition this worker consumes not "
                             "committed yet, from the highwater its last fetch saw", labels=["topic", "partition"])


class ConsumerLag:
    """stockstream_consumer_lag_records, worked out when scraped from what Faust's monitor keeps
    anyway (the highwater each fetch saw, the offsets each commit wrote): nothing per record. A
    rebalance clears both; a partition shows again with its next record and commit."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def describe(self) -> list[GaugeMetricFamily]:
        return [lag_family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = lag_family()
        monitor = self.app.monitor
        for tp, highwater in list(monitor.tp_end_offsets.items()):
            committed = monitor.tp_committed_offsets.get(tp)
            if committed is not None:
                family.add_metric([tp.topic, str(tp.partition)], max(highwater - committed, 0))
        yield family
