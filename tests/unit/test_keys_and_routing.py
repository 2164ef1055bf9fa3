"""Table keys (tables/keys.py) and the partition a key goes to (streams/http/routing.py)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, strategies as st

from tables import keys

ids = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, blacklist_characters="@"), min_size=1, max_size=20)


@given(sku=ids, location=ids, reservation_id=ids | st.just("web/r/1"))
def test_a_reservation_key_splits_back_and_sorts_right_after_its_position(sku, location, reservation_id):
    position = keys.position(sku, location)
    key = keys.reservation(position, reservation_id)
    assert keys.split_reservation(key) == (sku, location, reservation_id)
    assert key.startswith(position) and not key.startswith(keys.INDEX)


@given(times=st.lists(st.integers(0, 2**50), min_size=2, max_size=20))
def test_due_entries_sort_by_time_and_split_back(times):
    entries = [keys.due_entry(b"exp", at, f"s{n}".encode()) for n, at in enumerate(times)]
    assert [keys.due_parts(b"exp", e)[0] for e in sorted(entries)] == sorted(times)
    assert all(e.startswith(keys.INDEX + b"exp") for e in entries)
    assert keys.due_parts(b"exp", entries[0]) == (times[0], b"s0")


def test_index_entries_sort_before_every_record_key():
    assert keys.due_entry(b"exp", 2**60, b"zz") < b"\x01" <= keys.position("!", "A")


@given(key=st.binary(min_size=1, max_size=40), partitions=st.integers(1, 64))
def test_our_partition_of_a_key_is_the_producer_s(key, partitions):
    from streams.http.routing import partition_for

    every = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, every, every)
