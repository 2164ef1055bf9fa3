"""The Kafka side of a sink (runner.Log): its consumer group on availability.<channel>, manual
commits, and its dead-letter topic sinks.<name>.dlq. aiokafka, without Faust: a sink is a
plain consumer with no tables."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from agents.sinks.config import Sink
from agents.sinks.metrics import SinkMetrics
from streams.app.security import client_options
from streams.app.settings import Settings
from streams.wire.deadletters import fit, headers_for

log = logging.getLogger(__name__)
MAX_RECORDS = 5000


class KafkaLog:
    def __init__(self, sink: Sink, settings: Settings) -> None:
        self.sink, self.settings = sink, settings
        self.topic = settings.topic(f"availability.{sink.channel}")
        self.dlq = settings.topic(sink.dlq_topic)
        self.consumer = AIOKafkaConsumer(
            self.topic, group_id=settings.topic(sink.group_id), enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A send holds the loop while it waits for the channel (an Amazon feed is processed in
            # minutes): the group must not take the partitions away meanwhile. sinks.yaml's
            # max_poll_interval_seconds, 1200 unless set.
            max_poll_interval_ms=int(sink.max_poll_interval_seconds * 1000), **client_options(settings))
        self.producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **client_options(settings))
        self.metrics = SinkMetrics(sink.name)
        self.ends: dict[TopicPartition, int] | None = None  # where the topic ended (--once)

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def poll(self, timeout: float) -> list[tuple[int, int, bytes | None, bytes | None]]:
        batches = await self.consumer.getmany(timeout_ms=int(timeout * 1000), max_records=MAX_RECORDS)
        await self.measure_lag()
        return [(tp.partition, m.offset, m.key, m.value) for tp, messages in batches.items() for m in messages]

    async def measure_lag(self) -> None:
        behind = 0
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is not None:
                behind += max(0, end - await self.consumer.position(tp))
        self.metrics.lag.set(behind)

    async def caught_up(self) -> bool:
        assigned = self.consumer.assignment()
        if not assigned:
            return False  # not in the group yet
        if self.ends is None:
            self.ends = await self.consumer.end_offsets(list(assigned))
        for tp, end in self.ends.items():
            if tp in assigned and await self.consumer.position(tp) < end:
                return False
        return True

    async def commit(self, offsets: dict[int, int]) -> dict[int, int]:
        """runner.Log.commit: the offsets committed. A sink stalled past its poll interval or its
        session timeout (a frozen process, a send longer than max_poll_interval_seconds) has been
        expelled from its group: its commit is refused (CommitFailedError) until the consumer has
        rejoined, which its next poll does. Not a reason to stop: nothing is counted as committed,
        and the same offsets go again at the next commit."""
        assigned = {tp.partition for tp in self.consumer.assignment()}
        mine = {TopicPartition(self.topic, p): o for p, o in offsets.items() if p in assigned}
        if not mine:
            return {}
        try:
            await self.consumer.commit(mine)
        except (CommitFailedError, IllegalStateError) as err:
            cause = err.__cause__ or err
            log.warning("sink %s: commit refused (%s): the consumer is out of its group (stalled past "
                        "max_poll_interval_seconds %g or the session timeout?) and rejoins at its next poll; "
                        "the same offsets are committed then", self.sink.name, type(cause).__name__,
                        self.sink.max_poll_interval_seconds)
            return {}
        return {tp.partition: offset for tp, offset in mine.items()}

    async def dead_letter(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
                          reason: str) -> None:
        headers = headers_for([], reason=reason, stage=f"sink:{self.sink.name}", topic=self.topic,
                              partition=partition, offset=offset)
        key, value, headers = fit(key, value, headers, self.settings.limits().message_bytes)
        await self.producer.send_and_wait(self.dlq, key=key, value=value, headers=headers)
