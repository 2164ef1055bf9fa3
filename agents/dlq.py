"""Dead letters: a record no stage can process goes to inventory.dlq exactly as it came (key,
bytes, headers), with stockstream.dlq.* headers saying why and where it came from."""

from __future__ import annotations

import logging
from typing import Any

from streams.wire import deadletters

from streams.app import topics
from streams.app import settings, topic
from streams.app.metrics import DEAD_LETTERS, inc

log = logging.getLogger(__name__)

LIMITS = settings.limits()


async def dead_letter(message: Any, stage: str, kind: str, reason: str) -> None:
    """kind is a short label for metrics (decode, invalid:qty, ...); reason the full text."""
    inc(DEAD_LETTERS, stage, kind)
    log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
    headers = deadletters.headers_for(_pairs(message.headers), reason=reason, stage=stage,
                                      topic=message.topic, partition=message.partition, offset=message.offset)
    key, value, headers = deadletters.fit(message.key, message.value, headers, LIMITS.message_bytes)
    await topic(topics.DLQ).send(key=key, value=value, headers=headers)


def _pairs(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    return list(headers.items() if isinstance(headers, dict) else headers)
