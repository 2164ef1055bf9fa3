"""The operations page: GET /ui (static, open like /health) and GET /ops/summary, the JSON it
shows: per channel what was published and when and the channel stage's lag, dead letters, and
each sink's lag. The drift list and a SKU's explain come from their own endpoints.

The summary is read from Kafka (streams/http/ops_kafka.py), so any worker answers for the whole
deployment, except the dead letters by reason: Prometheus counters, each worker's own, summed
here over the workers of the group (their /metrics, fetched concurrently). It is cached for
CACHE_SECONDS and built once for every request that waits on it, within DEADLINE_SECONDS: a
broker away makes it a 503 with Retry-After, never a request that hangs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka.errors import KafkaError
from faust import web
from prometheus_client import generate_latest
from yarl import URL

from streams.app import app, settings, topics
from streams.app.metrics import DEAD_LETTERS
from streams.http import ops_summary as summary
from streams.http.ops_kafka import KafkaReader
from streams.http.routing import Unavailable
from streams.http.views import EngineView, reader
from tables.store import policy_cache

CACHE_SECONDS = 3.0
DEADLINE_SECONDS = 8.0
READ_SECONDS = 2.0  # of records, within the deadline
PEER_SECONDS = 2.0
DLQ_TAIL = summary.LATEST_LETTERS  # records read from the end of each DLQ partition

STATIC = Path(__file__).with_name("static")
# Everything the page loads, served by the worker itself: it works with no other network.
ASSETS = {"/ui": ("index.html", "text/html"), "/ui/app.js": ("app.js", "text/javascript"),
          "/ui/style.css": ("style.css", "text/css")}
HEADERS = {"Cache-Control": "no-cache",
           "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"}


def _asset_view(path: str) -> None:
    name, content_type = ASSETS[path]

    @app.page(path)
    class Asset(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.bytes((STATIC / name).read_bytes(), content_type=content_type, headers=HEADERS)


for _path in ASSETS:
    _asset_view(_path)


@app.page("/ops/summary")
class SummaryView(EngineView):
    async def get(self, request: web.Request) -> web.Response:
        reader(request)
        return self.json(await cached())


_cache: tuple[float, dict[str, Any]] | None = None
_building: asyncio.Future | None = None


async def cached() -> dict[str, Any]:
    global _cache, _building
    if _cache is not None and time.monotonic() - _cache[0] < CACHE_SECONDS:
        return _cache[1]
    if _building is None:
        _building = asyncio.ensure_future(_build())
    building = _building
    try:
        found = await asyncio.shield(building)
    except (KafkaError, asyncio.TimeoutError, OSError) as err:
        raise Unavailable(f"Kafka did not answer the summary's reads: {type(err).__name__}") from None
    finally:
        if _building is building and building.done():
            _building = None
    _cache = (time.monotonic(), found)
    return found


async def _build() -> dict[str, Any]:
    counts, kafka = await asyncio.gather(dead_letter_counts(), asyncio.wait_for(from_kafka(), DEADLINE_SECONDS))
    kafka["dead_letters"].update(counts)
    return {"generated_at": summary.iso(int(time.time() * 1000)), **kafka}


async def from_kafka() -> dict[str, Any]:
    prefix = settings.topic_prefix
    channels = {name: policy.publish_interval for name, policy in policy_cache.get().channels.items()}
    topic_of = {name: settings.topic(topics.CHANNEL_PREFIX + name) for name in channels}
    stage_inputs = [settings.topic(topics.LOCATIONS), settings.topic(topics.COMPONENTS)]
    dlq = settings.topic(topics.DLQ)
    async with KafkaReader(settings) as kafka:
        sinks = await kafka.groups(prefix + summary.SINK_GROUP)
        committed = await kafka.committed([settings.app_id, *sinks])
        sink_topics = {tp[0] for group in sinks for tp in committed[group]}
        sink_dlqs = [f"{prefix}sinks.{group[len(prefix + summary.SINK_GROUP):]}.dlq" for group in sinks]
        offsets = await kafka.offsets([*stage_inputs, *topic_of.values(), dlq, *sink_topics, *sink_dlqs])

        # The newest record of each channel partition and the DLQ's last few, and the oldest the
        # channel stage has not handled (distinct partitions: one read), then each sink's oldest
        # unacknowledged (sinks may share a channel: a read each).
        stage_behind = summary.unhandled(offsets, stage_inputs, committed[settings.app_id])
        ranges = {tp: (offsets.ends[tp] - 1, offsets.ends[tp]) for t in topic_of.values() for tp in offsets.of(t)
                  if offsets.ends[tp] > offsets.starts[tp]}
        ranges |= {tp: (max(offsets.starts[tp], offsets.ends[tp] - DLQ_TAIL), offsets.ends[tp])
                   for tp in offsets.of(dlq)}
        ranges |= {tp: (at, at + 1) for tp, at in stage_behind.items()}
        found = await kafka.records(ranges, READ_SECONDS)
        stamps = {tp: records[0].timestamp for tp, records in found.items() if records}
        sink_stamps = {}
        for group in sinks:
            behind = summary.unhandled(offsets, {tp[0] for tp in committed[group]}, committed[group])
            read = await kafka.records({tp: (at, at + 1) for tp, at in behind.items()}, READ_SECONDS)
            sink_stamps[group] = {tp: records[0].timestamp for tp, records in read.items() if records}

    now = int(time.time() * 1000)
    newest = {tp: found[tp][-1].timestamp for t in topic_of.values() for tp in offsets.of(t) if found.get(tp)}
    letters = [summary.letter(r.key, r.value, r.headers, r.timestamp) for tp in offsets.of(dlq) for r in found[tp]]
    return {
        "channels": summary.channel_rows(channels, topic_of, offsets, newest,
                                         summary.lag(offsets, stage_behind, stamps, now)),
        "dead_letters": {"records": offsets.held(dlq), "latest": summary.latest_letters(letters)},
        "sinks": summary.sink_rows(prefix, {g: committed[g] for g in sinks}, offsets, sink_stamps, now),
    }


async def dead_letter_counts() -> dict[str, Any]:
    """The counts by stage and reason since each worker started, summed over the workers the
    group's last assignment names; one that does not answer in time is listed, not waited for."""
    family = DEAD_LETTERS.describe()[0].name
    mine = app.conf.canonical_url
    peers = [URL(host) for host in app.assignor.changelog_distribution]
    peers = [url for url in peers if (url.host, url.port) != (mine.host, mine.port)]
    answers = await asyncio.gather(*(_metrics_of(url) for url in peers), return_exceptions=True)
    texts = [generate_latest().decode()] + [a for a in answers if isinstance(a, str)]
    unreachable = [str(url) for url, a in zip(peers, answers) if not isinstance(a, str)]
    return {"by_reason": summary.merged_counts(summary.samples_in(text, family) for text in texts),
            "workers": {"counted": len(texts), "unreachable": unreachable}}


async def _metrics_of(url: URL) -> str:
    timeout = aiohttp.ClientTimeout(total=PEER_SECONDS)
    async with app.http_client.get(url.with_path("/metrics"), timeout=timeout) as response:
        response.raise_for_status()
        return await response.text()
