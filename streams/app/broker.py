"""Does Kafka answer this worker now? A probe asks for the metadata of its topics every
PROBE_SECONDS.

While it does not, this worker cannot know who owns what (the group may have moved its
partitions) and cannot log a request, so reads, reservations and /health answer 503 at once
instead of waiting on a producer that would hold the send until the broker returns.
"""

from __future__ import annotations

import asyncio
import logging

from streams.app import app, settings, topics
from streams.app.compat import kafka_client, track_topic

log = logging.getLogger(__name__)
PROBE_SECONDS = 1.0
PROBE_TIMEOUT = 3.0

_away = False


def reachable() -> bool:
    """False from a probe that got no answer until one that does: a probe that runs late (a
    busy loop) says nothing about the broker."""
    return not _away


@app.timer(PROBE_SECONDS)
async def probe() -> None:
    client = kafka_client(app)
    if client is not None:
        # A client that tracks no topic asks for every topic of the cluster at each refresh
        # (thousands on a shared cluster: a tenth of a worker's time at one probe a second).
        for logical in topics.TOPICS:
            track_topic(app, settings.topic(logical))
        await probe_with(client)


async def probe_with(client) -> None:
    global _away
    try:
        if not await asyncio.wait_for(client.force_metadata_update(), PROBE_TIMEOUT):
            raise ConnectionError("no broker answered a metadata request")
    except Exception as err:  # noqa: BLE001 - any failure means: no answer
        if not _away:
            log.warning("Kafka does not answer (%s): this worker answers 503 until it does", type(err).__name__)
        _away = True
        return
    if _away:
        log.warning("Kafka answers again")
    _away = False

