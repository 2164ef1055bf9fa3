"""Which worker owns a key, and the one way a request reaches it.

A key's partition is what the producer gives it (murmur2, as Kafka's default partitioner), over
the partition count every keyed topic and table is created with; its owner is the worker the
group's last assignment gave that partition of the table. Neither step asks the producer, so
ownership is known before this worker has written anything (Faust's router asks the producer,
which raises until it has metadata for the table's changelog). While the group rebalances or
tables recover, ownership is unknown: Unavailable, answered 503 with Retry-After.

A request for another worker's key is forwarded to it once, carrying the internal credential
and the caller's client name, never the caller's token. A forwarded request is never forwarded
again: if ownership moved meanwhile, the answer is 503 and the client retries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiokafka.partitioner import murmur2
from faust import web
from yarl import URL

from streams.app import broker
from streams.app.compat import assignments
from streams.app import app, settings

FORWARDED = "X-Stockstream-Forwarded"  # the internal credential
CLIENT = "X-Stockstream-Client"  # the client the forwarding worker authenticated
RETRY_AFTER_SECONDS = 1


class Unavailable(Exception):
    """Ownership is unknown or its owner cannot answer now: 503 with Retry-After."""


def partition_for(key: bytes, partitions: int | None = None) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % (partitions or settings.partitions)


def ready() -> bool:
    """Tables recovered, assignment stable, Kafka answering: ownership is known."""
    return (assignments.latest_recovered() and app.tables.recovery.completed.is_set() and not app.rebalancing
            and not app.in_recovery and broker.reachable())


@dataclass(frozen=True)
class Owner:
    partition: int
    url: URL | None  # None: this worker

    @property
    def local(self) -> bool:
        return self.url is None


_owners: tuple[Any, dict[tuple[str, int], URL]] = (None, {})


def owner(table: Any, key: bytes) -> Owner:
    """Who owns key in table now; Unavailable while nobody knows."""
    if not ready():
        raise Unavailable("this worker is starting, rebalancing or recovering its tables, or Kafka is away")
    partition = partition_for(key)
    url = _owner_urls().get((table.changelog_topic.get_topic_name(), partition))
    if url is None:
        raise Unavailable(f"no worker owns partition {partition} of {table.name} right now")
    mine = app.conf.canonical_url
    return Owner(partition, None if (url.host, url.port) == (mine.host, mine.port) else url)


def _owner_urls() -> dict[tuple[str, int], URL]:
    """(changelog topic, partition) -> owner URL, from the last assignment (cached per one)."""
    global _owners
    distribution = app.assignor.changelog_distribution
    if _owners[0] is not distribution:
        _owners = (distribution, {
            (topic, partition): URL(host)
            for host, topics in distribution.items()
            for topic, partitions in topics.items()
            for partition in partitions
        })
    return _owners[1]


def forwarded_client(request: web.Request) -> str | None:
    """The client a forwarding worker vouches for; None for a request from outside. A request
    that carries the marker without the internal credential is refused (Denied 403)."""
    from streams.app.auth import Denied, is_internal

    presented = request.headers.get(FORWARDED)
    if presented is None:
        return None
    if not is_internal(presented, settings.internal_credential()):
        raise Denied(403, f"{FORWARDED} is for stockstream workers only")
    return request.headers.get(CLIENT, "")


async def forward(view: web.View, request: web.Request, to: Owner, client: str | None,
                  body: bytes | None = None) -> web.Response:
    """The owner's answer to this request, passed back as it is."""
    if forwarded_client(request) is not None:
        raise Unavailable("the key's owner changed while the request was forwarded")
    # The path as it came (still percent-encoded: an id or SKU may hold a '/').
    url = to.url.with_path(request.rel_url.raw_path, encoded=True).with_query(request.rel_url.query)
    status, payload, content_type, retry_after = await _send(request.method, url, body, client,
                                                             settings.request_timeout + 5)
    return view.bytes(payload, status=status, content_type=content_type,
                      headers={"Retry-After": retry_after} if retry_after else None)


async def call(to: Owner, method: str, segments: list[str], timeout: float) -> tuple[int, Any]:
    """A worker's own question to another (JSON out): the path's segments are quoted here."""
    path = "/" + "/".join(quote(segment, safe="") for segment in segments)
    status, payload, _, _ = await _send(method, to.url.with_path(path, encoded=True), None, None, timeout)
    try:
        return status, orjson.loads(payload or b"{}")
    except orjson.JSONDecodeError:
        raise Unavailable(f"the key's owner answered {status} with something not JSON") from None


async def _send(method: str, url: URL, body: bytes | None, client: str | None,
                timeout_seconds: float) -> tuple[int, bytes, str, str | None]:
    headers = {FORWARDED: settings.internal_credential(), "Content-Type": "application/json"}
    if client is not None:
        headers[CLIENT] = client
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    try:
        async with app.http_client.request(method, url, data=body, headers=headers, timeout=timeout) as response:
            return (response.status, await response.read(), response.content_type,
                    response.headers.get("Retry-After"))
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        raise Unavailable(f"the key's owner is not reachable: {type(err).__name__}") from None
