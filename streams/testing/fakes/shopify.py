"""A Shopify GraphQL Admin API on 127.0.0.1, for inventorySetQuantities: a leaky bucket like
the Standard plan's (cost 10 a mutation, 1,000 points, 100 restored a second) that answers
THROTTLED when a call does not fit, throttleStatus in every answer, a token check, random
429s, 500s and slow answers, and the quantity set per inventory item."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import orjson
from aiohttp import web

from streams.testing.fakes.server import FakeServer


class FakeShopify(FakeServer):
    def __init__(self, token: str, maximum: float = 1000, restore: float = 100, cost: float = 10,
                 flaky: float = 0.0, seed: int = 7) -> None:
        self.token, self.maximum, self.restore, self.cost = token, maximum, restore, cost
        self.available, self.at = maximum, time.monotonic()
        self.flaky, self.random = flaky, random.Random(seed)
        self.quantities: dict[str, int] = {}  # inventory item -> available
        self.throttled = 0
        self.calls = 0
        self.keys: set[str] = set()
        self.unkeyed = 0  # calls without an @idempotent key
        self.order: list[tuple[int, str, int]] = []  # (call number, item, quantity) as set
        self.down = False
        self.lock = threading.Lock()

    def _bucket(self) -> dict[str, float]:
        return {"maximumAvailable": self.maximum, "currentlyAvailable": round(self.available, 1),
                "restoreRate": self.restore}

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return web.json_response({"errors": "[API] Invalid API key or access token"}, status=401)
        body = orjson.loads(await request.read())
        roll = self.random.random()
        if self.down or roll < self.flaky / 3:
            return web.Response(status=503 if self.down else 500)
        if roll < 2 * self.flaky / 3:
            return web.Response(status=429, headers={"Retry-After": "0.5"})
        if roll < self.flaky:
            await asyncio.sleep(2)  # slow, then answers
        with self.lock:
            self.calls += 1
            now = time.monotonic()
            self.available = min(self.maximum, self.available + (now - self.at) * self.restore)
            self.at = now
            cost = {"requestedQueryCost": self.cost, "throttleStatus": self._bucket()}
            if self.available < self.cost:
                self.throttled += 1
                return web.json_response({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                          "extensions": {"cost": cost}})
            query = body["query"]
            if query.startswith("query Levels"):
                return self.levels(body["variables"]["ids"])
            self.available -= self.cost
            if "@idempotent" in query:
                self.keys.add(query.split('@idempotent(key: "')[1].split('"')[0])
            else:
                self.unkeyed += 1
            for quantity in body["variables"]["input"]["quantities"]:
                self.quantities[quantity["inventoryItemId"]] = quantity["quantity"]
                self.order.append((self.calls, quantity["inventoryItemId"], quantity["quantity"]))
            cost = {"requestedQueryCost": self.cost, "actualQueryCost": self.cost, "throttleStatus": self._bucket()}
        return web.json_response({"data": {"inventorySetQuantities": {"userErrors": []}}, "extensions": {"cost": cost}})

    def levels(self, ids: list[str]) -> web.Response:
        """The read-back query (the bucket is held by the caller): cheap, one point per 10 items."""
        cost = max(1, len(ids) // 10)
        self.available -= cost
        nodes = [{"id": i, "inventoryLevel": {"quantities": [{"name": "available", "quantity": self.quantities[i]}]}}
                 if i in self.quantities else None for i in ids]
        return web.json_response({"data": {"nodes": nodes}, "extensions": {"cost": {
            "requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": self._bucket()}}})

    def change_in_admin(self, item: str, quantity: int) -> None:
        with self.lock:
            self.quantities[item] = quantity

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/admin/api/{version}/graphql.json", self.handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def values(self) -> dict[str, int]:
        with self.lock:
            return dict(self.quantities)
