"""The delivery ledger (streams/app/delivery.py) with stand-in records and futures: what it holds
back from a commit, when it lets go, when it rewinds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from faust.types import TP

from streams.app import delivery

TOPIC = "inventory.events"
P0 = TP(TOPIC, 0)


@dataclass(eq=False)
class Message:
    offset: int
    tp: TP = P0
    topic: str = TOPIC
    partition: int = 0


@dataclass
class Event:
    message: Message


class Sent(asyncio.Future):
    """A FutureMessage stand-in: the ledger only reads its state (and its channel, to log)."""

    class message:  # noqa: N801 - the attribute path the ledger logs
        class channel:  # noqa: N801
            @staticmethod
            def get_topic_name() -> str:
                return "availability.locations"


@pytest.fixture
def ledger(monkeypatch):
    ledger = delivery.Ledger()
    current = {"event": None}
    monkeypatch.setattr(delivery, "current_event", lambda: current["event"])

    def send(message: Message) -> Sent:
        current["event"] = Event(message)
        fut = Sent()
        ledger.track(fut)
        current["event"] = None
        return fut

    ledger.send = send
    return ledger


def commit(ledger: delivery.Ledger, offset: int, committed: int | None = None) -> dict:
    offsets = {P0: offset}
    acked, index = {P0: []}, {P0: set()}
    ledger.hold_back(offsets, acked, index, {P0: committed})
    return {"offsets": offsets, "acked": acked[P0]}


async def test_a_failed_send_holds_the_commit_at_its_record_and_asks_a_rewind(ledger, monkeypatch):
    first, second = Message(3), Message(4)
    ledger.send(first).set_result(None)
    failed = ledger.send(second)
    failed.set_exception(RuntimeError("MessageSizeTooLarge"))
    await asyncio.sleep(0)  # done callbacks run
    held = commit(ledger, 9, committed=1)
    assert held["offsets"] == {P0: 4} and held["acked"] == [4, 5, 6, 7, 8]  # given back to Faust
    monkeypatch.setattr(delivery.time, "monotonic", lambda: 10**9)
    assert ledger.due_rewinds() == {P0: 4} and ledger.due_rewinds() == {}


async def test_an_unanswered_send_holds_the_commit_until_it_is_answered(ledger):
    pending = ledger.send(Message(5))
    assert commit(ledger, 8, committed=2)["offsets"] == {P0: 5}
    pending.set_result(None)
    await asyncio.sleep(0)
    assert commit(ledger, 8, committed=5)["offsets"] == {P0: 8}


async def test_the_record_read_again_replaces_its_failed_attempt(ledger):
    ledger.send(Message(6)).set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)
    assert commit(ledger, 9, committed=3)["offsets"] == {P0: 6}
    again = Message(6)  # the same offset, delivered again: a new attempt
    ledger.send(again).set_result(None)
    await asyncio.sleep(0)
    assert commit(ledger, 9, committed=6)["offsets"] == {P0: 9}


async def test_a_record_read_again_without_sends_clears_it_when_acknowledged(ledger):
    ledger.send(Message(2)).set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)
    ledger.acked(Message(2))  # the redelivery sent nothing (say a duplicate)
    assert commit(ledger, 9, committed=1)["offsets"] == {P0: 9}


async def test_offset_zero_is_never_committed(ledger):
    ledger.send(Message(0)).set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)
    assert commit(ledger, 5)["offsets"] == {}


async def test_an_agent_that_could_not_even_dead_letter_holds_its_record(ledger):
    ledger.failed(Message(7), RuntimeError("dead letter refused"))
    assert commit(ledger, 10, committed=2)["offsets"] == {P0: 7}


async def test_rewinds_wait_longer_each_time_and_revoked_partitions_are_forgotten(ledger, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(delivery.time, "monotonic", lambda: now[0])
    waits = []
    for _ in range(8):
        ledger.failed(Message(1), RuntimeError("refused"))
        waits.append(ledger.not_before[P0] - now[0])
        now[0] += 60
        assert ledger.due_rewinds() == {P0: 1}
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    ledger.forget([P0])
    assert commit(ledger, 9, committed=1)["offsets"] == {P0: 9}


async def test_sends_outside_a_record_are_not_filed(ledger):
    fut = Sent()
    ledger.track(fut)  # a timer or an HTTP view: no current event
    fut.set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)
    assert commit(ledger, 9, committed=1)["offsets"] == {P0: 9}


async def test_offsets_given_back_are_never_given_twice(ledger):
    """Faust's list can hold offsets its index does not (gaps it filled in): giving one of them
    back again would make a pair that stops every later commit at it."""
    pending = ledger.send(Message(5))
    offsets, acked, index = {P0: 9}, {P0: [6, 7]}, {P0: set()}
    ledger.hold_back(offsets, acked, index, {P0: 2})
    assert offsets == {P0: 5} and sorted(acked[P0]) == [5, 6, 7, 8] and index[P0] == {5, 8}
    pending.set_result(None)


def test_every_acknowledgement_reaches_the_ledger_through_the_monitor(monkeypatch):
    """Faust's compiled stream path acknowledges records itself (never Consumer.ack) but calls
    the sensors' on_message_out, which reaches the app's monitor: the ledger hears it there."""
    import inspect
    from pathlib import Path

    import faust._cython.streams as compiled
    from faust.streams import Stream

    source = Path(compiled.__file__).with_name("streams.pyx").read_text()
    assert "self.on_message_out = self.stream._on_message_out" in source
    assert "self.on_message_out(tp, offset, message)" in source
    assert "self._on_message_out = self.app.sensors.on_message_out" in inspect.getsource(Stream.__init__)

    from streams.app import delivery
    from streams.app.monitor import LeanMonitor

    heard = []
    monkeypatch.setattr(delivery.ledger, "acked", heard.append)
    LeanMonitor.on_message_out(None, P0, 4, "the message")
    assert heard == ["the message"]
