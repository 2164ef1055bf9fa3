"""The Kafka reads behind GET /ops/summary: consumer groups and their commits, offsets, and a few
records (their timestamps, the DLQ's newest letters).

aiokafka only: a worker never loads confluent-kafka (tests/unit/test_layers.py). A client pair
per read, closed after it: the summary is cached, so a page open somewhere costs one read every
few seconds. Every call is bounded by the caller's deadline (asyncio.wait_for).

aiokafka 0.14's describe_consumer_groups cannot decode a Kafka 4 broker's answer (its v3
request expects the v2 response, without authorized_operations), so whether a sink process is
connected is not read: a sink is judged by what it has not acknowledged, and how long that waits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from streams.app.security import client_options
from streams.app.settings import Settings
from streams.http.ops_summary import TP, Offsets

REQUEST_TIMEOUT_MS = 5000
UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION: a channel whose topic is not created yet


class KafkaReader:
    """async with KafkaReader(settings) as kafka: ..."""

    def __init__(self, settings: Settings) -> None:
        options = {**client_options(settings), "request_timeout_ms": REQUEST_TIMEOUT_MS}
        self.admin = AIOKafkaAdminClient(**options)
        # No group: it only seeks and reads, and commits nothing.
        self.consumer = AIOKafkaConsumer(enable_auto_commit=False, **options)

    async def __aenter__(self) -> KafkaReader:
        try:
            await self.admin.start()
            await self.consumer.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await asyncio.gather(self.consumer.stop(), self.admin.close(), return_exceptions=True)

    async def groups(self, prefix: str) -> list[str]:
        return sorted(group for group, *_ in await self.admin.list_consumer_groups() if group.startswith(prefix))

    async def committed(self, groups: Iterable[str]) -> dict[str, dict[TP, int]]:
        groups = list(groups)
        answers = await asyncio.gather(*(self.admin.list_consumer_group_offsets(g) for g in groups))
        return {group: {tp: meta.offset for tp, meta in answer.items() if meta.offset >= 0}
                for group, answer in zip(groups, answers)}

    async def offsets(self, topics: Iterable[str]) -> Offsets:
        """Of the topics that exist (a missing one has no partitions here)."""
        names = sorted(set(topics))
        described = await self.admin.describe_topics(names) if names else []
        tps = [TopicPartition(t["topic"], p["partition"]) for t in described if t["error_code"] != UNKNOWN_TOPIC
               for p in t["partitions"]]
        if not tps:
            return Offsets({}, {})
        starts, ends = await asyncio.gather(self.consumer.beginning_offsets(tps), self.consumer.end_offsets(tps))
        return Offsets(starts, ends)

    async def records(self, ranges: Mapping[TP, tuple[int, int]], seconds: float) -> dict[TP, list[ConsumerRecord]]:
        """The records in [start, stop) of each partition, as many as arrive within seconds."""
        out: dict[TP, list[ConsumerRecord]] = {tp: [] for tp in ranges}
        wanted = {TopicPartition(*tp): bounds for tp, bounds in ranges.items() if bounds[0] < bounds[1]}
        if not wanted:
            return out
        self.consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            self.consumer.seek(tp, start)
        deadline = time.monotonic() + seconds
        while wanted and (left := deadline - time.monotonic()) > 0:
            batches = await self.consumer.getmany(*wanted, timeout_ms=int(min(left, 0.5) * 1000))
            for tp, messages in batches.items():
                out[tp].extend(m for m in messages if m.offset < wanted[tp][1])
            for tp in list(wanted):
                if await self.consumer.position(tp) >= wanted[tp][1]:
                    self.consumer.pause(tp)  # read far enough: fetch no further
                    del wanted[tp]
        return out
