"""The private Faust names streams/app/compat.py relies on still exist, and what it builds on
them works (with a real RocksDB)."""

from __future__ import annotations

from faust.stores.rocksdb import Store
from rocksdict import Rdict

from streams.app.compat import partition_items


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
    assert callable(AIOKafkaClient.force_metadata_update)


def test_the_consumer_names_the_transport_and_the_delivery_ledger_rely_on_still_exist():
    import inspect

    import faust
    from faust.streams import current_event
    from faust.transport import consumer as base
    from faust.transport.drivers import aiokafka as driver

    init = inspect.getsource(base.Consumer.__init__)
    for name in ("self._acked", "self._acked_index", "self._committed_offset", "self._read_offset"):
        assert name in init, name
    for cls, method in ((driver.Consumer, "_commit"), (base.Consumer, "_getmany"),
                        (base.Consumer, "on_partitions_revoked"), (driver.AIOKafkaConsumerThread, "call_thread"),
                        (faust.Topic, "as_future_message"), (faust.Topic, "publish_message")):
        assert callable(getattr(cls, method, None)), f"{cls.__name__}.{method}"
    assert "self._commit(" in inspect.getsource(base.Consumer._commit_offsets)  # after the flush
    assert callable(current_event)


class _Client:
    def __init__(self) -> None:
        self.tracked: list[str] = []

    def add_topic(self, name: str):
        import asyncio

        self.tracked.append(name)
        done = asyncio.get_running_loop().create_future()
        done.set_result(True)
        return done


def test_every_topic_written_is_tracked_once_by_the_producer_s_client(monkeypatch):
    """Hook 8: a send tracks its topic before it reaches the producer, once per topic."""
    import asyncio

    from aiokafka.client import AIOKafkaClient

    from streams.app import compat, delivery

    assert callable(AIOKafkaClient.add_topic)
    client = _Client()
    monkeypatch.setattr(compat, "kafka_client", lambda app: client)
    monkeypatch.setattr(compat, "_tracked", set())
    sent = []

    async def publish(self, fut, wait=False):
        sent.append((fut.message.topic, list(client.tracked)))

    monkeypatch.setattr(delivery.Topic, "publish_message", publish)

    class Message:
        def __init__(self, topic):
            self.topic = topic

    class Fut:
        def __init__(self, topic):
            self.message = Message(topic)

    topic = compat.Topic.__new__(compat.Topic)
    topic.app = None

    async def run():
        for name in ("a-changelog", "a-changelog", "availability.web"):
            await compat.Topic.publish_message(topic, Fut(name))

    asyncio.run(run())
    assert client.tracked == ["a-changelog", "availability.web"]
    assert sent[0] == ("a-changelog", ["a-changelog"])  # tracked before it was sent


def test_the_recovery_names_hook_9_overrides_still_exist():
    from faust.assignor import PartitionAssignor
    from faust.tables import TableManager
    from faust.tables.recovery import Recovery

    assert callable(PartitionAssignor.on_assignment)
    assert callable(Recovery.on_recovery_completed) and callable(getattr(Recovery, "_resume_streams", None))
    assert TableManager._recovery is None  # the class default the recovery property fills
    assert isinstance(TableManager.recovery, property)


def test_the_app_uses_the_hook_9_classes():
    from streams.app import app, compat

    assert isinstance(app.assignor, compat.Assignor)
    assert isinstance(app.tables, compat.TableManager) and isinstance(app.tables.recovery, compat.Recovery)


class _App:
    consumer_generation_id = 0


async def test_only_the_recovery_of_the_latest_assignment_makes_ownership_known():
    from streams.app.compat import Assignments

    app, assignments = _App(), Assignments()
    assert not assignments.latest_recovered()  # no assignment yet

    async def finish(generation_id):
        pass

    assignments.given, app.consumer_generation_id = 1, 7
    await assignments.recover(app, finish, 7)
    assert assignments.latest_recovered()

    assignments.given += 1  # a new assignment: unknown again until its own recovery ends
    assert not assignments.latest_recovered()

    async def finish_while_another_assignment_comes(generation_id):
        assignments.given += 1
        app.consumer_generation_id = 9

    app.consumer_generation_id = 8
    await assignments.recover(app, finish_while_another_assignment_comes, 8)
    assert not assignments.latest_recovered()

    await assignments.recover(app, finish, 8)  # Faust returned early: an older generation
    assert not assignments.latest_recovered()
    await assignments.recover(app, finish, 9)
    assert assignments.latest_recovered()


async def test_the_recovery_of_the_latest_assignment_is_timed_from_its_arrival_and_rebalances_counted():
    from prometheus_client import REGISTRY

    from streams.app.compat import Assignments

    now = [100.0]
    app, assignments = _App(), Assignments(clock=lambda: now[0])
    rebalances = REGISTRY.get_sample_value("stockstream_rebalances_total")

    async def finish_while_another_assignment_comes(generation_id):
        now[0] = 103.0
        assignments.arrived()  # its recovery is the one that counts
        app.consumer_generation_id = 2

    async def finish(generation_id):
        now[0] = 107.5

    assignments.arrived()
    app.consumer_generation_id = 1
    await assignments.recover(app, finish_while_another_assignment_comes, 1)
    await assignments.recover(app, finish, 2)
    assert REGISTRY.get_sample_value("stockstream_recovery_seconds") == 4.5
    assert REGISTRY.get_sample_value("stockstream_rebalances_total") == rebalances + 2


