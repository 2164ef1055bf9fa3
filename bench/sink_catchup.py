"""The Shopify sink catching up, at the Standard plan's budget (a fake Admin API that enforces
1,000 points, 100 restored a second, 10 a mutation): how long 10,000 changed SKUs take to reach
Shopify, and in what order a mixed backlog of zeros, decreases and increases goes out.

    .venv/bin/python bench/sink_catchup.py [--skus 10000]

1. Receipts for N SKUs go through the engine; the sink starts with all N first values waiting.
2. The sink stops; a third of the SKUs go to zero, a third down, a third up; it starts again
   with that mixed backlog.
Each phase is timed from the sink's start to the fake showing every latest value.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from report import save  # noqa: E402 - bench/report.py
from streams.app import topics  # noqa: E402
from streams.testing.clients import apply_policies  # noqa: E402
from streams.testing.deployment import STOCKSTREAM, Deployment, wait_for  # noqa: E402
from streams.testing.fakes.shopify import FakeShopify  # noqa: E402

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
"""


def event(n: int, sku: str, qty: int) -> dict:
    return {"event_id": f"b{n}", "type": "Adjustment" if qty < 0 else "Receipt", "sku": sku, "location": "WH1",
            "qty": qty, "source": "wms", "reason": "recount" if qty < 0 else None,
            "occurred_at": datetime.now(timezone.utc).isoformat()}


def latest(deployment: Deployment) -> dict[str, int]:
    return {sku: value for sku, (_, value) in deployment.latest(topics.CHANNEL_PREFIX + "web").items()}


def item(sku: str) -> str:
    return f"gid://shopify/InventoryItem/{sku.rsplit('-', 1)[1]}"


def run_sink(deployment: Deployment, root: Path, shop: FakeShopify, expected: dict[str, int]) -> float:
    with open(root / "sink.log", "ab") as log:
        sink = subprocess.Popen([STOCKSTREAM, "sink", "run", "shop", "--config", str(root / "sinks.yaml")],
                                env={**deployment.env, "SHOPIFY_TOKEN": "shpat"}, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    want = {item(sku): value for sku, value in expected.items()}
    wait_for(lambda: all(shop.values().get(i) == v for i, v in want.items()), 600, "Shopify caught up")
    took = time.monotonic() - started
    sink.send_signal(signal.SIGTERM)
    sink.wait(30)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stockstream-sink-catchup-"))
    deployment = Deployment(root, partitions=8)
    deployment.env["STOCKSTREAM_LOG_LEVEL"] = "warning"
    shop = FakeShopify("shpat").start()
    skus = [f"CU-{i}" for i in range(args.skus)]
    try:
        (root / "items.csv").write_text("".join(f"{s},{item(s)}\n" for s in skus))
        (root / "sinks.yaml").write_text(SINKS.format(url=shop.url))
        apply_policies(deployment, root, POLICIES)
        deployment.worker()
        deployment.produce([event(i, sku, 20) for i, sku in enumerate(skus)])
        wait_for(lambda: len(latest(deployment)) == len(skus), 600, "every first value on the topic")
        first = run_sink(deployment, root, shop, latest(deployment))
        print(f"{len(skus):,} first values: {first:.1f} s ({shop.calls} calls)", flush=True)

        calls_before, order_before = shop.calls, len(shop.order)
        third = len(skus) // 3
        zeros, downs, ups = skus[:third], skus[third:2 * third], skus[2 * third:]
        kind = {**{item(s): "zero" for s in zeros}, **{item(s): "down" for s in downs}, **{item(s): "up" for s in ups}}
        n = len(skus)
        # the increases are produced first: the oldest changes are the increases
        deployment.produce([event(n + i, s, 5) for i, s in enumerate(ups)])
        deployment.produce([event(2 * n + i, s, -20) for i, s in enumerate(zeros)])
        deployment.produce([event(3 * n + i, s, -7) for i, s in enumerate(downs)])
        wait_for(lambda: sum(1 for v in latest(deployment).values() if v in (0, 13, 25)) == len(skus), 600,
                 "every change on the topic")
        mixed = run_sink(deployment, root, shop, latest(deployment))
        sequence = [kind[i] for _, i, _ in shop.order[order_before:]]
        last = {k: max(n for n, x in enumerate(sequence) if x == k) for k in ("zero", "down", "up")}
        first_at = {k: min(n for n, x in enumerate(sequence) if x == k) for k in ("zero", "down", "up")}
        print(f"mixed backlog (increases produced first): {mixed:.1f} s ({shop.calls - calls_before} calls); "
              f"zeros went out in positions {first_at['zero']}..{last['zero']}, decreases {first_at['down']}.."
              f"{last['down']}, increases {first_at['up']}..{last['up']}", flush=True)
        save("sink_catchup", {
            "skus": len(skus), "plan": "standard (1,000 points, 100/s, 10 per mutation, 250 quantities per call)",
            "first_values_seconds": round(first, 2), "first_values_calls": calls_before,
            "mixed_backlog_seconds": round(mixed, 2), "mixed_backlog_calls": shop.calls - calls_before,
            "order": {k: [first_at[k], last[k]] for k in ("zero", "down", "up")},
            "throttled": shop.throttled,
        })
    finally:
        shop.stop()
        deployment.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
