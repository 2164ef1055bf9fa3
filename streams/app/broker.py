"""Does Kafka answer this worker now? A probe asks for the metadata of its topics every
PROBE_SECONDS.

While it does not, this worker cannot know who owns what (the group may have moved its
partitions) and cannot log a request, so reads, reservations and /health answer 503 at once
instead of waiting on a producer that would hold the send until the broker returns.
"""

from __future__ import annotations

import asyncio
import logging

from streams.app import app
from streams.app.compat import kafka_client

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
    global _away
    client = kafka_client(app)
    if client is None:
        return
    try:
        # Metadata of the topics this worker writes only: all of a cluster's topics can cost
        # a worker several percent of its time every second.
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
