"""Refused records of the topics every worker reads whole (catalog.items, inventory.policies).

Every worker refuses such a record (the value in force before it stays) and counts it. One
worker dead-letters it, the owner of partition 0 of inventory.events, and only a record that
arrives while it runs: every worker reads these topics from the start at every start, and a
dead letter per worker and per start would say the same thing many times.
"""

from __future__ import annotations

from typing import Any

from faust.types import TP

from agents.dlq import dead_letter
from streams.app import topics
from streams.app import app, settings, topic
from streams.app.metrics import REFUSED, inc
from tables.store import catalog_index, policy_cache

STAGES = {settings.topic(topics.CATALOG): "catalog", settings.topic(topics.POLICIES): "policies"}


async def report(message: Any, kind: str, reason: str) -> None:
    inc(REFUSED, STAGES.get(message.topic, message.topic), kind)
    if app.tables.recovery.completed.is_set() and TP(topic(topics.EVENTS).get_topic_name(), 0) in app.assignor.assigned_actives():
        await dead_letter(message, STAGES.get(message.topic, message.topic), kind, reason)


catalog_index.report = report
policy_cache.report = report
