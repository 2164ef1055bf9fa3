"""agents/sinks/runner.py's SinkLoop against a scripted channel and an in-memory log: latest
values reach the channel, commits never pass an unacknowledged value, the budget holds, a
429's Retry-After is honoured, the breaker opens, refusals and bad records are dead-lettered,
and a commit the group refused (the sink expelled from it) is made again once it is back.""" 

from __future__ import annotations

import asyncio

import orjson

from agents.sinks.config import Sink
from agents.sinks.runner import BREAKER_FAILURES, Answer, SinkLoop


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class MemoryLog:
    def __init__(self, records: list[tuple[int, int, bytes | None, bytes | None]], clock: Clock) -> None:
        self.records, self.clock = list(records), clock
        self.commits: list[dict[int, int]] = []
        self.dead: list[tuple[int, int, str]] = []

    async def poll(self, timeout: float):
        self.clock.now += timeout if not self.records else 0.001
        out, self.records = self.records[:5], self.records[5:]
        return out

    async def commit(self, offsets):
        self.commits.append(dict(offsets))
        return dict(offsets)

    async def dead_letter(self, partition, offset, key, value, reason):
        self.dead.append((partition, offset, reason))

    async def caught_up(self):
        return not self.records


class ScriptedChannel:
    """Acknowledges everything unless told otherwise; records what it showed and when."""

    def __init__(self, clock: Clock, answers=None) -> None:
        self.clock, self.answers = clock, list(answers or [])
        self.shown: dict[str, tuple[int, int]] = {}
        self.calls: list[tuple[float, int]] = []

    def cost(self, count: int) -> float:
        return 1

    async def send(self, updates):
        self.calls.append((self.clock.now, len(updates)))
        script = self.answers.pop(0) if self.answers else "ok"
        if script == "ok":
            for u in updates:
                assert u.version > self.shown.get(u.sku, (0, 0))[0]
                self.shown[u.sku] = (u.version, u.available)
            return Answer(acknowledged=updates)
        if script == "429":
            return Answer(retry=updates, retry_after=2.0)
        if script == "refuse":
            return Answer(refused=[(u, "422 unknown item") for u in updates])
        raise ConnectionError("down")

    async def close(self):
        pass


async def decode(value):
    return orjson.loads(value)


def record(partition: int, offset: int, sku: str, available: int, version: int):
    value = orjson.dumps({"sku": sku, "channel": "web", "available": available, "version": version,
                          "previous": None, "published_at": 0})
    return (partition, offset, sku.encode(), value)


def sink(**changes) -> Sink:
    values = dict(name="hook", kind="webhook", channel="web", batch_size=10, rate=10.0, burst=10.0)
    values.update(changes)
    return Sink(**values)


def run(loop: SinkLoop, clock: Clock, seconds: float) -> None:
    async def go():
        end = clock.now + seconds
        while clock.now < end:
            await loop.step()
    asyncio.run(go())


def test_the_latest_value_of_every_sku_arrives_and_everything_is_committed_after():
    clock = Clock()
    records = [record(0, i, f"S{i % 7}", i, i // 7 + 1) for i in range(70)]
    log, channel = MemoryLog(records, clock), ScriptedChannel(clock)
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 5)
    assert {sku: v for sku, (v, _) in channel.shown.items()} == {f"S{i}": 10 for i in range(7)}
    assert log.commits[-1] == {0: 70}


def test_nothing_is_committed_past_a_value_the_channel_did_not_take():
    clock = Clock()
    log = MemoryLog([record(0, 0, "A", 1, 1), record(0, 1, "B", 1, 1)], clock)
    channel = ScriptedChannel(clock, answers=["down"] * 100)
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 5)
    assert all(commit.get(0, 0) == 0 for commit in log.commits)
    assert loop.backlog.committable(0) == 0


def test_the_budget_holds_a_busy_sink_to_its_rate():
    clock = Clock()
    records = [record(p, i, f"S{p}-{i}", 1, 1) for p in range(2) for i in range(200)]
    log, channel = MemoryLog(records, clock), ScriptedChannel(clock)
    loop = SinkLoop(sink(batch_size=1, rate=5.0, burst=5.0), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 20)
    times = [t for t, _ in channel.calls]
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 5 + 5
    assert len(times) <= 5 + 5 * 20.1


def test_a_429_waits_its_retry_after_and_failures_open_the_breaker():
    clock = Clock()
    log = MemoryLog([record(0, 0, "A", 1, 1)], clock)
    channel = ScriptedChannel(clock, answers=["429"])
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 5)
    assert channel.calls[1][0] - channel.calls[0][0] >= 2.0
    assert channel.shown == {"A": (1, 1)}

    clock, failing = Clock(), ["down"] * BREAKER_FAILURES
    log = MemoryLog([record(0, 0, "A", 1, 1)], clock)
    channel = ScriptedChannel(clock, answers=failing)
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 120)
    gaps = [b[0] - a[0] for a, b in zip(channel.calls, channel.calls[1:])]
    assert max(gaps) >= 30.0  # the breaker held sends back
    assert channel.shown == {"A": (1, 1)}


