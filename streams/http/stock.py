"""HTTP views on Faust's web server (default port 6066): positions, availability, health,
metrics and the OpenAPI document.

A position lives on the worker that owns its partition, a SKU's availability on the owner of
its channel_state partition; a request to any worker is forwarded there (streams/http/routing.py)
and answered 503 with Retry-After while ownership is unknown.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import app, topic, topics
from streams.http.routing import forward, owner, ready
from streams.http.views import EngineView, path_names, reader
from tables import keys
from tables.channels import explain
from tables.position import Position
from tables.sku_state import SkuState, targets
from tables.store import catalog_index, channel_state, policy_cache, positions


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(view: web.View, status: int, message: str, **extra: Any) -> web.Response:
    return view.json({"error": message, **extra}, status=status)


@app.page("/positions/{sku:[^/]+}/{location:[^/]+}")  # any name: aiohttp's default refuses { and }
class PositionView(EngineView):
    async def get(self, request: web.Request, sku: str, location: str) -> web.Response:
        path_names(sku=sku, location=location)
        client = reader(request)
        key = keys.position(sku, location)
        where = owner(positions, key)
        if not where.local:
            return await forward(self, request, where, client)
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
    path_names(sku=sku)
    client = reader(request)
    key = sku.encode()
    where = owner(channel_state, key)
    if not where.local:
        return await forward(view, request, where, client), None
    raw = channel_state.get(key)
    if raw is None:
        return error(view, 404, f"no availability was ever computed for {sku}"), None
    return None, SkuState.from_bytes(raw)


@app.page("/availability/{sku:[^/]+}")
class AvailabilityView(EngineView):
    async def get(self, request: web.Request, sku: str) -> web.Response:
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


@app.page("/availability/{sku:[^/]+}/explain")
class ExplainView(EngineView):
    async def get(self, request: web.Request, sku: str) -> web.Response:
        reader(request)
        name = request.query.get("channel")
        if not name:
            return error(self, 400, "channel: the query parameter ?channel=NAME is required", field="channel")
        policies = policy_cache.get()
        if name not in policies.channels:
            return error(self, 404, f"no channel {name!r} in the policies in force")
        answer, state = await owned_sku(self, request, sku)
        if answer is not None:
            return answer
        return self.json(explained(sku, name, state))


def explained(sku: str, channel: str, state: SkuState) -> dict[str, Any]:
    policies = policy_cache.get()
    kit = catalog_index.kits.get(sku)
    steps = explain(sku, policies.channels[channel], policies, state.stock())
    for entry in steps["locations"]:
        held = state.locations.get(entry["location"])
        entry["position"] = ({k: v for k, v in held.items() if k != "occurred_at"} | {"occurred_at": iso_ms(held["occurred_at"])}) if held else None
    if kit:
        steps["kit"] = {"components": [{"sku": c, "qty": q, "available": state.components.get(c, {}).get(channel, 0)} for c, q in kit]}
        steps["available"] = targets(state, policies, kit)[channel]
    out = state.outputs.get(channel)
    steps["published"] = {"available": out.published, "version": out.version, "pending": out.pending,
                          "event_id": out.event_id, "correlation_id": out.correlation_id} if out else None
    return steps


@app.page("/health")
class HealthView(EngineView):
    async def get(self, request: web.Request) -> web.Response:
        if ready():
            # Which positions this worker holds: an operator (or a test) can find a key's owner.
            events = topic(topics.EVENTS).get_topic_name()
            owned = sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events)
            return self.json({"status": "ok", "partitions": owned})
        return self.json({"status": "retry", "reason": "recovering tables or rebalancing", "state": "starting"}, status=503,
                         headers={"Retry-After": "1"})


OPENAPI = Path(__file__).with_name("openapi.json")


@app.page("/openapi.json")
class OpenAPIView(EngineView):
    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(OPENAPI.read_bytes(), content_type="application/json")


@app.page("/metrics")
class MetricsView(EngineView):
    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
