"""Integration tests run against the real broker (make kafka-up). With no broker they fail,
never skip: a green run must mean the engine really ran on Kafka."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.testing.deployment import BOOTSTRAP, Deployment


@pytest.fixture(scope="session")
def broker() -> str:
    try:
        AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=15)
    except KafkaException as err:
        pytest.fail(f"no Kafka broker answers at {BOOTSTRAP} ({err}); start one with `make kafka-up`")
    return BOOTSTRAP


@pytest.fixture
def deployment(broker: str, tmp_path):
    deployment = Deployment(tmp_path)
    yield deployment
    deployment.close()
