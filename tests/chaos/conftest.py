"""Chaos tests kill workers and pause or stop the local broker (scripts/kafka-local) on purpose;
like the integration tests they fail, never skip, without one."""

from tests.integration.conftest import broker, deployment  # noqa: F401 - the same fixtures