class _Offsets:
    """What Faust's consumer keeps per partition for its commits (hook 10 reads these)."""

    def __init__(self, acked, gaps=(), committed=None) -> None:
        from intervaltree import IntervalTree

        self._acked = {0: list(acked)}
        self._acked_index = {0: set(acked)}
        self._gap = {0: IntervalTree.from_tuples(gaps)}
        self._committed_offset = {0: committed}


def new_offset(state: _Offsets):
    from streams.app.compat import Consumer

    return Consumer._new_offset(state, 0)


def test_the_faust_names_hook_10_replaces_still_exist():
    from faust.transport.consumer import Consumer as FaustConsumer

    assert callable(FaustConsumer._new_offset)


def test_a_repeated_acknowledgement_does_not_stop_the_commit_at_it():
    state = _Offsets([123, 124, 124, 125, 125, 126], committed=122)
    assert new_offset(state) == 127 and state._acked[0] == []


def test_gaps_filled_in_over_acknowledged_offsets_count_once():
    # 11-12 were never delivered (a gap); 12 is also acknowledged: Faust's own fill made a pair
    state = _Offsets([10, 12, 13], gaps=[(11, 13)], committed=9)
    assert new_offset(state) == 14 and state._acked[0] == []


def test_a_gap_at_the_head_still_commits_nothing():
    state = _Offsets([40, 41], committed=30)
    assert new_offset(state) is None and state._acked[0] == [40, 41]


def test_a_later_run_waits_for_the_missing_offset():
    state = _Offsets([5, 6, 8, 9], committed=4)
    assert new_offset(state) == 7 and state._acked[0] == [8, 9] and state._acked_index[0] == {8, 9}


# --- hook 11: a seek's positions placed again between two batches --------------------------


def test_the_faust_names_hook_11_relies_on_still_exist():
    import inspect

    from faust.tables.recovery import Recovery as FaustRecovery
    from faust.transport.consumer import Consumer as FaustConsumer

    perform_seek = inspect.getsource(FaustConsumer.perform_seek)
    assert "self.seek_to_committed()" in perform_seek and "read_offset" in perform_seek
    # the order that needs the hook, in both ways a recovery ends: partitions resumed, then the seek
    for end in (FaustRecovery.on_recovery_completed, FaustRecovery._resume_streams):
        source = inspect.getsource(end)
        assert source.index("resume_partitions") < source.index("perform_seek"), end.__name__


async def test_stream_partitions_are_seeked_before_faust_resumes_them(monkeypatch):
    from faust.tables.recovery import Recovery as FaustRecovery

    from streams.app import compat

    calls = []

    class Consumer:
        def assignment(self):
            return {"events-0"}

        async def perform_seek(self):
            calls.append("seek")

    async def faust_ends_recovery(self, generation_id=0):
        calls.append("faust: resume, then seek")
    monkeypatch.setattr(FaustRecovery, "on_recovery_completed", faust_ends_recovery)
    monkeypatch.setattr(FaustRecovery, "_resume_streams", faust_ends_recovery)
    recovery = compat.Recovery.__new__(compat.Recovery)
    recovery.app = type("App", (), {"consumer": Consumer(), "consumer_generation_id": 1,
                                    "conf": type("Conf", (), {"broker_request_timeout": 5})()})()

    async def wait(coro, timeout=None):
        return await coro
    recovery._wait = wait
    await recovery.on_recovery_completed(generation_id=1)
    await recovery._resume_streams(generation_id=1)
    assert calls == ["seek", "faust: resume, then seek"] * 2


# --- hook 12: a failed metadata update waits before it answers ------------------------------


def test_the_aiokafka_names_hook_12_relies_on_still_exist():
    import inspect

    from aiokafka.client import AIOKafkaClient

    from streams.app import compat

    assert AIOKafkaClient._metadata_update is compat._metadata_update_backing_off
    # the behaviour it calms: a failed connection asks for metadata again at once
    assert "self.force_metadata_update()" in inspect.getsource(AIOKafkaClient._get_conn)
    assert "self._retry_backoff" in inspect.getsource(AIOKafkaClient.__init__)
    assert "await self._metadata_update(" in inspect.getsource(AIOKafkaClient._md_synchronizer)


async def test_failed_metadata_updates_wait_longer_each_time_and_a_success_resets(monkeypatch):
    from streams.app import compat

    answers = iter([False, False, False, True, False])
    slept = []

    async def update(self, cluster, topics):
        return next(answers)

    async def sleep(seconds):
        slept.append(seconds)
    monkeypatch.setattr(compat, "_metadata_update", update)
    monkeypatch.setattr(compat.asyncio, "sleep", sleep)
    client = type("Client", (), {"_retry_backoff": 0.1})()
    results = [await compat._metadata_update_backing_off(client, None, set()) for _ in range(5)]
    assert results == [False, False, False, True, False]
    assert slept == [0.1, 0.2, 0.4, 0.1]  # nothing after the success, from the start after it
    assert compat.metadata_backoff(0.1, 30) == compat.METADATA_BACKOFF_MOST
