"""Run a stage's own code in-process over a list of records: no broker, no Faust worker.

In the spirit of bytewax's testing module: the agents' per-record functions run as they do in a
worker, with the Faust tables they write replaced by MemoryTable (one dict per partition, and
every write kept in order, as a changelog), the topics they send to by a recorder, and the
catalog and policies by plain values. A crash can be injected at record N, keeping only the
first writes of that record (what a changelog holds after a kill); the stage then restarts on
the table as its changelog left it and Kafka redelivers from an earlier offset. The outcome is
the table, everything sent and every dead letter, to compare with a run without a crash.

    result = LocationStage(catalog={"SKU-1": {"sku": "SKU-1", "uoms": {"CS": 12}}}).run(records)
    result.table.get(b"SKU-1@WH1")

Only for tests and benchmarks: it swaps module attributes of the agents while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from streams.wire.codec import default_codec
from tables.policy import Policies


class Crash(BaseException):
    """The worker dies here (a BaseException: no `except Exception` of a stage catches it)."""


@dataclass
class Message:
    """A Kafka record as Faust hands it to an agent."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: float | None = None  # seconds, as Faust gives a record's timestamp

    @property
    def tp(self) -> tuple[str, int]:
        return self.topic, self.partition


class MemoryTable:
    """A table of the positions or channel_state kind: bytes to bytes, per partition, written
    while a record of that partition is processed. `crash_after` makes the n-th next write the
    last one (then Crash)."""

    def __init__(self) -> None:
        self.partitions: dict[int, dict[bytes, bytes]] = {}
        self.changelog: list[tuple[int, bytes, bytes | None]] = []
        self.partition = 0  # of the record being processed
        self.crash_after: int | None = None

    def _write(self, key: bytes, value: bytes | None) -> None:
        if self.crash_after is not None:
            if self.crash_after == 0:
                raise Crash()
            self.crash_after -= 1
        self.changelog.append((self.partition, key, value))
        if value is None:
            self.partitions.setdefault(self.partition, {}).pop(key, None)
        else:
            self.partitions.setdefault(self.partition, {})[key] = value

    def get(self, key: bytes, default: Any = None) -> Any:
        return self.partitions.get(self.partition, {}).get(key, default)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def __delitem__(self, key: bytes) -> None:
        self._write(key, None)

    def items(self, partition: int | None = None) -> dict[bytes, bytes]:
        if partition is not None:
            return dict(self.partitions.get(partition, {}))
        return {k: v for records in self.partitions.values() for k, v in records.items()}


@dataclass
class Sent:
    topic: str  # logical name
    key: bytes | None
    value: bytes | None
    headers: Any = None


class Recorder:
    """Stands in for a Faust topic: records what is sent to it."""

    def __init__(self, logical: str, sent: list[Sent]) -> None:
        self.logical = logical
        self._sent = sent

    def send_soon(self, *, key: bytes | None = None, value: bytes | None = None, headers: Any = None,
                  partition: int | None = None) -> None:
        self._sent.append(Sent(self.logical, key, value, headers))

    async def send(self, **kwargs: Any) -> None:
        self.send_soon(**kwargs)

    def get_topic_name(self) -> str:
        return self.logical


@dataclass
class Result:
    table: MemoryTable
    sent: list[Sent]
    dead_letters: list[tuple[bytes | None, str, str]]  # (key, kind, reason)

    def decoded(self, logical: str, record: str) -> list[dict[str, Any]]:
        """What was sent to a topic, decoded as its Avro record."""
        codec = default_codec()
        return [codec.decode(record, s.value) for s in self.sent if s.topic == logical]


class PolicyStub:
    def __init__(self, policies: Policies) -> None:
        self.policies = policies

    def get(self) -> Policies:
        return self.policies


class LocationStage:
    """agents/locations.py over inventory.events records."""

    TOPIC = "inventory.events"

    def __init__(self, catalog: Mapping[str, Mapping[str, Any]] | None = None,
                 policies: Policies | None = None) -> None:
        self.catalog = dict(catalog or {})
        self.policies = policies or Policies()

    def events(self, records: list[tuple[bytes, bytes]], partition: int = 0) -> list[Message]:
        return [Message(self.TOPIC, partition, offset, key, value) for offset, (key, value) in enumerate(records)]

    def run(self, messages: list[Message], crash_at: int | None = None, writes_kept: int = 0,
            redeliver_from: int | None = None) -> Result:
        """Process every message in order. With crash_at, the stage dies after writes_kept
        table writes of that message, restarts, and Kafka redelivers from redeliver_from
        (default: the crashed message) to the end."""
        table, sent, letters = MemoryTable(), [], []
        with self._patched(table, sent, letters):
            asyncio.run(self._process(messages, table, crash_at, writes_kept, redeliver_from))
        return Result(table, sent, letters)

    async def _process(self, messages: list[Message], table: MemoryTable, crash_at: int | None,
                       writes_kept: int, redeliver_from: int | None) -> None:
        from agents import locations

        for n, message in enumerate(messages):
            table.partition = message.partition
            if n == crash_at:
                table.crash_after = writes_kept
                with contextlib.suppress(Crash):
                    await locations.process(message)
                table.crash_after = None
                for again in messages[redeliver_from if redeliver_from is not None else n:n + 1]:
                    table.partition = again.partition
                    await locations.process(again)
                continue
            await locations.process(message)

    @contextlib.contextmanager
    def _patched(self, table: MemoryTable, sent: list[Sent], letters: list) -> Iterator[None]:
        from agents import locations

        async def dead_letter(message: Any, stage: str, kind: str, reason: str) -> None:
            letters.append((message.key, kind, reason))

        async def prepared(codec: Any, data: Any) -> None:
            return None

        swaps = {
            "positions": table,
            "topic": lambda logical: Recorder(logical, sent),
            "dead_letter": dead_letter,
            "item_for": lambda sku: self.catalog.get(sku),
            "policy_cache": PolicyStub(self.policies),
            "prepare_patiently": prepared,
        }
        saved = {name: getattr(locations, name) for name in swaps}
        for name, value in swaps.items():
            setattr(locations, name, value)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(locations, name, value)
