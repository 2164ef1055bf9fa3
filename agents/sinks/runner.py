"""One sink: availability.<channel> -> a channel's API, in its own process and consumer group.

The loop, in order:
1. Read what the topic has (a short poll while anything is owed, so reading never waits on the
   channel); each delta goes into the backlog (agents/sinks/backlog.py), which keeps the latest
   value per SKU. A record that cannot be decoded goes to sinks.<name>.dlq.
2. Send while the budget (agents/sinks/budget.py) allows and the breaker is closed: a batch
   of the most urgent SKUs, one request at a time, so versions reach the channel in order.
3. The channel's answer ends the batch: acknowledged; retried after a backoff with jitter (or
   the Retry-After the channel gave); or refused for good (a 4xx other than 429): each refused
   update goes to the DLQ with the channel's reason and counts as done.
4. Commit, about once a second, each partition's backlog.committable offset: never past a
   value the channel has not acknowledged, so a crash sends again (by version: harmless) and
   never loses the last value. A commit the group refuses (the sink was expelled and rejoins)
   is not counted as done: the same offsets go again at the next commit.
Consecutive failures open a breaker: nothing is sent until it half-opens, reading goes on and
the backlog coalesces. Each sink is its own process, so a failing channel slows no other.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.sinks.backlog import Backlog, Update
from agents.sinks.budget import TokenBucket
from agents.sinks.config import Sink
from agents.sinks.metrics import SinkMetrics

log = logging.getLogger(__name__)
BACKOFF_FIRST, BACKOFF_MOST = 0.5, 30.0  # seconds
BREAKER_FAILURES, BREAKER_SECONDS = 5, 30.0
COMMIT_SECONDS = 1.0
# Sending at exactly the documented rate, a request that arrives a little sooner than the one
# before it would find the API's bucket a hair short (a 429): we keep 5 % below it.
RATE_MARGIN = 0.95
READ_AHEAD_SECONDS = 0.25  # reading a backlog before sending from it: the most a send waits for that


@dataclass
class Answer:
    """What a channel said about one batch."""

    acknowledged: list[Update] = field(default_factory=list)
    retry: list[Update] = field(default_factory=list)
    retry_after: float | None = None  # seconds the channel asked for
    refused: list[tuple[Update, str]] = field(default_factory=list)  # permanent, with the reason
    spent: float | None = None  # budget units the channel says the call cost (None: as estimated)
    budget: tuple[float, float, float] | None = None  # the channel's own bucket: available, rate, capacity


class Channel(Protocol):
    def cost(self, count: int) -> float:
        """Budget units a call carrying `count` updates costs (an estimate before it is sent)."""

    async def send(self, updates: list[Update]) -> Answer: ...

    async def close(self) -> None: ...


class Log(Protocol):
    """The Kafka side, behind an interface so the loop runs in tests without a broker."""

    async def poll(self, timeout: float) -> list[tuple[int, int, bytes | None, bytes | None]]:
        """(partition, offset, key, value) of the records read."""

    async def commit(self, offsets: dict[int, int]) -> dict[int, int]:
        """The offsets the group took. A partition not held now, or a commit the group refused
        (this process was expelled: stalled past the poll interval or the session timeout, a
        rebalance under way), is left out, never raised: the loop commits it again later."""

    async def caught_up(self) -> bool:
        """Read up to where the topic ended when this was first asked (after the group join)."""

    async def dead_letter(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
                          reason: str) -> None: ...


class Decoder(Protocol):
    async def __call__(self, value: bytes | None) -> dict[str, Any]: ...




class SinkLoop:
    def __init__(self, sink: Sink, channel: Channel, kafka: Log, decode: Decoder,
                 clock=time.monotonic, sleep=asyncio.sleep) -> None:
        self.sink, self.channel, self.kafka, self.decode = sink, channel, kafka, decode
        self.clock, self.sleep = clock, sleep
        self.backlog = Backlog()
        self.bucket = TokenBucket.full(sink.rate * RATE_MARGIN, sink.burst, clock())
        self.failures = 0
        self.not_before = 0.0  # backoff or open breaker: no send before this
        self.committed: dict[int, int] = {}
        self.last_commit = clock()
        self.raw: dict[str, tuple[int, int, bytes | None, bytes | None]] = {}  # sku -> its last record
        self.metrics = SinkMetrics(sink.name)
        self.next_read_back = clock() + (sink.options.get("read_back_seconds") or 0)

    async def run(self, stop: asyncio.Event, once: bool = False) -> None:
        """once: return when everything on the topic when it started has been taken by the channel."""
        while not stop.is_set():
            await self.step()
            if once and not len(self.backlog) and not self.backlog.in_flight and await self.kafka.caught_up():
                break
        await self.commit(force=True)

    async def step(self) -> None:
        owed = len(self.backlog) > 0
        records = await self.kafka.poll(0.05 if owed else 0.5)
        started = self.clock()
        while records:  # a backlog is read whole (up to READ_AHEAD_SECONDS) so the urgent go first
            for partition, offset, key, value in records:
                await self.read(partition, offset, key, value)
            if self.clock() - started > READ_AHEAD_SECONDS:
                break
            records = await self.kafka.poll(0)
        await self.send_what_is_due()
        await self.read_back()
        await self.commit()
        self.metrics.backlog.set(len(self.backlog) + len(self.backlog.in_flight))

    async def read(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        try:
            delta = await self.decode(value)
            if delta["channel"] != self.sink.channel:
                raise ValueError(f"channel: {delta['channel']} on the topic of {self.sink.channel}")
        except Exception as err:  # noqa: BLE001 - a record we cannot read is refused, not fatal
            await self.kafka.dead_letter(partition, offset, key, value, f"decode: {err}")
            self.metrics.undecodable.inc()
            self.backlog.seen[partition] = max(offset, self.backlog.seen.get(partition, -1))
            return
        if self.backlog.add(delta, partition, offset):
            self.raw[delta["sku"]] = (partition, offset, key, value)

    async def send_what_is_due(self) -> None:
        """Batches until the budget, the backoff or the backlog runs out (one in flight)."""
        while len(self.backlog):
            now = self.clock()
            if now < self.not_before:
                return
            count = self.affordable(min(self.sink.batch_size, len(self.backlog)), now)
            if count == 0:
                return
            batch = self.backlog.take(count)
            if not batch:
                return  # every SKU held has a send in flight
            await self.send(batch)

    def affordable(self, count: int, now: float) -> int:
        """The most updates (up to count) one call may carry now: its cost within what the
        bucket holds, and never above the bucket's size. The most urgent go (take() sorts)."""
        def fits(n: int) -> bool:
            cost = self.channel.cost(n)
            return cost <= self.bucket.capacity and self.bucket.wait(cost, now) == 0

        if fits(count):
            return count  # (a channel whose large calls are cheap, an Amazon feed, is asked first)
        low, high = 0, count  # fits(low); not fits(high): costs grow with the count below here
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return low

    async def send(self, batch: list[Update]) -> None:
        estimate = self.channel.cost(len(batch))
        self.metrics.sent.inc(len(batch))
        try:
            with self.metrics.send_seconds.time():
                answer = await self.channel.send(batch)
        except Exception as err:  # noqa: BLE001 - a transport that raised: all of it is retried
            log.warning("sink %s: send failed: %s", self.sink.name, err)
            answer = Answer(retry=batch)
        spent = answer.spent if answer.spent is not None else estimate
        # Charged when the answer comes, not when the call went: the API counted it somewhere in
        # between, and the next call must be a full interval after that whatever the delays.
        self.bucket.spend(spent, self.clock())
        self.metrics.budget_used.inc(spent)
        if answer.budget is not None:
            self.bucket.observe(*answer.budget, now=self.clock())
        self.backlog.acknowledged(answer.acknowledged)
        self.metrics.acknowledged.inc(len(answer.acknowledged))
        for update in answer.acknowledged:
            if update.sku not in self.backlog.held:
                self.raw.pop(update.sku, None)  # kept only while its value may be refused
        for update, reason in answer.refused:
            await self.refuse(update, reason)
        if answer.retry:
            self.backlog.failed(answer.retry)
            self.metrics.retried.inc(len(answer.retry))
            self.back_off(answer.retry_after)
        else:
            self.failures = 0

    async def refuse(self, update: Update, reason: str) -> None:
        partition, offset, key, value = self.raw.get(update.sku, (update.partition, update.last_offset, None, None))
        await self.kafka.dead_letter(partition, offset, key, value, f"refused by {self.sink.kind}: {reason}")
        self.metrics.refused.inc()
        self.metrics.dead_refused.inc()
        self.backlog.dropped(update)  # done with; `stockstream replay-dlq` can send it again

    def back_off(self, retry_after: float | None) -> None:
        self.failures += 1
        delay = min(BACKOFF_MOST, BACKOFF_FIRST * 2 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
            self.bucket.pause(retry_after, self.clock())
        if self.failures >= BREAKER_FAILURES:
            delay = max(delay, BREAKER_SECONDS)
            log.warning("sink %s: %d failures in a row, pausing sends for %.0f s", self.sink.name,
                        self.failures, delay)
        self.not_before = self.clock() + delay

    async def read_back(self) -> None:
        """A channel that can say what it shows (Shopify) is asked now and then; a value someone
        changed there is reported (log and the drift metric), and set again at its next change."""
        every = self.sink.options.get("read_back_seconds")
        reader = getattr(self.channel, "read_back", None)
        now = self.clock()
        if reader is None or not every or now < self.next_read_back:
            return
        self.next_read_back = now + every
        sent = {sku: available for sku, (_, available) in self.backlog.acked.items()
                if sku not in self.backlog.held and sku not in self.backlog.in_flight}
        if not sent:
            return
        try:
            differs, budget = await reader(sent)
        except Exception as err:  # noqa: BLE001 - a read-back that fails is tried at the next one
            log.warning("sink %s: read-back failed: %s", self.sink.name, err)
            return
        if budget is not None:
            self.bucket.observe(*budget, now=self.clock())
        for sku, (ours, theirs) in sorted(differs.items())[:20]:
            log.warning("sink %s: %s shows %s in the channel, %s was set (changed there?)",
                        self.sink.name, sku, theirs, ours)

    async def commit(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last_commit < COMMIT_SECONDS:
            return
        self.last_commit = now
        offsets = {p: o for p in self.backlog.seen
                   if (o := self.backlog.committable(p)) is not None and o > self.committed.get(p, -1)}
        if offsets:
            self.committed.update(await self.kafka.commit(offsets))  # only what the group took
