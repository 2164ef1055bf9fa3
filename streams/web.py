"""HTTP views on Faust's web server (default port 6066).

A position lives on the worker that owns its partition; a request to any worker is forwarded
there (Faust's router), and answered 503 while no worker owns it (a rebalance).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from faust import web
from faust.exceptions import SameNode
from faust.web.exceptions import ServiceUnavailable
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import app
from tables.events import position_key
from tables.position import Position
from tables.store import positions


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(view: web.View, status: int, message: str, **extra: Any) -> web.Response:
    return view.json({"error": message, **extra}, status=status)


async def routed(view: web.View, request: web.Request, table_name: str, key: bytes) -> web.Response | None:
    """The owner's answer if another worker owns key, None if this one does."""
    try:
        return await app.router.route_req(table_name, key, view.web, request)
    except SameNode:
        return None


def is_ready() -> bool:
    return app.tables.recovery.completed.is_set() and not app.rebalancing and not app.in_recovery


@app.page("/positions/{sku}/{location}")
class PositionView(web.View):
    async def get(self, request: web.Request, sku: str, location: str) -> web.Response:
        key = position_key(sku, location).encode()
        try:
            answer = await routed(self, request, positions.name, key)
        except ServiceUnavailable:
            return error(self, 503, "no worker owns this position right now; retry", retry=True)
        if answer is not None:
            return answer
        raw = positions.get(key)
        if raw is None:
            return error(self, 404, f"no event was ever applied to {sku} at {location}")
        view = Position.from_bytes(raw).view()
        view["occurred_at"] = iso_ms(view["occurred_at"])
        return self.json(view)


@app.page("/health")
class HealthView(web.View):
    async def get(self, request: web.Request) -> web.Response:
        if is_ready():
            return self.json({"status": "ok"})
        return error(self, 503, "recovering tables or rebalancing", state="starting")


@app.page("/metrics")
class MetricsView(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
