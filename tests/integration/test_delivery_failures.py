"""A send Kafka refuses (a topic whose max.message.bytes is below any record) holds the commit
of the record that made it, and once the topic takes records again that record and the ones
after it are read again and their outputs delivered, by the same worker process."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from streams.app import topics
from streams.wire.deadletters import read as read_dead_letter
from streams.cli.kafka import client_config
from streams.testing.deployment import BOOTSTRAP, wait_for

REFUSE_ALL = 64  # below a record batch's own overhead
DEFAULT = 1048588


def set_max_message_bytes(topic: str, value: int) -> None:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", str(value), incremental_operation=AlterConfigOpType.SET)])
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})  # kept until the futures are done
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def offsets(deployment, logical: str, committed: bool) -> list[int]:
    settings = deployment.settings
    tps = [TopicPartition(settings.topic(logical), p) for p in range(settings.partitions)]
    consumer = Consumer({**client_config(settings), "group.id": settings.app_id})
    try:
        if committed:
            return [max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10)]
        return [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
    finally:
        consumer.close()


def receipt(n: int, sku: str) -> dict:
    return {"event_id": f"e{n}", "type": "Receipt", "sku": sku, "location": "WH1", "source": "wms",
            "occurred_at": "2026-11-25T10:00:00Z", "qty": 1}


SKUS = [f"SKU-{n}" for n in range(6)]


def test_a_refused_output_is_not_committed_and_is_delivered_once_the_topic_takes_it(deployment):
    set_max_message_bytes(deployment.settings.topic(topics.LOCATIONS), REFUSE_ALL)
    worker = deployment.worker()
    pid = worker.process.pid
    deployment.produce([receipt(n, SKUS[n % 6]) for n in range(24)])
    end = offsets(deployment, topics.EVENTS, committed=False)
    wait_for(lambda: all((worker.position(s, "WH1") or {}).get("on_hand") == 4 for s in SKUS), 60, "applied")
    time.sleep(8)  # a few commit intervals and rewinds
    assert offsets(deployment, topics.EVENTS, committed=True) == [0] * len(end)
    assert deployment.read(topics.LOCATIONS) == []

    set_max_message_bytes(deployment.settings.topic(topics.LOCATIONS), DEFAULT)
    wait_for(lambda: offsets(deployment, topics.EVENTS, committed=True) == end, 60, "committed to the end")
    highest: dict[str, int] = {}
    for record in deployment.read(topics.LOCATIONS):
        highest[record["sku"]] = max(highest.get(record["sku"], 0), record["version"])
    assert highest == {sku: 4 for sku in SKUS}
    assert all(worker.position(s, "WH1")["on_hand"] == 4 for s in SKUS)  # nothing applied twice
    assert worker.process.poll() is None and worker.process.pid == pid


def test_a_refused_dead_letter_holds_its_record_until_it_is_written(deployment):
    set_max_message_bytes(deployment.settings.topic(topics.DLQ), REFUSE_ALL)
    worker = deployment.worker()
    pid = worker.process.pid
    deployment.produce([receipt(n, SKUS[n % 6]) for n in range(6)])
    deployment.produce_raw([(f"{SKUS[n]}@WH1".encode(), b"not avro %d" % n) for n in range(4)])
    deployment.produce([receipt(n, SKUS[n % 6]) for n in range(6, 12)])
    end = offsets(deployment, topics.EVENTS, committed=False)
    wait_for(lambda: all((worker.position(s, "WH1") or {}).get("on_hand") == 2 for s in SKUS), 60, "applied")
    time.sleep(8)
    held = offsets(deployment, topics.EVENTS, committed=True)
    assert held != end and all(h <= e for h, e in zip(held, end))

    set_max_message_bytes(deployment.settings.topic(topics.DLQ), DEFAULT)
    wait_for(lambda: offsets(deployment, topics.EVENTS, committed=True) == end, 60, "committed to the end")
    letters = [read_dead_letter(m.key(), m.value(), m.headers() or []) for m in deployment.read(topics.DLQ)]
    assert sorted(letter["value"] for letter in letters) == [b"not avro %d" % n for n in range(4)]
    # each dead letter names the record it came from, and that is where the commit was held
    first_bad = {}
    for letter in letters:
        first_bad[letter["partition"]] = min(first_bad.get(letter["partition"], 1 << 62), letter["offset"])
    assert all(held[p] == first for p, first in first_bad.items())
    assert all(worker.position(s, "WH1")["on_hand"] == 2 for s in SKUS)
    assert worker.process.poll() is None and worker.process.pid == pid
