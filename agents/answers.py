"""Where a reservation request waits for its answer: the HTTP handler that logged the
ReserveRequested registers the event id, the location agent answers it once applied. Both run
in the worker that owns the position, so this is a plain in-process map."""

from __future__ import annotations

import asyncio
from typing import Any

_waiting: dict[str, asyncio.Future] = {}


def expect(event_id: str) -> asyncio.Future:
    future = _waiting.get(event_id)
    if future is None or future.done():
        future = _waiting[event_id] = asyncio.get_running_loop().create_future()
    return future


def answer(event_id: str, result: dict[str, Any]) -> None:
    future = _waiting.pop(event_id, None)
    if future is not None and not future.done():
        future.set_result(result)


def forget(event_id: str) -> None:
    _waiting.pop(event_id, None)
