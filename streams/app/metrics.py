"""Prometheus metrics, served at GET /metrics. Labels stay few: reasons are kinds, not texts."""

from prometheus_client import Counter

EVENTS = Counter("stockstream_events_total", "Records a stage processed, by outcome", ["stage", "outcome"])
DEAD_LETTERS = Counter("stockstream_dead_letters_total", "Records sent to the DLQ", ["stage", "reason"])
FLAGS = Counter("stockstream_flags_total", "Applied events that need an operator's eye", ["flag"])
DELTAS = Counter("stockstream_deltas_total", "Availability deltas published", ["channel", "direction"])
REFUSED = Counter("stockstream_refused_total", "Records of catalog.items or inventory.policies refused (the value before "
                  "them stays in force)", ["topic", "reason"])

_children: dict = {}


def inc(metric: Counter, *labels: str) -> None:
    """metric.labels(*labels).inc(), with the child kept: labels() takes a lock and builds a
    key for every call, and the stages count several times per record."""
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels)
    child.inc()
