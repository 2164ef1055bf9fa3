"""The broker probe (streams/app/broker.py) against a stand-in for aiokafka's client: a probe
without an answer marks the broker away until one answers."""

from __future__ import annotations

import asyncio

from aiokafka.client import AIOKafkaClient

from streams.app import broker


class Client:
    """What the probe uses of AIOKafkaClient; `answers` says whether the broker answers."""

    def __init__(self) -> None:
        self.answers = True

    async def force_metadata_update(self) -> bool:
        return self.answers


def probe(client: Client) -> None:
    asyncio.run(broker.probe_with(client))


def test_a_probe_without_an_answer_marks_the_broker_away_until_one_answers():
    client = Client()
    client.answers = False
    probe(client)
    assert not broker.reachable()
    client.answers = True
    probe(client)
    assert broker.reachable()


def test_aiokafka_s_client_still_refreshes_metadata_on_demand():
    assert callable(AIOKafkaClient.force_metadata_update)
