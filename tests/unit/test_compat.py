"""The private Faust names streams/compat.py relies on still exist, and what it builds on
them works (with a real RocksDB)."""

from __future__ import annotations

from faust.stores.rocksdb import Store
from rocksdict import Rdict

from streams.compat import partition_items


def test_the_rocksdb_store_still_has_the_names_we_use():
    assert callable(getattr(Store, "_db_for_partition", None))
    assert isinstance(Store.offset_key, bytes)


class _Data:
    offset_key = Store.offset_key

    def __init__(self, db: Rdict) -> None:
        self._db = db

    def _db_for_partition(self, partition: int) -> Rdict:
        return self._db


class _Table:
    def __init__(self, db: Rdict) -> None:
        self.data = _Data(db)


def test_partition_items_reads_in_key_order_from_a_key_and_hides_faust_s_offset(tmp_path):
    db = Rdict(str(tmp_path / "db"))
    for key in (b"\x00a", b"\x00b", b"B", b"A", Store.offset_key):
        db[key] = b"v"
    table = _Table(db)
    assert [k for k, _ in partition_items(table, 0)] == [b"\x00a", b"\x00b", b"A", b"B"]
    assert [k for k, _ in partition_items(table, 0, b"\x00b")] == [b"\x00b", b"A", b"B"]
    assert [k for k, _ in partition_items(table, 0, b"\x01")] == [b"A", b"B"]
    db.close()


def test_faust_s_producer_still_wraps_an_aiokafka_client_we_can_ask_for_metadata():
    import inspect

    from aiokafka import AIOKafkaProducer
    from aiokafka.client import AIOKafkaClient
    from faust.transport.drivers.aiokafka import Producer

    assert "self._producer" in inspect.getsource(Producer)
    assert "self.client" in inspect.getsource(AIOKafkaProducer.__init__)
    assert inspect.iscoroutinefunction(AIOKafkaClient.fetch_all_metadata)
