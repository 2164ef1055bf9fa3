"""Pace gives the loop back once a slice of work has gone by, and not before."""

from __future__ import annotations

import asyncio
import time

from streams.app.pacing import Pace


def test_other_tasks_run_within_a_slice_of_a_long_loop():
    async def run() -> int:
        ran = 0

        async def other() -> None:
            nonlocal ran
            while True:
                ran += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        pace = Pace(0.002)
        for _ in range(3000):
            time.sleep(0.0001)  # a bit of work per item, never yielding by itself
            await pace.step()
        task.cancel()
        return ran

    # ~0.3 s of work in 2 ms slices: the other task ran between them, ~150 times
    assert asyncio.run(run()) >= 50


def test_a_short_loop_does_not_yield():
    async def run() -> int:
        ran = 0

        async def other() -> None:
            nonlocal ran
            ran += 1

        task = asyncio.create_task(other())
        pace = Pace(1.0)
        for _ in range(100):
            await pace.step()
        done = ran
        await task
        return done

    assert asyncio.run(run()) == 0
