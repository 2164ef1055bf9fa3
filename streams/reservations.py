"""POST /reservations: "can I have these units?", answered synchronously and never wrong.

A request is logged as a ReserveRequested event on inventory.events (key SKU@LOCATION) by the
worker that owns that position, and answered only once the location agent has applied it, so
it is ordered with every other event of the position and a replay of the log reproduces every
decision. A request for another worker's position is forwarded to it. The event id is derived
from the reservation id and the location, so a retry is the same event: it gets the first
answer. Without a location the channel's location group is tried best-first (highest ats).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

import aiohttp
import orjson
from faust import web

from agents import answers
from agents.topics import events_topic
from streams import auth, topics
from streams.app import app, settings
from streams.codec import default_codec
from streams.web import read_denied
from tables.events import position_key
from tables.position import Position
from tables.requests import RequestError, ReservationRequest, parse_request, plan
from tables.store import policy_cache, positions, reservation_index

log = logging.getLogger(__name__)

index_topic = app.topic(settings.topic(topics.RESERVATIONS), key_serializer="raw", value_serializer="raw")

MAX_BODY = 64 * 1024
ANSWER_TIMEOUT = 10.0
FORWARDED = "X-Stockstream-Forwarded"


class Retry(Exception):
    """The position's owner cannot answer now (rebalance, or not reachable): 503."""


def reply(view: web.View, status: int, body: dict[str, Any]) -> web.Response:
    return view.json(body, status=status)


