"""What the settings make of the Faust app and its RocksDB stores (streams/app/core.py, tables/store.py)."""

from __future__ import annotations

import tables.store
from streams.app.core import create_app
from streams.app.settings import Settings


def test_static_membership_comes_from_the_group_instance_id():
    assert create_app(Settings(group_instance_id="stockstream-1")).conf.consumer_group_instance_id == "stockstream-1"


def test_no_group_instance_id_means_dynamic_membership():
    assert create_app(Settings()).conf.consumer_group_instance_id is None


def test_rocksdb_memory_follows_the_settings(monkeypatch):
    monkeypatch.setattr(tables.store, "settings", Settings(rocksdb_block_cache_mb=32, rocksdb_write_buffer_mb=2))
    options = tables.store.rocksdb_options()
    assert options["block_cache_size"] == 32 * 1024**2
    assert options["write_buffer_size"] == 2 * 1024**2
    assert options["max_write_buffer_number"] == 2
