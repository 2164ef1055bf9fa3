"""Why compat hook 8 exists, on the real broker: aiokafka's client keeps the metadata of the
topics it tracks and forgets every other at its next refresh. A producer's batch for a
forgotten topic has no leader to go to, and Faust's commit waits on it. If aiokafka stops
forgetting, this test fails and hook 8 can go."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.client import AIOKafkaClient
from confluent_kafka.admin import AdminClient, NewTopic

from streams.cli.kafka import wait_for_leaders


def test_a_refresh_forgets_the_topics_the_client_does_not_track(broker):
    names = [f"it-md-{uuid.uuid4().hex[:8]}-{n}" for n in range(2)]
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(name, 1, 1) for name in names]).values():
        future.result(30)
    wait_for_leaders(admin, names)  # created is not yet in every metadata answer

    async def run() -> tuple[set | None, set | None, set | None]:
        client = AIOKafkaClient(bootstrap_servers=broker)
        await client.bootstrap()
        try:
            await client.force_metadata_update()  # tracks nothing: every topic
            before = client.cluster.partitions_for_topic(names[1])
            await client.add_topic(names[0])  # tracks one: a refresh of that one alone
            await client.force_metadata_update()
            forgotten = client.cluster.partitions_for_topic(names[1])
            await client.add_topic(names[1])  # what hook 8 does for every topic written
            return before, forgotten, client.cluster.partitions_for_topic(names[1])
        finally:
            await client.close()

    try:
        before, forgotten, tracked = asyncio.run(run())
    finally:
        admin.delete_topics(names)
    assert before == {0}
    assert forgotten is None
    assert tracked == {0}
