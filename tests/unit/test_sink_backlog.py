"""agents/sinks/backlog.py: latest value per SKU, zeros and decreases first, never an older
version after a newer, and a commit offset that never passes an unacknowledged value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.sinks.backlog import Backlog


def delta(sku: str, available: int, version: int, previous: int | None = None) -> dict:
    return {"sku": sku, "available": available, "version": version, "previous": previous, "published_at": 0}


def test_only_the_latest_value_of_a_sku_is_sent():
    backlog = Backlog()
    for offset, (value, version) in enumerate([(5, 1), (7, 2), (6, 3)]):
        backlog.add(delta("A", value, version), 0, offset)
    sent = backlog.take(10)
    assert [(u.sku, u.available, u.version) for u in sent] == [("A", 6, 3)]
    assert backlog.committable(0) == 0  # nothing acknowledged yet: every record is owed
    backlog.acknowledged(sent)
    assert backlog.committable(0) == 3


def test_zeros_then_decreases_then_increases_each_oldest_first():
    backlog = Backlog()
    backlog.add(delta("UP-OLD", 9, 1, previous=3), 0, 0)
    backlog.add(delta("DOWN", 2, 1, previous=5), 0, 1)
    backlog.add(delta("UP-NEW", 4, 1, previous=1), 0, 2)
    backlog.add(delta("ZERO", 0, 1, previous=5), 0, 3)
    backlog.add(delta("FIRST", 3, 1), 0, 4)  # never shown: an increase
    assert [u.sku for u in backlog.take(10)] == ["ZERO", "DOWN", "UP-OLD", "UP-NEW", "FIRST"]


def test_a_sku_in_flight_is_not_sent_again_until_its_send_ends():
    backlog = Backlog()
    backlog.add(delta("A", 5, 1), 0, 0)
    first = backlog.take(10)
    backlog.add(delta("A", 3, 2), 0, 1)
    assert backlog.take(10) == []
    assert not backlog.urgent_waiting()  # the decrease cannot go before the send in flight ends
    backlog.acknowledged(first)
    assert backlog.urgent_waiting()  # 3 < 5 shown
    assert [(u.available, u.version) for u in backlog.take(10)] == [(3, 2)]


def test_a_failed_send_goes_back_unless_a_newer_value_came():
    backlog = Backlog()
    backlog.add(delta("A", 5, 1), 0, 0)
    backlog.add(delta("B", 5, 1), 0, 1)
    sent = backlog.take(10)
    backlog.add(delta("B", 8, 2), 0, 2)
    backlog.failed(sent)
    assert backlog.committable(0) == 0
    again = {u.sku: u.version for u in backlog.take(10)}
    assert again == {"A": 1, "B": 2}


def test_older_and_repeated_versions_are_dropped():
    backlog = Backlog()
    assert backlog.add(delta("A", 5, 2), 0, 0)
    assert not backlog.add(delta("A", 5, 2), 0, 1)  # redelivered
    assert not backlog.add(delta("A", 9, 1), 0, 2)  # older
    backlog.acknowledged(backlog.take(1))
    assert not backlog.add(delta("A", 4, 2), 1, 0)
    assert backlog.committable(0) == 3 and backlog.committable(1) == 1
    assert backlog.committable(7) is None


# A stream of deltas per SKU in version order, some redelivered; the sink takes, acknowledges
# and fails in any interleaving.
ops = st.lists(st.one_of(
    st.tuples(st.just("delta"), st.sampled_from("ABC"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("take"), st.integers(1, 3)),
    st.tuples(st.just("ack"), st.booleans()),
), max_size=60)


@settings(max_examples=400, deadline=None)
@given(ops=ops)
def test_the_channel_never_goes_back_and_ends_with_every_latest_value(ops):
    backlog = Backlog()
    versions: dict[str, int] = {}
    records: list[tuple[str, int, int]] = []  # sku, version, offset (one partition)
    channel: dict[str, tuple[int, int]] = {}  # what the fake channel shows: version, value
    in_flight: list = []
    for op in ops:
        if op[0] == "delta":
            _, sku, value, repeat = op
            if repeat and sku in versions:
                version = versions[sku]
            else:
                version = versions[sku] = versions.get(sku, 0) + 1
            records.append((sku, version, len(records)))
            backlog.add(delta(sku, value, version), 0, len(records) - 1)
        elif op[0] == "take":
            batch = backlog.take(op[1])
            ranks = [u.urgency() for u in batch]
            assert ranks == sorted(ranks)
            in_flight.append(batch)
        elif in_flight:
            batch = in_flight.pop(0)
            if op[1]:
                for u in batch:
                    assert u.version > channel.get(u.sku, (0, 0))[0]  # never older after newer
                    channel[u.sku] = (u.version, u.available)
                backlog.acknowledged(batch)
            else:
                backlog.failed(batch)
        done = backlog.committable(0)
        for sku, version, offset in records:
            if done is not None and offset < done:
                assert channel.get(sku, (0, 0))[0] >= version  # committed means shown
    for batch in in_flight:
        backlog.failed(batch)
    while batch := backlog.take(2):
        for u in batch:
            channel[u.sku] = (u.version, u.available)
        backlog.acknowledged(batch)
    latest = {}
    for sku, version, offset in records:
        latest[sku] = version
    assert {sku: v for sku, (v, _) in channel.items()} == latest
    assert backlog.committable(0) in (None, len(records))
