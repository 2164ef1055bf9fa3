"""Faust's aiokafka transport with two fixes.

1. A consumer group with no committed offset for a partition really starts at the earliest
   record.

Faust pauses stream partitions while tables recover, yet its consumer thread may already have
fetched (and dropped) their first records, moving the position on; after recovery it seeks
only partitions that have a committed offset. A new deployment whose recovery took a moment
(a catalog to load) would silently skip every event already on the topic. Here partitions
with nothing committed are sent back to their beginning, as auto_offset_reset=earliest says.

2. Fetches wait at most FETCH_MAX_WAIT_MS for data. Faust hard-codes 1.5 s: a fetch in flight
   for partitions with nothing new holds back a record that lands in another one, so a
   reservation request (logged, then applied by this same worker) waited 1.5 s for its answer.
"""

from __future__ import annotations

from typing import Any, Mapping

from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 50


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
        return consumer

    async def seek_to_committed(self) -> Mapping[Any, int]:
        return await self.call_thread(self._seek_to_committed_or_earliest)

    async def _seek_to_committed_or_earliest(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        changelogs = self.app.tables.changelog_topics  # recovery places those itself
        never = [tp for tp, offset in committed.items() if offset is None and tp.topic not in changelogs]
        if never:
            # Forget what the early fetch delivered first: Faust drops a record below the last
            # offset it read, and would drop the very records this seek brings back.
            for tp in never:
                self.consumer._read_offset[ensure_TP(tp)] = None
            await consumer.seek_to_beginning(*never)
        return committed


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer
