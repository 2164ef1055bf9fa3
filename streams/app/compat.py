"""Every touch of a private Faust or aiokafka name, in one place.

Each hook says which upstream behaviour it corrects. tests/unit/test_compat.py fails if a name
it relies on goes away, so an upgrade cannot make a fix vanish silently; faust-streaming and
aiokafka are pinned to the versions read (pyproject.toml: faust-streaming 0.15.3, aiokafka 0.14.0).

1. `App._new_transport`: Faust builds its aiokafka transport there; ours (below) carries 2-4.
2. The consumer thread: a consumer group with no committed offset for a partition really
   starts at the earliest record. Faust pauses stream partitions while tables recover, yet its
   consumer thread may already have fetched (and dropped) their first records; after recovery
   it seeks only partitions with a committed offset, so a new deployment whose recovery took a
   moment would silently skip every event already on the topic. (`_read_offset`,
   `_ensure_consumer`, `call_thread`.)
3. Fetches wait at most FETCH_MAX_WAIT_MS for data. Faust hard-codes 1.5 s
   (`_fetch_max_wait_ms`): a fetch in flight for idle partitions held a reservation's answer
   back 1.5 s.
4. No offset is committed past a record whose sends did not all arrive, and such a record is
   read again (streams/app/delivery.py). Faust acknowledges a record in the agent's `finally`
   even when it raised, and commits past sends that failed (faust-streaming #527; it only
   logs them in Topic._on_published). (`_commit`, `_getmany`, `_acked`, `_acked_index`,
   `_committed_offset`, `_read_offset`, `_thread`.)
5. `GlobalTable._changelog_topic_name`: the assignor names a global table's changelog from the
   table's name and ignores changelog_topic (faust-streaming #296): KeyError, and the group
   never gets an assignment.
6. `Store._db_for_partition`, `Store.offset_key`: no per-partition view of a table, no
   iteration from a key.
7. `Producer._producer`: no public way to ask whether the broker answers.
8. Every topic the producer writes is tracked by its aiokafka client (`Producer._producer`,
   `AIOKafkaClient.add_topic`). The client refreshes the metadata of the topics it tracks
   and forgets every other; its producer tracks a topic only when it has no metadata for it
   at send time. So once one topic was tracked, a refresh dropped the leaders of the others
   (a changelog, a channel) while batches for them sat in the accumulator: those batches
   waited for a leader until their 20-minute request timeout, and Faust's commit, which
   flushes the producer, with them (the worker stopped). Tracking none at all is no better:
   each refresh then asks for every topic of the cluster.
9. Ownership is known only once the tables of the group's latest assignment are recovered
   (`Recovery._resume_streams`, `Recovery.on_recovery_completed`, `TableManager._recovery`).
   Faust never clears `Recovery.completed`, sets `in_recovery` only several awaits after a
   new assignment, and a recovery of an earlier assignment that ends meanwhile calls
   `on_rebalance_end` (clearing `app.rebalancing`): for a moment a worker looked ready under
   an assignment whose new partitions it had not restored, and answered 404 for positions
   that exist. Each assignment is counted, and ready means the recovery of the latest one
   completed under its own generation.
10. `Consumer._new_offset`: the offset to commit is the end of the first run of consecutive
   acknowledged offsets (`_acked`). Faust adds the gaps it fills in to that list without
   checking what it holds, so an offset could be in it twice, and the run then ended at the
   pair: after a crash, commits advanced one record at a time while the worker sat idle (lag
   that never drained, and every record since read again at the next crash). The list is
   kept unique. (`_acked`, `_acked_index`, `_gap`, `_committed_offset`.)
11. After a recovery Faust resumes the stream partitions, then seeks them to their committed
   offsets (`Recovery.on_recovery_completed`, `_resume_streams`), while its drain loop may
   already hand out a batch read from where they stood (past records fetched early and
   dropped). Each record of it sets the read offset (`_read_offset`) above the seek's: the
   records between came again only to be dropped, and the gap Faust saw was counted as
   acknowledged. Records were silently skipped and committed (a new deployment's first
   records, a restarted worker's records since its last commit). The partitions are now seeked
   before the resume too, so whatever the drain loop hands out meanwhile is from the committed
   offsets, and Faust's own seek after it can only bring a record back a second time.
12. `AIOKafkaClient._metadata_update`: aiokafka asks for metadata again as soon as anyone
   wants it, and a failed connection wants it at once (`_get_conn`), as does the producer's
   sender while a partition has no known leader. With the broker away, a worker tried to
   connect thousands of times a second and logged every try (120 MB of log per worker in a 70 s
   outage). A failed update now waits before it answers: retry_backoff_ms, doubling up to
   METADATA_BACKOFF_MOST, and back to nothing after one that succeeds (`_retry_backoff`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Iterator, Mapping, Optional, Set

import faust
from faust.assignor import PartitionAssignor
from faust.tables.recovery import Recovery as FaustRecovery
from faust.transport.consumer import ensure_TP
from faust.utils.functional import consecutive_numbers
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from aiokafka.client import AIOKafkaClient

from streams.app import delivery
from streams.app.delivery import ledger
from streams.app.metrics import REBALANCES, RECOVERY_SECONDS

log = logging.getLogger(__name__)
FETCH_MAX_WAIT_MS = 50
METADATA_BACKOFF_MOST = 1.0  # seconds: the broker back is noticed within about this


class App(faust.App):
    """Hook 1."""

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)


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

    def _new_offset(self, tp: TP) -> Optional[int]:
        """Hook 10: Faust's, with the acknowledged offsets (and the gaps filled in) unique."""
        acked = self._acked[tp]
        if not acked:
            return None
        highest, gaps = max(acked), self._gap[tp]
        filled = [o for gap in sorted(gaps.overlap(0, highest), key=lambda g: g.begin) for o in range(gap.begin, gap.end)]
        if filled:
            gaps.chop(0, max(filled[-1], highest + 1))
        acked[:] = sorted(set(acked).union(filled))
        committed = self._committed_offset[tp]
        if committed and acked[0] - committed > 1:
            return None  # a gap at the head: nothing new to commit
        batch = next(consecutive_numbers(acked))
        del acked[: len(batch)]
        self._acked_index[tp].difference_update(batch)
        return batch[-1] + 1

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        await super().on_partitions_revoked(revoked)
        ledger.forget(revoked)


