"""The Amazon sink: Selling Partner API, fulfillment_availability per seller SKU.

- A few changes go one request each, `patchListingsItem` (Listings Items 2021-08-01), at the
  documented 5 requests/s with a burst of 5 (the runner's budget).
- A large catch-up (more than `feed_above` SKUs waiting) goes as one `JSON_LISTINGS_FEED`
  (Feeds 2021-06-30: create a document, upload it, create the feed, wait until it is DONE), at
  most 25,000 items per feed and 5 feeds per 5 minutes (this channel's own bucket).
- An LWA access token is fetched from the refresh token and refreshed a minute before it
  expires, or at once when the API answers 401/403.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Mapping

import aiohttp
import orjson

from agents.sinks.backlog import Update
from agents.sinks.budget import TokenBucket
from agents.sinks.runner import Answer

log = logging.getLogger(__name__)
LISTINGS = "/listings/2021-08-01/items"
FEEDS = "/feeds/2021-06-30"
FEED_RATE, FEED_BURST = 5 / 300, 5  # feeds: 5 per 5 minutes
FEED_POLL_SECONDS, FEED_WAIT_SECONDS = 2.0, 900.0
REFRESH_EARLY_SECONDS = 60


def fulfillment_patch(quantity: int) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "/attributes/fulfillment_availability",
             "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": max(quantity, 0)}]}]


def feed_document(seller_id: str, product_type: str, updates: list[Update]) -> dict[str, Any]:
    return {
        "header": {"sellerId": seller_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": [{"messageId": n, "sku": u.sku, "operationType": "PATCH", "productType": product_type,
                      "patches": fulfillment_patch(u.available)} for n, u in enumerate(updates, 1)],
    }


def report_outcome(report: Mapping[str, Any], updates: list[Update]) -> Answer:
    """A JSON_LISTINGS_FEED processing report: messages with an ERROR issue are refused."""
    errors: dict[int, str] = {}
    for issue in report.get("issues") or []:
        if issue.get("severity") == "ERROR" and issue.get("messageId") is not None:
            errors.setdefault(int(issue["messageId"]), f"{issue.get('code')}: {issue.get('message')}")
    answer = Answer()
    for number, update in enumerate(updates, 1):  # messageIds as feed_document numbers them
        if number in errors:
            answer.refused.append((update, f"feed: {errors[number]}"))
        else:
            answer.acknowledged.append(update)
    return answer


class AccessToken:
    """Login with Amazon: an access token from the refresh token, kept until shortly before it expires."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, refresh_token: str,
                 session: aiohttp.ClientSession, clock: Callable[[], float] = time.monotonic) -> None:
        self.form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id,
                     "client_secret": client_secret}
        self.url, self.session, self.clock = token_url, session, clock
        self.token: str | None = None
        self.expires = 0.0

    async def get(self) -> str:
        if self.token is None or self.clock() >= self.expires - REFRESH_EARLY_SECONDS:
            async with self.session.post(self.url, data=self.form, timeout=aiohttp.ClientTimeout(total=30)) as reply:
                body = await reply.json(content_type=None)
                if reply.status != 200 or "access_token" not in body:
                    raise PermissionError(f"LWA token refresh: HTTP {reply.status} {str(body)[:200]}")
            self.token, self.expires = body["access_token"], self.clock() + float(body.get("expires_in", 3600))
        return self.token

    def forget(self) -> None:
        self.token = None


