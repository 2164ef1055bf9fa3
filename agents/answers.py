"""HTTP requests waiting for the reservation service: a POST for its decision, a DELETE for
the release to be applied everywhere. The worker that owns a reservation's partition both
serves its requests and runs its service, so this is a plain in-process map; on a rebalance
every waiter is told to retry (its partition may have moved)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from tables.reservation_requests import RequestRecord

Until = Callable[[RequestRecord], Any]  # the answer once the record allows one, else None

_waiting: dict[str, list[tuple[Until, asyncio.Future]]] = {}


def expect(scoped_id: str, until: Until) -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    _waiting.setdefault(scoped_id, []).append((until, future))
    return future


def settle(record: RequestRecord) -> None:
    """Called by the service after every change of a record."""
    waiters = _waiting.get(record.scoped_id)
    if not waiters:
        return
    keep = []
    for until, future in waiters:
        if future.done():
            continue
        answer = until(record)
        if answer is None:
            keep.append((until, future))
        else:
            future.set_result(answer)
    if keep:
        _waiting[record.scoped_id] = keep
    else:
        del _waiting[record.scoped_id]


def forget(scoped_id: str, future: asyncio.Future) -> None:
    waiters = [w for w in _waiting.get(scoped_id, []) if w[1] is not future]
    if waiters:
        _waiting[scoped_id] = waiters
    else:
        _waiting.pop(scoped_id, None)


def cancel_all(reason: Exception) -> None:
    """The partitions may have moved: every waiter answers 'retry' now, not at its timeout."""
    for waiters in _waiting.values():
        for _, future in waiters:
            if not future.done():
                future.set_exception(reason)
    _waiting.clear()
