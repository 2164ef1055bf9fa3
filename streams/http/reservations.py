"""POST /reservations, GET and DELETE /reservations/{id}: thin views over the reservation
service (agents/reservations.py).

Reservation ids are scoped to the caller's client: the service keys a reservation by
client/id, and every request about it is forwarded to the worker that owns that key's
partition. An admin token may act for another client with ?client=NAME.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from faust import web

from agents import reservations as service
from streams.app import auth
from streams.app import app
from streams.http.routing import Unavailable, call, forward, forwarded_client, owner
from streams.http.views import LIMITS, EngineView, caller, path_names
from tables.requests import RequestError, ReservationRequest, parse_request
from tables.reservation_requests import request_fields, scoped, view
from tables import keys
from tables.position import Position
from tables.store import policy_cache, positions, reservation_requests

def read_json(raw: bytes) -> Any:
    if len(raw) > LIMITS.body_bytes:
        raise RequestError("(body)", f"is larger than {LIMITS.body_bytes} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise RequestError("(body)", f"is not JSON: {err}") from None


def acting_for(request: web.Request, who: auth.Caller) -> str:
    """The client whose reservation ids are meant: the caller's, or ?client= for an admin. (A
    forwarded request already names the client it acts for.)"""
    other = request.query.get("client")
    if other is None or other == who.client or forwarded_client(request) is not None:
        return who.client
    if auth.ADMIN not in who.scopes:
        raise auth.Denied(403, "only an admin token may act for another client (?client=)")
    return other


@app.page("/reservations")
class ReservationsView(EngineView):
    async def post(self, request: web.Request) -> web.Response:
        who = caller(request, auth.RESERVE)
        raw = await request.read()
        wanted = parse_request(read_json(raw), LIMITS)
        key = scoped(who.client, wanted.reservation_id).encode()
        where = owner(reservation_requests, key)
        if not where.local:
            return await forward(self, request, where, who.client, raw)
        request_now = request_fields(wanted)
        answer = await service.answer_again(key, request_now)
        if answer is None:  # a new reservation id
            locations = sellable_locations(wanted)
            if isinstance(locations, str):
                return self.json({"status": "rejected", "reservation_id": wanted.reservation_id,
                                  "reason": locations}, status=409)
            hints = await stock_hints(wanted, locations) if len(locations) > 1 else {}
            answer = await service.reserve(key, request_now, locations, hints)
        status, body = answer
        return self.json(body, status=status)


def sellable_locations(wanted: ReservationRequest) -> list[str] | str:
    """Where the channel may reserve for this request, or why it may not."""
    channel = policy_cache.get().channels.get(wanted.channel)
    if channel is None:
        raise RequestError("channel", f"no channel {wanted.channel!r} in the policies in force")
    if wanted.location is None:
        return list(channel.locations)
    if wanted.location not in channel.locations:
        return (f"channel {wanted.channel} does not sell from {wanted.location} "
                f"(its locations: {', '.join(channel.locations)})")
    return [wanted.location]


HINT_TIMEOUT = 1.0


async def stock_hints(wanted: ReservationRequest, locations: list[str]) -> dict[str, int]:
    """Each location's available to sell now, read from its position (here or at its owner),
    to ask the best first. Only a hint, for ordering and splitting: each position decides for
    itself when its ask comes. A location that cannot be read in time is left out (not known)."""
    found = await asyncio.gather(*(position_ats(wanted.sku, location) for location in locations))
    return {location: ats for location, ats in zip(locations, found) if ats is not None}


async def position_ats(sku: str, location: str) -> int | None:
    key = keys.position(sku, location)
    try:
        where = owner(positions, key)
        if not where.local:
            status, body = await call(where, "GET", ["positions", sku, location], HINT_TIMEOUT)
            return body.get("ats") if status == 200 else 0 if status == 404 else None
    except Unavailable:
        return None
    raw = positions.get(key)
    if raw is None:
        return 0
    position = Position.from_bytes(raw)
    position.safety_stock = policy_cache.get().safety_stock(location, sku)
    return position.ats


@app.page("/reservations/{reservation_id:[^/]+}")  # any name: aiohttp's default refuses { and }
class ReservationView(EngineView):
    async def get(self, request: web.Request, reservation_id: str) -> web.Response:
        path_names(reservation_id=reservation_id)
        client = acting_for(request, caller(request, auth.READ))
        key = scoped(client, reservation_id).encode()
        where = owner(reservation_requests, key)
        if not where.local:
            return await forward(self, request, where, client)
        record = service.load(key)
        if record is None:
            return self.json({"error": f"no reservation {reservation_id!r}"}, status=404)
        return self.json(view(record))

    async def delete(self, request: web.Request, reservation_id: str) -> web.Response:
        path_names(reservation_id=reservation_id)
        client = acting_for(request, caller(request, auth.RESERVE))
        key = scoped(client, reservation_id).encode()
        where = owner(reservation_requests, key)
        if not where.local:
            return await forward(self, request, where, client)
        status, body = await service.release_reservation(key)
        return self.json(body, status=status)
