"""The dead-letter contract (schemas/DeadLetter.avsc): a refused record keeps its key, bytes and
headers, and gains stockstream.dlq.* headers saying why and where it came from."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Iterable

PREFIX = "stockstream.dlq."
FIELDS = ("reason", "stage", "topic", "partition", "offset", "failed_at")
NUMERIC = {"partition", "offset", "failed_at", "original_size"}


TRUNCATED = ("original_size", "original_sha256")  # headers of a dead letter cut to fit
MAX_REASON = 1000  # characters of reason kept (a reason may quote the record)
KEY_KEPT = 1024  # bytes of an oversized record's key kept


def fit(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
        limit: int) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """The dead letter as it can be written: whole if it fits in limit bytes, else with its
    value (and a long key) cut and the original's size and SHA-256 in headers, so the record
    can still be found upstream."""
    size = len(key or b"") + len(value or b"") + sum(len(n) + len(v or b"") for n, v in headers)
    if size <= limit:
        return key, value, headers
    whole = value or b""
    marks = [(PREFIX + "original_size", str(len(whole)).encode()),
             (PREFIX + "original_sha256", hashlib.sha256(whole).hexdigest().encode())]
    ours = [(n, v) for n, v in headers if n.startswith(PREFIX)] + marks
    key = key[:KEY_KEPT] if key else key
    room = limit - len(key or b"") - sum(len(n) + len(v or b"") for n, v in ours) - 1024
    return key, whole[:max(room, 0)], ours


def headers_for(original: Iterable[tuple[str, bytes]], *, reason: str, stage: str, topic: str,
                partition: int, offset: int) -> list[tuple[str, bytes]]:
    values = {"reason": reason[:MAX_REASON], "stage": stage, "topic": topic, "partition": partition,
              "offset": offset, "failed_at": int(time.time() * 1000)}
    return list(original) + [(PREFIX + name, str(values[name]).encode()) for name in FIELDS]


def read(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> dict[str, Any]:
    """A DLQ record as a DeadLetter: its reason fields, the original key, value and headers."""
    letter: dict[str, Any] = dict.fromkeys(TRUNCATED)
    original: dict[str, bytes] = {}
    for name, raw in headers:
        if name.startswith(PREFIX) and name[len(PREFIX):] in FIELDS + TRUNCATED:
            field = name[len(PREFIX):]
            text = (raw or b"").decode(errors="replace")
            letter[field] = int(text) if field in NUMERIC and text.lstrip("-").isdigit() else text
        else:
            original[name] = raw or b""
    letter.update(key=key, value=value, headers=original)
    return letter
