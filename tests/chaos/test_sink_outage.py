"""One channel down for 30 s while deltas keep flowing, three sinks running side by side (each
its own process and consumer group): the webhook receiver that was down ends with the latest
value of every SKU; Shopify and Amazon keep up during the outage (the failing sink slows no
other); no fake ever saw a request over its budget."""

from __future__ import annotations

import signal
import subprocess
import time

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, wait_for
from streams.testing.fakes.amazon import FakeAmazon
from streams.testing.fakes.shopify import FakeShopify
from streams.testing.fakes.webhook import FakeWebhook
from tests.integration.test_webhook_sink import receipt

OUTAGE_SECONDS = 30
POLICIES = "channels:\n  web:\n    locations: [WH1]\n    publish_interval: 0.2\n"
SINKS = """
sinks:
  hook:
    kind: webhook
    channel: web
    url: {hook}
    secret_env: HOOK_SECRET
    rate_per_second: 5
    burst: 5
  shop:
    kind: shopify
    channel: web
    shop_url: {shop}
    api_version: "2026-01"
    token_env: SHOPIFY_TOKEN
    items: {{{items}}}
    location: "gid://shopify/Location/1"
  amz:
    kind: amazon
    channel: web
    endpoint: {amazon}
    token_url: {amazon}/auth/o2/token
    seller_id: A1SELLER
    marketplace_id: ATVPDKIKX0DER
    client_id_env: LWA_ID
    client_secret_env: LWA_SECRET
    refresh_token_env: LWA_REFRESH
"""


def test_an_outage_of_one_channel_slows_no_other_and_loses_nothing(deployment, tmp_path):
    skus = [f"OUT-{i}" for i in range(30)]
    hook = FakeWebhook(b"s3cret").start()
    shop = FakeShopify("shpat").start()
    amazon = FakeAmazon("id", "secret", "refresh").start()
    items = ", ".join(f"{s}: gid://shopify/InventoryItem/{i}" for i, s in enumerate(skus))
    (tmp_path / "sinks.yaml").write_text(SINKS.format(hook=hook.url, shop=shop.url, amazon=amazon.url, items=items))
    apply_policies(deployment, tmp_path, POLICIES)
    deployment.worker()
    env = {**deployment.env, "HOOK_SECRET": "s3cret", "SHOPIFY_TOKEN": "shpat", "LWA_ID": "id",
           "LWA_SECRET": "secret", "LWA_REFRESH": "refresh"}
    sinks = []
    for name in ("hook", "shop", "amz"):
        with open(tmp_path / f"{name}.log", "ab") as log:
            sinks.append(subprocess.Popen([STOCKSTREAM, "sink", "run", name, "--config", str(tmp_path / "sinks.yaml")],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))

    def latest() -> dict[str, int]:
        return {sku: value for sku, (_, value) in deployment.latest(topics.CHANNEL_PREFIX + "web").items()}

    def shopify_view() -> dict[str, int]:
        return {f"OUT-{item.rsplit('/', 1)[1]}": value for item, value in shop.values().items()}

    try:
        deployment.produce([receipt(i, sku, 50) for i, sku in enumerate(skus)])
        wait_for(lambda: len(latest()) == 30 and {s: v for s, (_, v) in hook.values().items()} == latest(), 60,
                 "every sink's first values")
        hook.down = True
        started, n, behind = time.monotonic(), 100, []
        while time.monotonic() - started < OUTAGE_SECONDS:
            deployment.produce([receipt(n := n + 1, sku, -1) for sku in skus[n % 3::3]])
            time.sleep(2)
            expected = latest()
            # the others keep up: within a few seconds of the topic while the webhook is down
            caught_up = time.monotonic()
            wait_for(lambda: shopify_view() == expected and amazon.values() == expected, 20, "Shopify and Amazon")
            behind.append(time.monotonic() - caught_up)
        hook.down = False
        expected = latest()
        wait_for(lambda: {s: v for s, (_, v) in hook.values().items()} == expected, 90,
                 "the webhook receiver after its outage")
        assert max(behind) < 10, behind
        times = amazon.patch_times
        assert shop.throttled == 0 and amazon.over_budget == 0, [round(b - a, 3) for a, b in zip(times, times[1:])][:80]
        assert hook.busiest_second() <= 5 + 5 and hook.older_after_newer == 0 and hook.bad_signatures == 0
    finally:
        for sink in sinks:
            sink.send_signal(signal.SIGTERM)
        for sink in sinks:
            sink.wait(30)
        for fake in (hook, shop, amazon):
            fake.stop()
