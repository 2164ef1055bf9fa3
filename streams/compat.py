"""Every touch of a private Faust name outside the transport, in one place.

Each hook says which upstream behaviour it works around. tests/unit/test_compat.py fails if a
name it relies on goes away in an upgrade, instead of the fix silently vanishing.
"""

from __future__ import annotations

from typing import Any, Iterator


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
