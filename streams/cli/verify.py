"""`stockstream verify expected.json`: does a running deployment show the positions a scenario
must produce? Waits up to a timeout for the worker to catch up, then lists every difference."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from streams.app.settings import Settings
from tables.position import BUCKETS

COMPARED = (*BUCKETS, "safety_stock", "ats")


def differences(expected: dict[str, dict[str, Any]], fetch) -> list[str]:
    problems = []
    for key, want in expected.items():
        got = fetch(want["sku"], want["location"])
        if got is None:
            problems.append(f"{key}: no position")
            continue
        wrong = [f"{name} {got.get(name)} (expected {want[name]})" for name in COMPARED if got.get(name) != want[name]]
        if wrong:
            problems.append(f"{key}: " + ", ".join(wrong))
    return problems


def verify(settings: Settings, path: str, timeout: float) -> int:
    with open(path, encoding="utf-8") as handle:
        expected = json.load(handle)
    base = f"http://{settings.web_host}:{settings.web_port}"

    def fetch(sku: str, location: str) -> dict[str, Any] | None:
        url = f"{base}/positions/{urllib.parse.quote(sku, safe='')}/{urllib.parse.quote(location, safe='')}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    deadline = time.monotonic() + timeout
    while True:
        problems = differences(expected, fetch)
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(1)
    for problem in problems:
        print(problem)
    print(f"{len(expected) - len(problems)} of {len(expected)} positions as expected")
    return 1 if problems else 0