def event_id_for(reservation_id: str, location: str) -> str:
    return f"reserve:{reservation_id}@{location}"


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise RequestError("(body)", f"is larger than {MAX_BODY} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise RequestError("(body)", f"is not JSON: {err}") from None


@app.page("/reservations")
class ReservationsView(web.View):
    async def post(self, request: web.Request) -> web.Response:
        try:
            auth.check(request.headers.get("Authorization"), settings.tokens(), auth.RESERVE)
        except auth.Denied as denied:
            return reply(self, denied.status, {"error": str(denied)})
        try:
            wanted = parse_request(await read_body(request))
        except RequestError as err:
            return reply(self, 400, {"error": str(err), "field": err.field})
        channel = policy_cache.get().channels.get(wanted.channel)
        if channel is None:
            return reply(self, 400, {"error": f"channel: no channel {wanted.channel!r} in the policies in force",
                                     "field": "channel"})
        if wanted.location is not None and wanted.location not in channel.locations:
            return reply(self, 409, {"status": "rejected", "reservation_id": wanted.reservation_id,
                                     "reason": f"channel {wanted.channel} does not sell from {wanted.location} "
                                               f"(its locations: {', '.join(channel.locations)})"})
        try:
            if wanted.location is not None or request.headers.get(FORWARDED):
                results = [await reserve_at(request, wanted, wanted.location, wanted.qty)]
            else:
                results = await source(request, wanted, channel.locations)
            if not request.headers.get(FORWARDED):
                await remember(wanted, results)
            return respond(self, wanted, results)
        except Retry as why:
            return reply(self, 503, {"status": "retry", "reservation_id": wanted.reservation_id,
                                     "reason": str(why)})


async def remember(wanted: ReservationRequest, results: list[dict[str, Any]]) -> None:
    """Index where an accepted reservation holds units (for GET and DELETE by id)."""
    held = {r["location"]: r["qty"] for r in results if r["decision"] == "accepted"}
    if held:
        await index_topic.send(key=wanted.reservation_id.encode(), value=orjson.dumps({
            "sku": wanted.sku, "channel": wanted.channel, "order_id": wanted.order_id, "allocations": held}))


async def find(reservation_id: str, wait: float = 2.0) -> dict[str, Any] | None:
    """The index entry; a reservation accepted a moment ago may take that long to arrive."""
    deadline = time.monotonic() + wait
    while True:
        raw = reservation_index.get(reservation_id.encode())
        if raw is not None or time.monotonic() >= deadline:
            return orjson.loads(raw) if raw is not None else None
        await asyncio.sleep(0.05)


@app.page("/reservations/{reservation_id}")
class ReservationView(web.View):
    async def get(self, request: web.Request, reservation_id: str) -> web.Response:
        if denied := read_denied(self, request):
            return denied
        entry = await find(reservation_id)
        if entry is None:
            return reply(self, 404, {"error": f"no accepted reservation {reservation_id!r}"})
        allocations = []
        try:
            for location, qty in entry["allocations"].items():
                key = position_key(entry["sku"], location).encode()
                path = f"/positions/{entry['sku']}/{location}/reservations/{reservation_id}"
                status, held = (200, held_at(key, reservation_id)) if owns(key) else \
                    await call_owner("GET", key, path, None, passed_on(request))
                allocations.append({"location": location, "qty": qty, **(held if status == 200 else {})})
        except Retry as why:
            return reply(self, 503, {"status": "retry", "reason": str(why)})
        state = "open" if any(a.get("state") == "open" for a in allocations) else "closed"
        return reply(self, 200, {"reservation_id": reservation_id, "state": state, **entry, "allocations": allocations})

    async def delete(self, request: web.Request, reservation_id: str) -> web.Response:
        try:
            auth.check(request.headers.get("Authorization"), settings.tokens(), auth.RESERVE)
        except auth.Denied as denied:
            return reply(self, denied.status, {"error": str(denied)})
        entry = await find(reservation_id)
        if entry is None:
            return reply(self, 404, {"error": f"no accepted reservation {reservation_id!r}"})
        try:
            for location in entry["allocations"]:
                await release_at(request, reservation_id, entry["sku"], location)
        except Retry as why:
            return reply(self, 503, {"status": "retry", "reservation_id": reservation_id, "reason": str(why)})
        return reply(self, 200, {"status": "released", "reservation_id": reservation_id})


@app.page("/positions/{sku}/{location}/reservations/{reservation_id}")
class HeldView(web.View):
    """A reservation as one position holds it (for GET /reservations/{id} across workers)."""

    async def get(self, request: web.Request, sku: str, location: str, reservation_id: str) -> web.Response:
        if denied := read_denied(self, request):
            return denied
        key = position_key(sku, location).encode()
        if not owns(key):
            return reply(self, 503, {"status": "retry", "reason": "this worker does not own the position"})
        return reply(self, 200, held_at(key, reservation_id))


def held_at(key: bytes, reservation_id: str) -> dict[str, Any]:
    raw = positions.get(key)
    position = Position.from_bytes(raw) if raw else None
    open_one = position.reservations.get(reservation_id) if position else None
    if open_one is not None:
        return {"state": "open", "unpicked": open_one.unpicked, "picked": open_one.picked,
                "expires_at": open_one.expires_at}
    return {"state": "closed", "unpicked": 0, "picked": 0}


@app.page("/positions/{sku}/{location}/reservations/{reservation_id}/release")
class ReleaseView(web.View):
    """Release what a position holds for a reservation (DELETE /reservations/{id}, forwarded)."""

    async def post(self, request: web.Request, sku: str, location: str, reservation_id: str) -> web.Response:
        try:
            auth.check(request.headers.get("Authorization"), settings.tokens(), auth.RESERVE)
            await release_at(request, reservation_id, sku, location)
        except auth.Denied as denied:
            return reply(self, denied.status, {"error": str(denied)})
        except Retry as why:
            return reply(self, 503, {"status": "retry", "reason": str(why)})
        return reply(self, 200, {"status": "released"})


async def release_at(request: web.Request, reservation_id: str, sku: str, location: str) -> None:
    """Log a ReservationReleased at the position's owner and wait until it is applied."""
    key = position_key(sku, location).encode()
    if not owns(key):
        if request.headers.get(FORWARDED):
            raise Retry("this worker no longer owns the position")
        status, answer = await call_owner("POST", key, f"/positions/{sku}/{location}/reservations/{reservation_id}/release",
                                          None, {"Authorization": request.headers.get("Authorization", ""), FORWARDED: "1"})
        if status != 200:
            raise Retry(answer.get("reason") or answer.get("error") or f"owner answered {status}")
        return
    event_id = f"release:{reservation_id}@{location}"
    waiting = answers.expect(event_id)
    event = {**_event_base(sku, location, event_id, None), "type": "ReservationReleased",
             "reservation_id": reservation_id}
    await events_topic.send(key=key, value=default_codec().encode("InventoryEvent", event))
    try:
        await asyncio.wait_for(waiting, ANSWER_TIMEOUT)
    except asyncio.TimeoutError:
        answers.forget(event_id)
        raise Retry("the position's owner did not answer in time") from None


def respond(view: web.View, wanted: ReservationRequest, results: list[dict[str, Any]]) -> web.Response:
    accepted = [r for r in results if r["decision"] == "accepted"]
    if accepted:
        return reply(view, 201, {
            "status": "accepted", "reservation_id": wanted.reservation_id,
            "qty": sum(r["qty"] for r in accepted),
            "allocations": [{"location": r["location"], "qty": r["qty"]} for r in accepted],
        })
    return reply(view, 409, {
        "status": "rejected", "reservation_id": wanted.reservation_id, "reason": "not enough available to sell",
        "available": {r["location"]: r.get("ats", 0) for r in results},
    })


async def source(request: web.Request, wanted: ReservationRequest, locations: tuple[str, ...]) -> list[dict[str, Any]]:
    """Best-first over the channel's locations; with allow_partial, split across them."""
    available = [(loc, await ats_at(request, wanted.sku, loc)) for loc in locations]
    results: list[dict[str, Any]] = []
    for location, qty in plan(wanted.qty, available, wanted.allow_partial):
        result = await reserve_at(request, wanted, location, qty)
        results.append(result)
        if result["decision"] == "accepted" and not wanted.allow_partial:
            return results
    if not results:
        results = [{"decision": "rejected", "location": loc, "qty": wanted.qty, "ats": ats} for loc, ats in available]
    return results


async def ats_at(request: web.Request, sku: str, location: str) -> int:
    """The position's ats, from whichever worker owns it."""
    key = position_key(sku, location).encode()
    if owns(key):
        raw = positions.get(key)
        if raw is None:
            return 0
        position = Position.from_bytes(raw)
        position.safety_stock = policy_cache.get().safety_stock(location, sku)
        return position.ats
    status, body = await call_owner("GET", key, f"/positions/{sku}/{location}", None, passed_on(request))
    return body.get("ats", 0) if status == 200 else 0


def owns(key: bytes) -> bool:
    try:
        url = app.router.key_store(positions.name, key)
    except KeyError:
        raise Retry("no worker owns this position right now") from None
    mine = app.conf.canonical_url
    return (url.host, url.port) == (mine.host, mine.port)


async def reserve_at(request: web.Request, wanted: ReservationRequest, location: str, qty: int) -> dict[str, Any]:
    key = position_key(wanted.sku, location).encode()
    if not owns(key):
        if request.headers.get(FORWARDED):
            raise Retry("this worker no longer owns the position")
        body = {**_body(wanted), "location": location, "qty": qty}
        status, answer = await call_owner("POST", key, "/reservations", body,
                                          {"Authorization": request.headers.get("Authorization", ""), FORWARDED: "1"})
        if status == 201:
            return {"decision": "accepted", "location": location, "qty": answer["qty"]}
        if status == 409:
            return {"decision": "rejected", "location": location, "qty": qty,
                    "ats": answer.get("available", {}).get(location, 0)}
        raise Retry(answer.get("reason") or answer.get("error") or f"owner answered {status}")
    event_id = event_id_for(wanted.reservation_id, location)
    waiting = answers.expect(event_id)
    await events_topic.send(key=key, value=default_codec().encode("InventoryEvent", _event(wanted, location, qty, event_id)))
    try:
        return await asyncio.wait_for(waiting, ANSWER_TIMEOUT)
    except asyncio.TimeoutError:
        answers.forget(event_id)
        raise Retry("the position's owner did not answer in time") from None


async def call_owner(method: str, key: bytes, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    try:
        url = app.router.key_store(positions.name, key)
    except KeyError:
        raise Retry("no worker owns this position right now") from None
    try:
        async with app.http_client.request(method, url.with_path(path), data=orjson.dumps(body) if body else None,
                                           headers={**headers, "Content-Type": "application/json"},
                                           timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT + 5)) as response:
            return response.status, orjson.loads(await response.read() or b"{}")
    except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError) as err:
        raise Retry(f"the position's owner is not reachable: {type(err).__name__}") from None


