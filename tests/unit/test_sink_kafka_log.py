"""agents/sinks/kafka_log.py without a broker: sinks.yaml's max_poll_interval_seconds reaches the
consumer, and a commit the group refuses because the sink was expelled from it (stalled past its
poll interval or its session timeout) is reported as nothing committed, not raised: raised, it
ended the sink's process (issue 13, tests/chaos/test_sink_stall.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, UnknownMemberIdError

from agents.sinks.config import Sink
from agents.sinks.kafka_log import KafkaLog
from streams.app.settings import Settings

TOPIC = "availability.web"


def sink(**changes) -> Sink:
    values = dict(name="hook", kind="webhook", channel="web", batch_size=10, rate=10.0, burst=10.0)
    return Sink(**{**values, **changes})


class StubConsumer:
    def __init__(self, partitions, refuse: BaseException | None = None) -> None:
        self.partitions = {TopicPartition(TOPIC, p) for p in partitions}
        self.refuse = refuse
        self.committed: list[dict[TopicPartition, int]] = []

    def assignment(self):
        return set(self.partitions)

    async def commit(self, offsets):
        if self.refuse is not None:
            raise self.refuse
        self.committed.append(dict(offsets))


def kafka_log(consumer: StubConsumer, **changes) -> KafkaLog:
    log = object.__new__(KafkaLog)  # the consumer is the stub's: no broker
    log.sink, log.topic, log.consumer = sink(**changes), TOPIC, consumer
    return log


def test_the_poll_interval_of_sinks_yaml_reaches_the_consumer():
    settings = Settings.from_env(env={}, dotenv=None)

    async def build(s: Sink) -> int:
        return KafkaLog(s, settings).consumer._max_poll_interval_ms

    assert asyncio.run(build(sink())) == 1_200_000
    assert asyncio.run(build(sink(max_poll_interval_seconds=8))) == 8_000
    assert asyncio.run(build(sink(max_poll_interval_seconds=2.5))) == 2_500


def test_a_commit_reports_the_partitions_it_committed():
    consumer = StubConsumer([0, 1])
    assert asyncio.run(kafka_log(consumer).commit({0: 5, 1: 7, 2: 9})) == {0: 5, 1: 7}  # 2: not held now
    assert consumer.committed == [{TopicPartition(TOPIC, 0): 5, TopicPartition(TOPIC, 1): 7}]
    assert asyncio.run(kafka_log(StubConsumer([])).commit({0: 5})) == {}


def expelled() -> CommitFailedError:
    try:
        try:
            raise UnknownMemberIdError("it.stockstream-sink-hook")
        except UnknownMemberIdError as cause:
            raise CommitFailedError("Commit cannot be completed since the group has already rebalanced") from cause
    except CommitFailedError as err:
        return err


@pytest.mark.parametrize("refusal", [expelled(), IllegalStateError("No partitions assigned")])
def test_a_commit_refused_by_the_group_commits_nothing_and_says_why(refusal, caplog):
    with caplog.at_level(logging.WARNING, logger="agents.sinks.kafka_log"):
        done = asyncio.run(kafka_log(StubConsumer([0], refusal), max_poll_interval_seconds=8).commit({0: 5}))
    assert done == {}
    assert "sink hook: commit refused" in caplog.text and "max_poll_interval_seconds 8" in caplog.text
    if isinstance(refusal, CommitFailedError):
        assert "UnknownMemberIdError" in caplog.text
