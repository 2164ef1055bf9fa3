"""Selling Partner API on 127.0.0.1, as far as the Amazon sink uses it: LWA tokens, Listings
Items patches at 5 requests/s with a burst of 5 (429 past it, counted), JSON_LISTINGS_FEED
feeds (5 per 5 minutes, processed a moment after they are created), random 500s and 429s, and
the fulfillment quantity per seller SKU."""

from __future__ import annotations

import itertools
import random
import threading
import time

import orjson
from aiohttp import web

from streams.testing.fakes.server import FakeServer


class FakeAmazon(FakeServer):
    def __init__(self, client_id: str, client_secret: str, refresh_token: str, flaky: float = 0.0,
                 seed: int = 11) -> None:
        self.credentials = (client_id, client_secret, refresh_token)
        self.flaky, self.random = flaky, random.Random(seed)
        self.tokens: set[str] = set()
        self.quantities: dict[str, int] = {}
        self.unknown: set[str] = set()  # seller SKUs a feed reports as not found
        self.patch_tokens, self.patch_at = 5.0, time.monotonic()
        self.feed_times: list[float] = []
        self.over_budget = 0  # requests past the documented limits
        self.patch_times: list[float] = []  # when each patch arrived
        self.patches = 0
        self.documents: dict[str, bytes | None] = {}
        self.feeds: dict[str, tuple[str, float]] = {}  # feed id -> document id, done at
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("x-amz-access-token") in self.tokens

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) != self.credentials:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"Atza|{next(self.ids)}"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def flake(self) -> web.Response | None:
        roll = self.random.random()
        if roll < self.flaky / 2:
            return web.json_response({"errors": [{"code": "InternalFailure"}]}, status=500)
        if roll < self.flaky:
            return web.json_response({"errors": [{"code": "QuotaExceeded"}]}, status=429)
        return None

    async def patch(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({"errors": [{"code": "Unauthorized"}]}, status=403)
        with self.lock:
            now = time.monotonic()
            self.patch_tokens = min(5.0, self.patch_tokens + (now - self.patch_at) * 5.0)
            self.patch_at = now
            self.patch_times.append(now)
            if self.patch_tokens < 1:
                self.over_budget += 1
                return web.json_response({"errors": [{"code": "QuotaExceeded"}]}, status=429)
            self.patch_tokens -= 1
        failed = self.flake()
        if failed:
            return failed
        body = orjson.loads(await request.read())
        quantity = body["patches"][0]["value"][0]["quantity"]
        with self.lock:
            self.patches += 1
            self.quantities[request.match_info["sku"]] = quantity
        return web.json_response({"sku": request.match_info["sku"], "status": "ACCEPTED", "submissionId": "s",
                                  "issues": []})

    async def create_document(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({}, status=403)
        document = f"doc-{next(self.ids)}"
        self.documents[document] = None
        return web.json_response({"feedDocumentId": document,
                                  "url": f"http://127.0.0.1:{self.port}/upload/{document}"}, status=201)

    async def upload(self, request: web.Request) -> web.Response:
        self.documents[request.match_info["document"]] = await request.read()
        return web.Response(status=200)

    async def create_feed(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({}, status=403)
        body = orjson.loads(await request.read())
        with self.lock:
            now = time.monotonic()
            if len([t for t in self.feed_times if now - t < 300]) >= 5:
                self.over_budget += 1
                return web.json_response({"errors": [{"code": "QuotaExceeded"}]}, status=429)
            self.feed_times.append(now)
        feed = f"feed-{next(self.ids)}"
        self.feeds[feed] = (body["inputFeedDocumentId"], time.monotonic() + 1.0)
        return web.json_response({"feedId": feed}, status=202)

    async def get_feed(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({}, status=403)
        document, done_at = self.feeds[request.match_info["feed"]]
        if time.monotonic() < done_at:
            return web.json_response({"feedId": request.match_info["feed"], "processingStatus": "IN_PROGRESS"})
        content = orjson.loads(self.documents[document])
        issues = []
        with self.lock:
            for message in content["messages"]:
                if message["sku"] in self.unknown:
                    issues.append({"messageId": message["messageId"], "code": "90220", "severity": "ERROR",
                                   "message": f"SKU {message['sku']} not found"})
                    continue
                self.quantities[message["sku"]] = message["patches"][0]["value"][0]["quantity"]
        report = f"report-{request.match_info['feed']}"
        self.documents[report] = orjson.dumps({"header": {"sellerId": "S", "version": "2.0"}, "issues": issues,
                                               "summary": {"errors": len(issues)}})
        return web.json_response({"feedId": request.match_info["feed"], "processingStatus": "DONE",
                                  "resultFeedDocumentId": report})

    async def get_document(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({}, status=403)
        document = request.match_info["document"]
        return web.json_response({"feedDocumentId": document, "url": f"http://127.0.0.1:{self.port}/download/{document}"})

    async def download(self, request: web.Request) -> web.Response:
        return web.Response(body=self.documents[request.match_info["document"]], content_type="application/json")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/auth/o2/token", self.token)
        app.router.add_patch("/listings/2021-08-01/items/{seller}/{sku}", self.patch)
        app.router.add_post("/feeds/2021-06-30/documents", self.create_document)
        app.router.add_put("/upload/{document}", self.upload)
        app.router.add_post("/feeds/2021-06-30/feeds", self.create_feed)
        app.router.add_get("/feeds/2021-06-30/feeds/{feed}", self.get_feed)
        app.router.add_get("/feeds/2021-06-30/documents/{document}", self.get_document)
        app.router.add_get("/download/{document}", self.download)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def values(self) -> dict[str, int]:
        with self.lock:
            return dict(self.quantities)
