"""The clean fold: what a stream of events makes of every position, computed without Kafka.

It is the reference a running engine is checked against (tests, `stockstream simulate`):
records that the engine would dead-letter are skipped here, and follow-up events (a transfer's
inbound half) are applied at their destination as the engine would.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable, Mapping

from tables.events import InvalidEvent, normalize, position_key
from tables.model import DEDUPE_WINDOW, DUPLICATE, apply, follow_ups
from tables.position import Position


def fold(
    records: Iterable[Mapping[str, Any]],
    catalog: Mapping[str, Mapping[str, Any]],
    dedupe_window: int = DEDUPE_WINDOW,
    safety_stock: Callable[[str, str], int] = lambda location, sku: 0,
) -> dict[str, Position]:
    """safety_stock(location, sku): the location policy in force, as the engine applies it."""
    positions: dict[str, Position] = {}
    pending: deque[Mapping[str, Any]] = deque(records)
    index = 0
    while pending:
        record = pending.popleft()
        index += 1  # stands in for the origin offset of a transfer's inbound half
        try:
            event = normalize(record, catalog.get(record["sku"]))
        except InvalidEvent:
            continue
        key = position_key(event["sku"], event["location"])
        position = positions.get(key) or Position(event["sku"], event["location"])
        position.safety_stock = safety_stock(event["location"], event["sku"])
        positions[key], outcome = apply(position, event, dedupe_window)
        if outcome.status != DUPLICATE:  # as the engine: a retry's first copy made them
            pending.extend(follow_ups(event, index))
    return positions
