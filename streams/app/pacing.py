"""Long work (a sweep, a flush of due increases, expiries) gives the event loop back often, so
the agent that processes events waits at most a slice for it, whatever the batch size."""

from __future__ import annotations

import asyncio
import time

SLICE_SECONDS = 0.002


class Pace:
    def __init__(self, slice_seconds: float = SLICE_SECONDS) -> None:
        self.slice_seconds = slice_seconds
        self.since = time.monotonic()

    async def step(self) -> None:
        """Call between two items of work: yields once a slice of work has gone by."""
        if time.monotonic() - self.since >= self.slice_seconds:
            await asyncio.sleep(0)
            self.since = time.monotonic()