def passed_on(request: web.Request) -> dict[str, str]:
    """The caller's token, for the owner's own checks."""
    token = request.headers.get("Authorization")
    return {"Authorization": token} if token else {}


def _body(wanted: ReservationRequest) -> dict[str, Any]:
    return {k: v for k, v in wanted.__dict__.items() if v is not None}


def _event_base(sku: str, location: str, event_id: str, qty: int | None) -> dict[str, Any]:
    return {
        "event_id": event_id, "sku": sku, "location": location, "qty": qty, "uom": "EA", "source": "api",
        "source_seq": None, "occurred_at": datetime.now(timezone.utc), "correlation_id": None, "reason": None,
        "reservation_id": None, "channel": None, "order_id": None, "expires_at": None, "disposition": None,
        "from_disposition": None, "to_location": None, "from_location": None,
    }


def _event(wanted: ReservationRequest, location: str, qty: int, event_id: str) -> dict[str, Any]:
    expires = (datetime.fromtimestamp(time.time() + wanted.ttl_seconds, tz=timezone.utc)
               if wanted.ttl_seconds else None)
    return {
        **_event_base(wanted.sku, location, event_id, qty), "type": "ReserveRequested",
        "correlation_id": wanted.order_id, "reservation_id": wanted.reservation_id,
        "channel": wanted.channel, "order_id": wanted.order_id, "expires_at": expires,
    }
