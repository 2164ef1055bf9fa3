"""What order capture systems do to the API in the integration tests: reserve, read, release,
retry a 503 with the same reservation id, in storms."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from streams.testing.deployment import STOCKSTREAM, wait_for

AT = "2026-11-25T10:00:00Z"
TOKEN = "it-token"  # client "web-store"
OTHER = "it-other"  # client "marketplace"
ADMIN = "it-admin"  # client "ops", admin
READER = "it-reader"  # client "viewer", read only
TOKENS = {TOKEN: {"client": "web-store", "scopes": ["reserve"]},
          OTHER: {"client": "marketplace", "scopes": ["reserve"]},
          ADMIN: {"client": "ops", "scopes": ["admin"]},
          READER: {"client": "viewer", "scopes": ["read"]}}
POLICIES = "channels:\n  web:\n    locations: [DC1, DC2]\n"


def call(port: int, method: str, path: str, token: str | None = TOKEN, body=None,
         headers: dict | None = None, timeout: float = 30, retry_seconds: float = 30) -> tuple[int, dict]:
    """(status, JSON body); status 0 when the worker does not answer (connection refused,
    reset, or nothing within the timeout). A 503 is retried, as a client does, for up to
    retry_seconds (0: never)."""
    deadline = time.monotonic() + retry_seconds
    while True:
        status, answer = _call_once(port, method, path, token, body, headers, timeout)
        if status != 503 or time.monotonic() >= deadline:
            return status, answer
        time.sleep(0.2)


def _call_once(port: int, method: str, path: str, token: str | None, body, headers: dict | None,
               timeout: float) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data,
                                     headers={**sent, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _json(response.read(), response.headers)
    except urllib.error.HTTPError as err:
        return err.code, _json(err.read(), err.headers)
    except OSError:
        return 0, {}


def _json(raw: bytes, headers) -> dict:
    body = json.loads(raw) if raw else {}
    if isinstance(body, dict) and headers.get("Retry-After"):
        body["_retry_after"] = headers["Retry-After"]
    return body


def post(port: int, body, token: str | None = TOKEN, retry_seconds: float = 30) -> tuple[int, dict]:
    return call(port, "POST", "/reservations", token, body, retry_seconds=retry_seconds)


def reserve(rid: str, qty: int, location: str | None = "DC1", sku: str = "SKU-R", **extra) -> dict:
    body = {"reservation_id": rid, "sku": sku, "qty": qty, "channel": "web", "order_id": f"o-{rid}", **extra}
    if location:
        body["location"] = location
    return body


def apply_policies(deployment, tmp_path, text: str = POLICIES) -> None:
    (tmp_path / "p.yaml").write_text(text)
    done = subprocess.run([STOCKSTREAM, "policies", "apply", str(tmp_path / "p.yaml")], env=deployment.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def receipts(stock: dict[str, int], sku: str = "SKU-R", prefix: str = "stock") -> list[dict]:
    return [{"event_id": f"{prefix}-{sku}-{loc}", "type": "Receipt", "sku": sku, "location": loc, "qty": qty,
             "source": "wms", "occurred_at": AT} for loc, qty in stock.items()]


def setup(deployment, tmp_path, stock: dict[str, int], sku: str = "SKU-R") -> None:
    deployment.env["STOCKSTREAM_API_TOKENS"] = json.dumps(TOKENS)
    apply_policies(deployment, tmp_path)
    deployment.produce(receipts(stock, sku))


@dataclass
class Storm:
    """Clients reserving one unit each, retrying anything but 201/409 with the same id, each
    on a worker of its own choosing (ports may grow while it runs)."""

    ports: list[int]
    requests: int
    clients: int
    deadline_seconds: float = 60.0
    pace: float = 0.0  # a client's pause after each answer (checkouts arrive over time)
    body: Callable[[int], dict] = lambda n: reserve(f"storm-{n}", 1)
    answered: int = 0
    statuses: dict[int, list[int]] = field(default_factory=dict)  # request -> every status seen
    took: dict[int, float] = field(default_factory=dict)  # request -> seconds to its 201/409
    final: dict[int, tuple[int, dict]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, n: int) -> None:
        started = time.monotonic()
        seen: list[int] = []
        attempt = 0
        while time.monotonic() - started < self.deadline_seconds:
            port = self.ports[(n + attempt) % len(self.ports)]
            attempt += 1
            status, answer = post(port, self.body(n), retry_seconds=0)
            seen.append(status)
            if status in (201, 409):
                with self._lock:
                    self.answered += 1
                    self.final[n] = (status, answer)
                    self.took[n] = time.monotonic() - started
                break
            time.sleep(0.2)
        self.statuses[n] = seen
        time.sleep(self.pace)

    def run(self) -> Storm:
        with ThreadPoolExecutor(max_workers=self.clients) as pool:
            list(pool.map(self.one, range(self.requests)))
        return self

    def with_status(self, status: int) -> list[int]:
        return [n for n, (s, _) in self.final.items() if s == status]

    def seen(self) -> set[int]:
        return {s for statuses in self.statuses.values() for s in statuses}


@dataclass
class StormReport:
    storm: Storm
    seconds: float  # from the first request to the last answer
    joined_healthy: float  # seconds into the storm the second worker was healthy
    workers: list  # the two workers


def run_storm(deployment, root, requests: int = 1000, clients: int = 50, stock: int = 100) -> StormReport:
    """The oversell storm: `requests` single-unit reservations from `clients` clients for
    `stock` units, starting the moment a fresh worker is healthy and its policies were applied
    live, a second worker joining the group while it goes on. Each client asks again 0.5 s
    after an answer, so the storm lasts long enough for the join to happen inside it."""
    deployment.env["STOCKSTREAM_API_TOKENS"] = json.dumps({TOKEN: TOKENS[TOKEN]})
    deployment.produce(receipts({"DC1": stock}))
    first = deployment.worker("w1")
    apply_policies(deployment, root, POLICIES)  # live: the worker runs
    storm = Storm([first.port], requests, clients, pace=0.5)
    joined: dict[str, float] = {}
    started = time.monotonic()

    def second_worker() -> None:
        wait_for(lambda: storm.answered >= 100, 120, "the storm under way", interval=0.05)
        second = deployment.worker("w2", wait=False)
        second.wait_healthy()
        joined["healthy"] = time.monotonic() - started
        storm.ports.append(second.port)

    joining = threading.Thread(target=second_worker)
    joining.start()
    storm.run()
    seconds = time.monotonic() - started
    joining.join()
    return StormReport(storm, seconds, joined["healthy"], deployment.workers[:2])