def test_refused_values_and_unreadable_records_go_to_the_dlq_and_are_committed_past():
    from prometheus_client import REGISTRY

    def counted() -> list[float]:
        return [REGISTRY.get_sample_value(name, {"sink": sink().name, **labels}) or 0 for name, labels in (
            ("stockstream_sink_dead_letters_total", {"reason": "decode"}),
            ("stockstream_sink_dead_letters_total", {"reason": "refused"}),
            ("stockstream_sink_failed_total", {"outcome": "refused"}))]

    before = counted()
    clock = Clock()
    log = MemoryLog([(0, 0, b"X", b"not json"), record(0, 1, "A", 1, 1)], clock)
    channel = ScriptedChannel(clock, answers=["refuse"])
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 3)
    assert [(p, o) for p, o, _ in log.dead] == [(0, 0), (0, 1)]
    assert log.dead[1][2] == "refused by webhook: 422 unknown item"
    assert log.commits[-1] == {0: 2}
    assert [a - b for a, b in zip(counted(), before)] == [1, 1, 1]  # failed: what the channel refused


def test_a_refused_value_replayed_from_the_dlq_is_taken_again():
    clock = Clock()
    log = MemoryLog([record(0, 0, "A", 1, 1)], clock)
    channel = ScriptedChannel(clock, answers=["refuse"])
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 2)
    log.records.append(record(0, 1, "A", 1, 1))  # replay-dlq put it back on the topic
    run(loop, clock, 2)
    assert channel.shown == {"A": (1, 1)}


def test_once_stops_when_everything_read_is_taken():
    clock = Clock()
    log, channel = MemoryLog([record(0, i, f"S{i}", 1, 1) for i in range(12)], clock), ScriptedChannel(clock)
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    asyncio.run(loop.run(asyncio.Event(), once=True))
    assert len(channel.shown) == 12 and log.commits[-1] == {0: 12}


class PerItemChannel(ScriptedChannel):
    """A call costs one unit per update it carries (Amazon's patches)."""

    def cost(self, count: int) -> float:
        return count


def test_a_per_item_budget_is_never_exceeded_by_one_large_call():
    clock = Clock()
    log = MemoryLog([record(0, i, f"S{i}", 1, 1) for i in range(30)], clock)
    channel = PerItemChannel(clock)
    loop = SinkLoop(sink(batch_size=25_000, rate=5.0, burst=5.0), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 10)
    assert channel.calls[0][1] == 5  # the burst, not the 30 waiting
    for start, _ in channel.calls:
        assert sum(n for t, n in channel.calls if start <= t < start + 1.0) <= 5 + 5
    assert len(channel.shown) == 30


class ExpelledLog(MemoryLog):
    """The group refuses commits (the sink was expelled from it, stalled past its poll interval)
    until `back` is set: KafkaLog's answer to a CommitFailedError is to commit nothing."""

    def __init__(self, records, clock) -> None:
        super().__init__(records, clock)
        self.back = False
        self.taken: dict[int, int] = {}  # what the group holds

    async def commit(self, offsets):
        self.commits.append(dict(offsets))
        if not self.back:
            return {}
        self.taken.update(offsets)
        return dict(offsets)


def test_a_commit_the_group_refused_is_made_again_once_back_in_the_group_with_nothing_more_to_read():
    clock = Clock()
    log, channel = ExpelledLog([record(0, 0, "A", 1, 1), record(1, 0, "B", 1, 1)], clock), ScriptedChannel(clock)
    loop = SinkLoop(sink(), channel, log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 3)
    assert channel.shown == {"A": (1, 1), "B": (1, 1)} and log.commits and log.taken == {}
    log.back = True  # rejoined; the records are read again (from the committed offsets), nothing new
    log.records = [record(0, 0, "A", 1, 1), record(1, 0, "B", 1, 1)]
    run(loop, clock, 3)
    assert log.taken == {0: 1, 1: 1}
    assert len(channel.calls) == 1  # the values read again are not sent again


def test_a_partial_commit_counts_only_what_the_group_took():
    clock = Clock()
    log = ExpelledLog([record(0, 0, "A", 1, 1), record(1, 0, "B", 1, 1)], clock)
    log.back = True

    async def only_partition_0(offsets, commit=log.commit):
        return {p: o for p, o in (await commit(offsets)).items() if p == 0}
    log.commit = only_partition_0  # partition 1 was not held at that moment (a rebalance)
    loop = SinkLoop(sink(), ScriptedChannel(clock), log, decode, clock=clock, sleep=clock.sleep)
    run(loop, clock, 3)
    assert loop.committed == {0: 1} and all(1 in commit for commit in log.commits)
