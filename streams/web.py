"""HTTP views on Faust's web server (default port 6066).

A position lives on the worker that owns its partition; a request to any worker is forwarded
there (Faust's router), and answered 503 while no worker owns it (a rebalance).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from faust import web
from faust.exceptions import SameNode
from faust.web.exceptions import ServiceUnavailable
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import auth
from streams.app import app, settings
from tables.events import position_key
from tables.position import Position
from tables.store import catalog_index, channel_state, policy_cache, positions
from tables.channels import explain
from tables.sku_state import SkuState, targets


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


def read_denied(view: web.View, request: web.Request) -> web.Response | None:
    """With STOCKSTREAM_PROTECT_READS, reads need a valid token (any scope, or 'read')."""
    if not settings.protect_reads:
        return None
    try:
        auth.check(request.headers.get("Authorization"), settings.tokens(), auth.READ)
    except auth.Denied as denied:
        return error(view, denied.status, str(denied))
    return None


def is_ready() -> bool:
    return app.tables.recovery.completed.is_set() and not app.rebalancing and not app.in_recovery


@app.page("/positions/{sku}/{location}")
class PositionView(web.View):
    async def get(self, request: web.Request, sku: str, location: str) -> web.Response:
        if denied := read_denied(self, request):
            return denied
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
        position = Position.from_bytes(raw)
        position.safety_stock = policy_cache.get().safety_stock(location, sku)
        view = position.view()
        view["occurred_at"] = iso_ms(view["occurred_at"])
        return self.json(view)


async def owned_sku(view: web.View, request: web.Request, sku: str) -> tuple[web.Response | None, SkuState | None]:
    """(the owner's answer, None) from another worker, or (None, state) here."""
    key = sku.encode()
    try:
        answer = await routed(view, request, channel_state.name, key)
    except ServiceUnavailable:
        return error(view, 503, "no worker owns this SKU right now; retry", retry=True), None
    if answer is not None:
        return answer, None
    raw = channel_state.get(key)
    if raw is None:
        return error(view, 404, f"no availability was ever computed for {sku}"), None
    return None, SkuState.from_bytes(raw)


@app.page("/availability/{sku}")
class AvailabilityView(web.View):
    async def get(self, request: web.Request, sku: str) -> web.Response:
        if denied := read_denied(self, request):
            return denied
        answer, state = await owned_sku(self, request, sku)
        if answer is not None:
            return answer
        wanted = request.query.get("channel")
        policies = policy_cache.get()
        if wanted is not None and wanted not in policies.channels:
            return error(self, 404, f"no channel {wanted!r} in the policies in force")
        now = targets(state, policies, catalog_index.kits.get(sku))
        out = {}
        for name in ([wanted] if wanted else sorted(policies.channels)):
            published = state.outputs.get(name)
            out[name] = {
                "available": published.published if published else None,
                "version": published.version if published else 0,
                "pending": published.pending if published else None,
                "target": now[name],
            }
        return self.json({"sku": sku, "channels": out})


@app.page("/availability/{sku}/explain")
class ExplainView(web.View):
    async def get(self, request: web.Request, sku: str) -> web.Response:
        if denied := read_denied(self, request):
            return denied
        name = request.query.get("channel")
        if not name:
            return error(self, 400, "channel: the query parameter ?channel=NAME is required", field="channel")
        policies = policy_cache.get()
        if name not in policies.channels:
            return error(self, 404, f"no channel {name!r} in the policies in force")
        answer, state = await owned_sku(self, request, sku)
        if answer is not None:
            return answer
        kit = catalog_index.kits.get(sku)
        steps = explain(sku, policies.channels[name], policies, state.stock())
        for entry in steps["locations"]:
            held = state.locations.get(entry["location"])
            entry["position"] = ({k: v for k, v in held.items() if k != "occurred_at"} | {"occurred_at": iso_ms(held["occurred_at"])}) if held else None
        if kit:
            steps["kit"] = {"components": [{"sku": c, "qty": q, "available": state.components.get(c, {}).get(name, 0)} for c, q in kit]}
            steps["available"] = targets(state, policies, kit)[name]
        out = state.outputs.get(name)
        steps["published"] = {"available": out.published, "version": out.version, "pending": out.pending,
                              "event_id": out.event_id, "correlation_id": out.correlation_id} if out else None
        return self.json(steps)


@app.page("/health")
class HealthView(web.View):
    async def get(self, request: web.Request) -> web.Response:
        if is_ready():
            return self.json({"status": "ok"})
        return error(self, 503, "recovering tables or rebalancing", state="starting")


OPENAPI = Path(__file__).with_name("openapi.json")


@app.page("/openapi.json")
class OpenAPIView(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(OPENAPI.read_bytes(), content_type="application/json")


@app.page("/metrics")
class MetricsView(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
