"""The Amazon sink as a user runs it, against a fake Selling Partner API that enforces 5
patches/s (burst 5) and 5 feeds per 5 minutes and fails at random: a large catch-up goes as a
feed, later changes as patches, a revoked token is replaced, Amazon ends with every latest
value, and nothing the sink sent was over the documented limits."""

from __future__ import annotations

import signal
import subprocess

import pytest

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, wait_for
from streams.testing.fakes.amazon import FakeAmazon
from tests.integration.test_webhook_sink import receipt

POLICIES = "channels:\n  amazon:\n    locations: [WH1]\n    publish_interval: 0.2\n"
SINKS = """
sinks:
  amz:
    kind: amazon
    channel: amazon
    endpoint: {url}
    token_url: {url}/auth/o2/token
    seller_id: A1SELLER
    marketplace_id: ATVPDKIKX0DER
    client_id_env: LWA_ID
    client_secret_env: LWA_SECRET
    refresh_token_env: LWA_REFRESH
    feed_above: 50
"""


@pytest.fixture
def amazon():
    fake = FakeAmazon("id", "secret", "refresh", flaky=0.1).start()
    yield fake
    fake.stop()


def test_a_catch_up_goes_by_feed_then_patches_and_amazon_ends_with_every_latest_value(deployment, amazon, tmp_path):
    (tmp_path / "sinks.yaml").write_text(SINKS.format(url=amazon.url))
    apply_policies(deployment, tmp_path, POLICIES)
    skus = [f"AMZ-{i}" for i in range(200)]
    deployment.produce([receipt(i, sku, 30) for i, sku in enumerate(skus)])
    deployment.worker()
    wait_for(lambda: len({d["sku"] for d in deployment.read(topics.CHANNEL_PREFIX + "amazon")}) == 200, 60,
             "the backlog on availability.amazon")
    env = {**deployment.env, "LWA_ID": "id", "LWA_SECRET": "secret", "LWA_REFRESH": "refresh"}
    with open(tmp_path / "sink.log", "ab") as log:
        sink = subprocess.Popen([STOCKSTREAM, "sink", "run", "amz", "--config", str(tmp_path / "sinks.yaml")],
                                env=env, stdout=log, stderr=subprocess.STDOUT)

    def expected() -> dict[str, int]:
        return {sku: value for sku, (_, value) in deployment.latest(topics.CHANNEL_PREFIX + "amazon").items()}

    amazon.unknown = {"AMZ-7"}  # the feed's processing report says it is not a listing

    def listed() -> dict[str, int]:
        return {sku: value for sku, value in expected().items() if sku != "AMZ-7"}

    try:
        wait_for(lambda: amazon.values() == listed(), 90, "the catch-up")
        letters = wait_for(lambda: deployment.read("sinks.amz.dlq"), 30, "the report's error in the DLQ")
        assert [m.key() for m in letters] == [b"AMZ-7"]
        assert "not found" in dict(letters[0].headers())["stockstream.dlq.reason"].decode()
        assert amazon.feeds, "a backlog of 200 over feed_above 50 goes as a feed"
        amazon.revoke_tokens()
        before, caught_up = amazon.patches, expected()
        deployment.produce([receipt(1000 + i, sku, -2) for i, sku in enumerate(skus[:12])])
        wait_for(lambda: all(expected()[sku] != caught_up[sku] for sku in skus[:12]), 60, "the changes' deltas")
        amazon.unknown = set()
        wait_for(lambda: amazon.values() == expected(), 90, "the changes after it (AMZ-7's too, listed now)")
        assert amazon.patches > before  # a few changes go as patches, with a new token
        assert amazon.over_budget == 0
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    assert sink.returncode == 0, (tmp_path / "sink.log").read_text()[-2000:]
