"""A webhook receiver on 127.0.0.1 that checks what a real one would: the signature, the body,
the request rate; keeps the newest value per SKU (by version), and can be taken down.

It also runs on its own, as docker-compose.yml's stand-in for a channel (GET /stock shows
what it was sent):

    WEBHOOK_SECRET=... python -m streams.testing.fakes.webhook --host 0.0.0.0 --port 8080
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from agents.sinks.webhook import HEADER, verify
from streams.testing.fakes.server import FakeServer


class FakeWebhook(FakeServer):
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.view: dict[str, dict[str, Any]] = {}  # sku -> the newest item accepted
        self.requests: list[float] = []  # when each request arrived
        self.bad_signatures = 0
        self.older_after_newer = 0  # a version below one already shown
        self.down = False
        self.refuse: set[str] = set()  # SKUs answered 422 (a value the receiver will not take)
        self.lock = threading.Lock()

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.read()
        with self.lock:
            self.requests.append(time.monotonic())
            if self.down:
                return web.Response(status=503, headers={"Retry-After": "1"})
            if not verify(self.secret, request.headers.get(HEADER, ""), payload, int(time.time())):
                self.bad_signatures += 1
                return web.Response(status=401, text="bad signature")
            batch = orjson.loads(payload)
            if any(item["sku"] in self.refuse for item in batch["items"]):
                return web.Response(status=422, text="unknown item")
            for item in batch["items"]:
                held = self.view.get(item["sku"])
                if held is not None and item["version"] < held["version"]:
                    self.older_after_newer += 1
                    continue
                self.view[item["sku"]] = item
        return web.Response(status=204)

    async def show(self, request: web.Request) -> web.Response:
        with self.lock:
            return web.json_response(self.view)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/stock", self.handle)
        app.router.add_get("/stock", self.show)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stock"

    def values(self) -> dict[str, tuple[int, int]]:
        with self.lock:
            return {sku: (item["version"], item["available"]) for sku, item in self.view.items()}

    def busiest_second(self) -> int:
        with self.lock:
            times = list(self.requests)
        return max((sum(1 for t in times if start <= t < start + 1.0) for start in times), default=0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.testing.fakes.webhook")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret-env", default="WEBHOOK_SECRET", help="the variable holding the HMAC secret")
    args = parser.parse_args()
    secret = os.environ.get(args.secret_env)
    if not secret:
        print(f"fake webhook: set {args.secret_env} in the environment", file=sys.stderr)
        return 2
    # Blocked before the server thread starts, so only sigwait sees them: as a container's
    # PID 1 a SIGTERM without a handler would be ignored.
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    fake = FakeWebhook(secret.encode()).start(args.host, args.port)
    print(f"fake webhook: POST/GET http://{args.host}:{fake.port}/stock", flush=True)
    signal.sigwait(stop)
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
