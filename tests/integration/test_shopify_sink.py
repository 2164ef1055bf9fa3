"""The Shopify sink as a user runs it, against a fake Admin API that enforces the Standard
plan's leaky bucket and fails at random (429, 500, answers slower than the sink's timeout) and
for a while entirely:
Shopify ends with the latest value of every SKU, the sink never made a call the bucket could
not pay for (no THROTTLED), and every call carried an idempotency key."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, wait_for
from streams.testing.fakes.shopify import FakeShopify
from tests.integration.test_webhook_sink import receipt

TOKEN = "shpat_test"
POLICIES = "channels:\n  web:\n    locations: [WH1]\n    publish_interval: 0.2\n"
SINKS = """
sinks:
  shop:
    kind: shopify
    channel: web
    shop_url: {url}
    api_version: "2026-01"
    token_env: SHOPIFY_TOKEN
    plan: standard
    items_file: items.csv
    location: "gid://shopify/Location/1"
    read_back_seconds: 2
    timeout_seconds: 1              # the fake's slow answers (2 s) become timeouts, retried
"""


@pytest.fixture
def shop():
    fake = FakeShopify(TOKEN, flaky=0.2).start()
    yield fake
    fake.stop()


def item(sku: str) -> str:
    return f"gid://shopify/InventoryItem/{sku.rsplit('-', 1)[1]}"


def test_shopify_ends_with_every_latest_value_within_its_bucket(deployment, shop, tmp_path):
    skus = [f"SHOP-{i}" for i in range(300)]
    (tmp_path / "items.csv").write_text("sku,item_id\n" + "".join(f"{s},{item(s)}\n" for s in skus))
    (tmp_path / "sinks.yaml").write_text(SINKS.format(url=shop.url))
    apply_policies(deployment, tmp_path, POLICIES)
    deployment.worker()
    env = {**deployment.env, "SHOPIFY_TOKEN": TOKEN}
    with open(tmp_path / "sink.log", "ab") as log:
        sink = subprocess.Popen([STOCKSTREAM, "sink", "run", "shop", "--config", str(tmp_path / "sinks.yaml")],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deployment.produce([receipt(i, sku, 20) for i, sku in enumerate(skus)])
        shop.down = True
        deployment.produce([receipt(1000 + i, sku, -3) for i, sku in enumerate(skus[::3])])
        time.sleep(3)

        def expected() -> dict[str, int]:
            return {item(sku): value for sku, (_, value) in deployment.latest(topics.CHANNEL_PREFIX + "web").items()}

        # the decreases are on the topic before Shopify is compared with it
        wait_for(lambda: sum(v == 17 for v in expected().values()) == 100, 60, "the decreases' deltas")
        shop.down = False

        wait_for(lambda: len(expected()) == 300 and shop.values() == expected(), 120,
                 "Shopify showing every latest value")
        assert shop.throttled == 0
        shop.change_in_admin(item("SHOP-5"), 999)  # someone edits the stock in Shopify's admin
        wait_for(lambda: "SHOP-5 shows 999 in the channel" in (tmp_path / "sink.log").read_text(), 30,
                 "the read-back reporting the drift")
        assert shop.unkeyed == 0 and shop.keys  # 2026-01: every call carries its batch's key
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    assert sink.returncode == 0, (tmp_path / "sink.log").read_text()[-2000:]
