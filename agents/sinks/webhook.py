"""The webhook sink: the body of a batch and its signature (pure), and the channel that POSTs it.

    POST <url>
    Content-Type: application/json
    X-Stockstream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

    {"channel": "web", "items": [{"sku", "available", "version", "published_at"}, ...]}

A receiver recomputes v1 over the raw body and refuses a t too far from its clock (a replay);
`verify` does exactly that and is what the README's example receiver calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any, Callable, Iterable

import aiohttp
import orjson

from agents.sinks.backlog import Update
from agents.sinks.runner import Answer

HEADER = "X-Stockstream-Signature"
TOLERANCE_SECONDS = 300


def body(channel: str, items: Iterable[dict[str, Any]]) -> bytes:
    return orjson.dumps({"channel": channel, "items": list(items)})


def signature(secret: bytes, payload: bytes, t: int) -> str:
    digest = hmac.new(secret, str(t).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: bytes, header: str, payload: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - t) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, payload, t), f"t={t},v1={fields.get('v1', '')}")


class WebhookChannel:
    """runner.Channel for a webhook: one signed POST per batch; a 2xx acknowledges it."""

    def __init__(self, url: str, channel: str, secret: bytes, timeout: float, session: aiohttp.ClientSession,
                 clock: Callable[[], float] = time.time) -> None:
        self.url, self.channel, self.secret, self.timeout = url, channel, secret, timeout
        self.session, self.clock = session, clock

    def cost(self, count: int) -> float:
        return 1  # a request, whatever it carries

    async def send(self, updates: list[Update]) -> Answer:
        payload = body(self.channel, [u.as_item() for u in updates])
        headers = {"Content-Type": "application/json", HEADER: signature(self.secret, payload, int(self.clock()))}
        try:
            async with self.session.post(self.url, data=payload, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                text = (await response.text())[:200]
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return Answer(retry=updates)
        if 200 <= status < 300:
            return Answer(acknowledged=updates)
        if status == 429 or status >= 500 or status == 408:
            return Answer(retry=updates, retry_after=seconds(retry_after))
        return Answer(refused=[(u, f"HTTP {status}: {text}") for u in updates])

    async def close(self) -> None:
        await self.session.close()


def seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form counts as a short wait)."""
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return 1.0
