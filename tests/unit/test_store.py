"""The Faust table declarations: upstream topics every worker reads whole are kept in memory
(a look-up is a dict read, not RocksDB reads), the engine's own state in RocksDB."""

from __future__ import annotations

from faust.stores.memory import Store as MemoryStore
from faust.stores.rocksdb import Store as RocksDBStore

import streams.app  # noqa: F401 - the app the tables belong to
from tables import store


def test_upstream_tables_are_in_memory():
    assert isinstance(store.catalog.data, MemoryStore)
    assert isinstance(store.policies_table.data, MemoryStore)


def test_the_positions_table_is_in_rocksdb():
    assert isinstance(store.positions.data, RocksDBStore)
