"""The webhook sink as a user runs it (`stockstream sink run NAME --config sinks.yaml`) against
a receiver on 127.0.0.1: every SKU ends at its latest value on availability.web, through an
outage of the receiver and a SIGKILL of the sink; never an older version after a newer, never
a bad signature, never more requests in a second than the budget."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from datetime import datetime, timezone

import pytest

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, free_port, http_get, wait_for
from streams.testing.fakes.webhook import FakeWebhook

SECRET = "hook-s3cret"
POLICIES = "channels:\n  web:\n    locations: [WH1]\n    publish_interval: 0.2\n"
SINKS = """
sinks:
  hook:
    kind: webhook
    channel: web
    url: {url}
    secret_env: HOOK_SECRET
    batch_size: 20
    rate_per_second: 5
    burst: 5
"""


def receipt(n: int, sku: str, qty: int) -> dict:
    return {"event_id": f"e{n}", "type": "Adjustment" if qty < 0 else "Receipt", "sku": sku, "location": "WH1",
            "qty": qty, "source": "wms", "reason": "recount" if qty < 0 else None,
            "occurred_at": datetime.now(timezone.utc).isoformat()}


def latest(deployment) -> dict[str, tuple[int, int]]:
    return deployment.latest(topics.CHANNEL_PREFIX + "web")


@pytest.fixture
def receiver():
    fake = FakeWebhook(SECRET.encode()).start()
    yield fake
    fake.stop()


def start_sink(deployment, tmp_path, metrics_port: int | None = None):
    env = {**deployment.env, "HOOK_SECRET": SECRET}
    metrics = ["--metrics", f"127.0.0.1:{metrics_port}"] if metrics_port else []
    with open(tmp_path / "sink.log", "ab") as log:
        return subprocess.Popen([STOCKSTREAM, "sink", "run", "hook", "--config", str(tmp_path / "sinks.yaml"),
                                 *metrics], env=env, stdout=log, stderr=subprocess.STDOUT)


def sink_metric(port: int, name: str) -> float:
    status, body = http_get(port, "/metrics")
    assert status == 200
    found = re.search(rf'^{name}\{{sink="hook"\}} ([0-9.e+]+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_receiver_ends_with_every_latest_value_through_an_outage_and_a_kill(deployment, receiver, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    (tmp_path / "sinks.yaml").write_text(SINKS.format(url=receiver.url))
    deployment.worker()
    sink = start_sink(deployment, tmp_path)
    try:
        skus = [f"HOOK-{i}" for i in range(60)]
        deployment.produce([receipt(i, sku, 10) for i, sku in enumerate(skus)])
        wait_for(lambda: receiver.values() == latest(deployment) and len(receiver.values()) == 60, 90,
                 "the first values at the receiver")

        receiver.down = True  # an outage while deltas keep flowing
        n = 1000
        for round_ in range(3):
            deployment.produce([receipt(n := n + 1, sku, -1) for sku in skus[::2]])
            time.sleep(1)
        sink.send_signal(signal.SIGKILL)  # and the sink dies during it
        sink.wait(10)
        deployment.produce([receipt(n := n + 1, sku, 5) for sku in skus[1::2]])
        # every SKU's change is on the topic before the receiver is compared with it
        wait_for(lambda: all(latest(deployment)[sku][0] > 1 for sku in skus), 60, "every change's delta")
        receiver.down = False
        port = free_port()
        sink = start_sink(deployment, tmp_path, port)

        wait_for(lambda: receiver.values() == latest(deployment), 90, "every latest value after the outage")
        wait_for(lambda: sink_metric(port, "stockstream_sink_backlog_skus") == 0
                 and sink_metric(port, "stockstream_sink_lag_records") == 0, 30, "the sink's metrics settling")
        assert sink_metric(port, "stockstream_sink_acknowledged_total") >= 30
        assert sink_metric(port, "stockstream_sink_budget_used_total") >= 1
        assert receiver.bad_signatures == 0
        assert receiver.older_after_newer == 0
        assert receiver.busiest_second() <= 5 + 5  # rate + burst
        listed = subprocess.run([STOCKSTREAM, "sink", "list", "--config", str(tmp_path / "sinks.yaml")],
                                env=deployment.env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and "hook" in listed.stdout and "webhook" in listed.stdout
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    assert sink.returncode == 0, (tmp_path / "sink.log").read_text()[-2000:]


def test_a_wrong_field_is_named_and_nothing_runs(deployment, tmp_path):
    (tmp_path / "sinks.yaml").write_text(SINKS.format(url="ftp://nowhere"))
    done = subprocess.run([STOCKSTREAM, "sink", "run", "hook", "--config", str(tmp_path / "sinks.yaml")],
                          env={**deployment.env, "HOOK_SECRET": SECRET}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "sinks.hook.url" in done.stderr
    (tmp_path / "sinks.yaml").write_text(SINKS.format(url="http://127.0.0.1:9/stock"))
    done = subprocess.run([STOCKSTREAM, "sink", "run", "hook", "--config", str(tmp_path / "sinks.yaml")],
                          env=deployment.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "HOOK_SECRET" in done.stderr


def test_a_refused_value_goes_to_the_sink_s_dlq_and_replay_dlq_sends_it_again(deployment, receiver, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    (tmp_path / "sinks.yaml").write_text(SINKS.format(url=receiver.url).replace("batch_size: 20", "batch_size: 1"))
    deployment.worker()
    receiver.refuse = {"HOOK-BAD"}
    sink = start_sink(deployment, tmp_path)
    try:
        deployment.produce([receipt(1, "HOOK-OK", 4), receipt(2, "HOOK-BAD", 6)])
        wait_for(lambda: receiver.values().get("HOOK-OK") == (1, 4), 60, "the good value")
        letters = wait_for(lambda: deployment.read("sinks.hook.dlq"), 60, "the refused value's dead letter")
        assert len(letters) == 1 and b"HOOK-BAD" in letters[0].key()
        reason = dict(letters[0].headers())["stockstream.dlq.reason"].decode()
        assert reason.startswith("refused by webhook: HTTP 422")

        dry = subprocess.run([STOCKSTREAM, "replay-dlq", "--topic", "sinks.hook.dlq", "--dry-run"],
                             env=deployment.env, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0 and "would replay 1" in dry.stdout, dry.stderr
        receiver.refuse = set()  # the receiver learnt the item
        done = subprocess.run([STOCKSTREAM, "replay-dlq", "--topic", "sinks.hook.dlq", "--reason", "422"],
                              env=deployment.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "replayed 1" in done.stdout, done.stderr
        wait_for(lambda: receiver.values().get("HOOK-BAD") == (1, 6), 60, "the replayed value")
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
