"""The Faust tables: positions (one record per SKU@LOCATION) and the item master.

Values are raw bytes we encode ourselves (orjson for positions, Avro for items), so a changelog
record is exactly what the pure model produced. RocksDB's defaults (2 GiB block cache, 64 MiB
write buffers per partition) would explode with partitions; these are sized for many of them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import faust

from streams import topics
from streams.app import app, settings
from streams.codec import DecodeError, default_codec


def rocksdb_options() -> dict[str, int]:
    # A fresh dict per table: Faust's store pops keys out of the one it is given.
    return {
        "block_cache_size": 8 * 1024**2,
        "block_cache_compressed_size": 0,
        "write_buffer_size": 4 * 1024**2,
        "max_write_buffer_number": 2,
        "target_file_size_base": 16 * 1024**2,
    }


positions = app.Table(
    "positions",
    partitions=settings.partitions,
    key_type=bytes,  # bytes in, bytes out: Faust's "raw" codec
    value_type=bytes,
    options=rocksdb_options(),
    help="SKU@LOCATION -> Position (orjson): buckets, open reservations, recent event ids",
)

catalog_topic = app.topic(
    settings.topic(topics.CATALOG),
    partitions=1,
    compacting=True,
    key_serializer="raw",
    value_serializer="raw",
)



class TopicGlobalTable(faust.GlobalTable):
    """A GlobalTable over a topic that another system writes.

    Faust's assignor names a global table's changelog from the table's name and ignores
    changelog_topic (KeyError, and the group never gets an assignment); this names it right.
    """

    def _changelog_topic_name(self) -> str:
        return self.changelog_topic.get_topic_name()


# Written by the ERP's feed, read by every worker: all partitions, kept live
# (synchronize_all_active_partitions: this worker writes none of it). One partition and a
# recovery buffer of one are what Faust's GlobalTable needs to recover reliably.
catalog = app.tables.add(
    TopicGlobalTable(
        app,
        name="catalog",
        beacon=app.tables.beacon,
        key_type=bytes,
        value_type=bytes,
        partitions=1,
        changelog_topic=catalog_topic,
        standby_buffer_size=1,
        recovery_buffer_size=1,
        is_global=True,
        synchronize_all_active_partitions=True,
        options=rocksdb_options(),
        help="SKU -> Item (Avro, as on catalog.items)",
    )
)


def item_for(sku: str) -> dict[str, Any] | None:
    raw = catalog.get(sku.encode())
    return _decode_item(raw) if raw else None


@lru_cache(maxsize=4096)
def _decode_item(raw: bytes) -> dict[str, Any] | None:
    try:
        return default_codec().decode("Item", raw)
    except DecodeError:
        return None  # an unreadable item is an unknown item: its units go to the DLQ
