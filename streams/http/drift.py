"""GET /drift: what the latest ERP snapshots found, per SKU@LOCATION, newest first.

Read from the tail of inventory.drift, every partition, so any worker answers for all of them
(a worker's own memory would hold only its partitions, and lose them at each rebalance). A
short cache keeps a dashboard refreshing every few seconds from costing a read each time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka.errors import KafkaError
from faust import web

from streams.app import app, settings, topics
from streams.http.ops_kafka import KafkaReader
from streams.http.routing import Unavailable
from streams.http.views import EngineView, reader
from streams.wire.codec import DecodeError, default_codec
from tables.requests import RequestError

TAIL = 500  # records read back per partition
READ_SECONDS = 5.0
CACHE_SECONDS = 2.0
MAX_LIMIT = 1000

_cache: tuple[float, list[dict[str, Any]]] = (0.0, [])


@app.page("/drift")
class DriftView(EngineView):
    async def get(self, request: web.Request) -> web.Response:
        reader(request)
        limit = _limit(request.query.get("limit", "100"))
        location = request.query.get("location")
        everything = request.query.get("all", "false") == "true"
        found = [r for r in await latest_findings()
                 if (everything or r["drift"]) and (location is None or r["location"] == location)]
        return self.json({"drift": [shown(r) for r in found[:limit]]})


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise RequestError("limit", f"must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO 8601 in UTC, as every view shows them (Avro decodes them as datetimes)."""
    return {**record, **{name: record[name].isoformat(timespec="milliseconds").replace("+00:00", "Z")
                         for name in ("watermark", "detected_at")}}


async def latest_findings() -> list[dict[str, Any]]:
    """The newest record per SKU@LOCATION among the tail of inventory.drift, newest first."""
    global _cache
    if time.monotonic() - _cache[0] < CACHE_SECONDS:
        return _cache[1]
    try:
        tail = await read_tail(settings.topic(topics.DRIFT))
    except (KafkaError, asyncio.TimeoutError, OSError) as err:
        raise Unavailable(f"inventory.drift cannot be read now ({type(err).__name__})") from None
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in tail:
        key = (record["sku"], record["location"])
        if key not in latest or record["detected_at"] >= latest[key]["detected_at"]:
            latest[key] = record
    found = sorted(latest.values(), key=lambda r: r["detected_at"], reverse=True)
    _cache = (time.monotonic(), found)
    return found


async def read_tail(topic: str) -> list[dict[str, Any]]:
    """The last TAIL records of every partition of topic, decoded; others' records skipped."""
    async with KafkaReader(settings) as kafka:
        offsets = await kafka.offsets([topic])
        ranges = {tp: (max(offsets.starts[tp], offsets.ends[tp] - TAIL), offsets.ends[tp]) for tp in offsets.of(topic)}
        read = await kafka.records(ranges, READ_SECONDS)
    codec, out = default_codec(), []
    for message in (m for messages in read.values() for m in messages):
        try:
            out.append(codec.decode("DriftRecord", message.value))
        except DecodeError:
            continue  # not ours to show; the topic's other readers see it as it is
    return out
