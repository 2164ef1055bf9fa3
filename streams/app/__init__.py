"""The Faust app of a stockstream deployment and what it runs on: settings, the one topic
registry, the delivery ledger, the broker probe, local state, metrics, and every touch of a
private Faust name (compat)."""

from streams.app.core import app, settings, timer, topic

__all__ = ["app", "settings", "timer", "topic"]
