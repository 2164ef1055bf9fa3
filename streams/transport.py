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

3. No offset is committed past a record whose sends did not all arrive, and such a record is
   read again (streams/delivery.py): the commit is held back, the partition rewound.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Set

from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from streams.delivery import ledger

log = logging.getLogger(__name__)
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
        # aiokafka seeks only to a committed offset above 0: a committed 0 (a group reset to the
        # earliest) is the beginning too.
        never = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if never:
            # Forget what the early fetch delivered first: Faust drops a record below the last
            # offset it read, and would drop the very records this seek brings back.
            for tp in never:
                self.consumer._read_offset[ensure_TP(tp)] = None
            await consumer.seek_to_beginning(*never)
        return committed

    async def rewind(self, partitions: Mapping[TP, int]) -> None:
        await self.call_thread(self._rewind, partitions)

    async def _rewind(self, partitions: Mapping[TP, int]) -> None:
        consumer = self._ensure_consumer()
        assigned = consumer.assignment()
        for tp, offset in partitions.items():
            if tp in assigned:  # aiokafka also drops what it prefetched from the old position
                consumer.seek(tp, offset)


class Consumer(driver.Consumer):
    _thread: ConsumerThread

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        # Faust flushed the producer just before: every send of the records being committed
        # has its answer (or is still in its buffer). The dict is Faust's own, which it then
        # records as committed, so it is lowered in place.
        ledger.hold_back(offsets, self._acked, self._acked_index, self._committed_offset)  # type: ignore[arg-type]
        if not offsets:
            return False
        return await super()._commit(offsets)

    async def _getmany(self, active_partitions: Optional[Set[TP]], timeout: float) -> Any:
        # Between two batches: the drain loop has handed every record of the last one to the
        # streams, so none from the old position can move the read offset on again.
        rewinds = {tp: offset for tp, offset in ledger.due_rewinds().items() if tp in self.assignment()}
        if rewinds:
            for tp, offset in rewinds.items():
                log.warning("rewinding %s[%s] to %s to deliver its outputs again", tp.topic, tp.partition, offset)
                self._read_offset[tp] = offset  # Faust drops records below the last one it read
            await self._thread.rewind(rewinds)
        return await super()._getmany(active_partitions, timeout)

    def ack(self, message: Any) -> bool:
        ledger.acked(message)
        return super().ack(message)

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        await super().on_partitions_revoked(revoked)
        ledger.forget(revoked)


class Transport(driver.Transport):
    Consumer = Consumer