class Transport(driver.Transport):
    Consumer = Consumer


class TopicGlobalTable(faust.GlobalTable):
    """Hook 5: a GlobalTable over a topic that another system writes, its changelog named
    right."""

    def _changelog_topic_name(self) -> str:
        return self.changelog_topic.get_topic_name()


def partition_items(table: Any, partition: int, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
    """The records of one partition of a RocksDB-backed table, in key order from start.

    Faust's tables offer no per-partition view: their keys() reads every partition, and
    iterating from a key (an index range) is not exposed at all. The store keeps one RocksDB per
    partition (Store._db_for_partition) and its own bookkeeping under Store.offset_key.
    """
    store = table.data
    db = store._db_for_partition(partition)  # noqa: SLF001 - see the docstring
    for key, value in db.items(from_key=start):
        if key != store.offset_key:
            yield key, value


def kafka_client(app: Any) -> Any:
    """The aiokafka client under Faust's producer (None before it starts), to ask the cluster
    for metadata: Faust has no public way to ask whether the broker answers."""
    producer = app.producer._producer  # noqa: SLF001 - the aiokafka producer Faust wraps
    return producer.client if producer is not None else None


class Topic(delivery.Topic):
    """Hook 8: the producer's client tracks this topic before its first record is sent."""

    async def publish_message(self, fut: Any, wait: bool = False) -> Any:
        name = fut.message.topic if isinstance(fut.message.topic, str) else self.get_topic_name()
        track_topic(self.app, name)
        return await super().publish_message(fut, wait=wait)


_tracked: Set[str] = set()


def track_topic(app: Any, name: str) -> None:
    """Hook 8: once per topic; the metadata refresh this may start runs in the background."""
    if name in _tracked:
        return
    client = kafka_client(app)
    if client is None:
        return
    _tracked.add(name)
    client.add_topic(name).add_done_callback(_ignore_outcome)


def _ignore_outcome(future: Any) -> None:
    # a refresh that fails is retried by the client; the outcome is nobody's to read
    if not future.cancelled():
        future.exception()


class Assignments:
    """Hook 9: how many assignments the group gave this worker, and the latest one whose tables
    are recovered (and how long that took: stockstream_recovery_seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.given = 0
        self.recovered = -1
        self.clock = clock
        self.given_at = clock()

    def arrived(self) -> None:
        self.given += 1
        self.given_at = self.clock()
        REBALANCES.inc()

    def latest_recovered(self) -> bool:
        return self.recovered == self.given

    async def recover(self, app: Any, finish: Any, generation_id: int) -> None:
        """Run Faust's end of a recovery; it counts only if no assignment came meanwhile and it
        ran under the generation it was for (Faust returns early otherwise)."""
        assignment = self.given
        await finish(generation_id=generation_id)
        if self.given == assignment and app.consumer_generation_id == generation_id:
            self.recovered = assignment
            RECOVERY_SECONDS.set(self.clock() - self.given_at)


assignments = Assignments()


class Assignor(PartitionAssignor):
    """Hook 9: counts each assignment, in the same step that installs it (no await between)."""

    def on_assignment(self, assignment: Any) -> None:
        super().on_assignment(assignment)
        assignments.arrived()


class Recovery(FaustRecovery):
    """Hook 9: both ways a recovery ends (with tables restored, or nothing to restore).
    Hook 11: the stream partitions are placed at their committed offsets before Faust resumes
    them (it seeks only after), so the first batch read after the resume is from there."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        await self._place_streams()
        await assignments.recover(self.app, super().on_recovery_completed, generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        await self._place_streams()
        await assignments.recover(self.app, super()._resume_streams, generation_id)

    async def _place_streams(self) -> None:
        consumer = self.app.consumer
        if consumer.assignment():
            await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)


class TableManager(faust.tables.TableManager):
    """Hook 9: Faust builds its Recovery here, by name."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


_metadata_update = AIOKafkaClient._metadata_update


async def _metadata_update_backing_off(self: Any, cluster_metadata: Any, topics: Any) -> bool:
    """Hook 12: aiokafka's update, then a pause after each one that failed, growing while they do."""
    updated = await _metadata_update(self, cluster_metadata, topics)
    self.metadata_failures = 0 if updated else getattr(self, "metadata_failures", 0) + 1
    if not updated:
        await asyncio.sleep(metadata_backoff(self._retry_backoff, self.metadata_failures))
    return updated


def metadata_backoff(first: float, failures: int) -> float:
    return min(first * 2 ** (failures - 1), METADATA_BACKOFF_MOST)


AIOKafkaClient._metadata_update = _metadata_update_backing_off  # every client of this process
