"""The dead-letter contract (schemas/DeadLetter.avsc): a refused record keeps its key, bytes and
headers, and gains stockstream.dlq.* headers saying why and where it came from."""

from __future__ import annotations

import time
from typing import Any, Iterable

PREFIX = "stockstream.dlq."
FIELDS = ("reason", "stage", "topic", "partition", "offset", "failed_at")
NUMERIC = {"partition", "offset", "failed_at"}


def headers_for(original: Iterable[tuple[str, bytes]], *, reason: str, stage: str, topic: str,
                partition: int, offset: int) -> list[tuple[str, bytes]]:
    values = {"reason": reason, "stage": stage, "topic": topic, "partition": partition,
              "offset": offset, "failed_at": int(time.time() * 1000)}
    return list(original) + [(PREFIX + name, str(values[name]).encode()) for name in FIELDS]


def read(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> dict[str, Any]:
    """A DLQ record as a DeadLetter: its reason fields, the original key, value and headers."""
    letter: dict[str, Any] = {}
    original: dict[str, bytes] = {}
    for name, raw in headers:
        if name.startswith(PREFIX) and name[len(PREFIX):] in FIELDS:
            field = name[len(PREFIX):]
            text = (raw or b"").decode(errors="replace")
            letter[field] = int(text) if field in NUMERIC and text.lstrip("-").isdigit() else text
        else:
            original[name] = raw or b""
    letter.update(key=key, value=value, headers=original)
    return letter
