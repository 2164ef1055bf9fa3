"""End-to-end tests: a real browser against real workers on the real broker. Neither a missing
broker nor a missing browser skips: both fail, naming the command that provides them."""

from __future__ import annotations

import pytest

from streams.testing.browser import BrowserMissing, chromium
from tests.integration.conftest import broker  # noqa: F401 - the same check of the broker


@pytest.fixture(scope="session")
def browser_path() -> str:
    try:
        return chromium()
    except BrowserMissing as missing:
        pytest.fail(str(missing))