class AmazonChannel:
    def __init__(self, options: Mapping[str, Any], secrets: Mapping[str, str], session: aiohttp.ClientSession,
                 clock: Callable[[], float] = time.monotonic, sleep=asyncio.sleep) -> None:
        self.endpoint, self.seller = options["endpoint"], options["seller_id"]
        self.marketplace, self.product_type = options["marketplace_id"], options["product_type"]
        self.feed_above, self.items = options["feed_above"], options.get("items") or {}
        self.session, self.clock, self.sleep = session, clock, sleep
        self.token = AccessToken(options["token_url"], secrets["client_id"], secrets["client_secret"],
                                 secrets["refresh_token"], session, clock)
        self.feeds = TokenBucket.full(FEED_RATE, FEED_BURST, clock())
        self.feeds_sent = 0

    def by_feed(self, count: int) -> bool:
        return count > self.feed_above and self.feeds.wait(1, self.clock()) == 0

    def cost(self, count: int) -> float:
        return 1 if self.by_feed(count) else count  # a feed is one request; patches one each

    async def send(self, updates: list[Update]) -> Answer:
        try:
            if self.by_feed(len(updates)):
                return await self.send_feed(updates)
            return await self.send_patches(updates)
        except PermissionError as err:  # no token: nothing can go until an operator fixes it
            log.error("amazon sink: %s", err)
            return Answer(retry=updates, retry_after=60.0, spent=0)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return Answer(retry=updates)

    def seller_sku(self, update: Update) -> str:
        return self.items.get(update.sku, update.sku)

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, float | None]:
        status, body, retry_after = await self.request_once(method, path, **kwargs)
        if status in (401, 403):  # the token expired early or was revoked: once more with a new one
            self.token.forget()
            status, body, retry_after = await self.request_once(method, path, **kwargs)
        return status, body, retry_after

    async def request_once(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, float | None]:
        headers = {"x-amz-access-token": await self.token.get(), "Content-Type": "application/json"}
        async with self.session.request(method, self.endpoint + path, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=30), **kwargs) as reply:
            body = await reply.json(content_type=None) if reply.content_length != 0 else {}
            retry_after = reply.headers.get("Retry-After")
            return reply.status, body or {}, float(retry_after) if retry_after else None

    async def send_patches(self, updates: list[Update]) -> Answer:
        answer = Answer()
        for update in updates:
            status, body, retry_after = await self.request(
                "PATCH", f"{LISTINGS}/{self.seller}/{self.seller_sku(update)}",
                params={"marketplaceIds": self.marketplace},
                data=orjson.dumps({"productType": self.product_type, "patches": fulfillment_patch(update.available)}))
            if status == 200 and body.get("status") == "ACCEPTED":
                answer.acknowledged.append(update)
            elif status == 429 or status >= 500:
                answer.retry.append(update)
                answer.retry_after = max(answer.retry_after or 0, retry_after or 1.0)
            else:
                issues = body.get("issues") or body.get("errors") or body
                answer.refused.append((update, f"HTTP {status}: {str(issues)[:200]}"))
        return answer

    async def send_feed(self, updates: list[Update]) -> Answer:
        self.feeds.spend(1, self.clock())
        self.feeds_sent += 1
        status, document, _ = await self.request("POST", f"{FEEDS}/documents",
                                                 data=orjson.dumps({"contentType": "application/json; charset=UTF-8"}))
        if status != 201:
            return Answer(retry=updates, retry_after=5.0)
        content = orjson.dumps(feed_document(self.seller, self.product_type, updates))
        async with self.session.put(document["url"], data=content,
                                    headers={"Content-Type": "application/json; charset=UTF-8"}) as upload:
            if upload.status != 200:
                return Answer(retry=updates, retry_after=5.0)
        status, feed, _ = await self.request("POST", f"{FEEDS}/feeds", data=orjson.dumps(
            {"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [self.marketplace],
             "inputFeedDocumentId": document["feedDocumentId"]}))
        if status != 202:
            return Answer(retry=updates, retry_after=5.0)
        return await self.wait_for_feed(feed["feedId"], updates)

    async def wait_for_feed(self, feed_id: str, updates: list[Update]) -> Answer:
        """A feed counts as sent once Amazon has processed it (DONE)."""
        deadline = self.clock() + FEED_WAIT_SECONDS
        while self.clock() < deadline:
            status, feed, _ = await self.request("GET", f"{FEEDS}/feeds/{feed_id}")
            state = feed.get("processingStatus") if status == 200 else None
            if state == "DONE":
                return await self.feed_outcome(feed, updates)
            if state in ("CANCELLED", "FATAL"):
                return Answer(retry=updates, retry_after=30.0)
            await self.sleep(FEED_POLL_SECONDS)
        return Answer(retry=updates)

    async def feed_outcome(self, feed: Mapping[str, Any], updates: list[Update]) -> Answer:
        """The processing report's errors, per message: those SKUs are refused (the DLQ), the rest done."""
        document_id = feed.get("resultFeedDocumentId")
        if not document_id:
            return Answer(acknowledged=updates)
        status, document, _ = await self.request("GET", f"{FEEDS}/documents/{document_id}")
        if status != 200:
            return Answer(retry=updates, retry_after=30.0)
        async with self.session.get(document["url"], timeout=aiohttp.ClientTimeout(total=60)) as reply:
            if reply.status != 200:
                return Answer(retry=updates, retry_after=30.0)
            report = await reply.json(content_type=None)
        return report_outcome(report, updates)

    async def close(self) -> None:
        await self.session.close()
