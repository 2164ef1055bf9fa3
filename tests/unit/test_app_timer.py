"""A timer job that raises must not stop the worker (streams.app.timer)."""

from __future__ import annotations

import asyncio
import logging


def test_a_failing_timer_job_is_logged_and_returns(caplog):
    from streams.app.core import guarded

    runs = []

    async def flaky() -> None:
        runs.append(1)
        raise RuntimeError("boom")

    registered = guarded(flaky, 3600)
    with caplog.at_level(logging.ERROR):
        asyncio.run(registered())
        asyncio.run(registered())
    assert len(runs) == 2 and "timer flaky failed" in caplog.text
