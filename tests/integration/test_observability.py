"""Metrics and logs of a real worker and sink on the real broker: the sync lag of every delta
published, events by type, reservations by decision, recovery and Kafka figures at /metrics;
every line a worker or sink writes is JSON (or text, asked for), the record's key and event id
on the lines about it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from datetime import datetime, timedelta, timezone

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, free_port, http_get, wait_for
from streams.testing.fakes.webhook import FakeWebhook
from streams.wire.codec import default_codec
from streams.wire.records import from_json

POLICIES = "channels:\n  web:\n    locations: [DC1]\n    publish_interval: 1\n"
TEXT_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[\d+\] \[[A-Z]+\] [\w.]+: ")


def event(event_id: str, kind: str, sku: str = "SKU-1", **fields) -> dict:
    # occurred a minute before it is sent: the occurred-to-published latency is at least that
    occurred = datetime.now(timezone.utc) - timedelta(seconds=60)
    return {"event_id": event_id, "type": kind, "sku": sku, "location": "DC1", "source": "wms",
            "occurred_at": occurred.isoformat(), **fields}


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one series in a /metrics text (labels as prometheus_client sorts them)."""
    inside = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    found = re.search(rf"^{name}{{{re.escape(inside)}}} ([0-9.e+-]+)$" if labels else rf"^{name} ([0-9.e+-]+)$",
                      metrics, re.M)
    return float(found.group(1)) if found else None


def lines(path) -> list[dict]:
    """Every line of a log, each of which must be one JSON object."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name} line {number} is not JSON: {line[:200]!r}") from None
    return out


def test_a_worker_s_metrics_time_every_delta_and_count_events_and_reservations_and_its_logs_are_json(
        deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    worker = deployment.worker()
    deployment.produce([
        event("r1", "Receipt", qty=10),  # the first value: published at once
        event("q1", "ReserveRequested", qty=4, reservation_id="o1", channel="web", order_id="o1"),  # a decrease
        event("q2", "ReserveRequested", qty=50, reservation_id="o2", channel="web", order_id="o2"),  # rejected
        event("r2", "Receipt", qty=5),  # increases: held back for the interval, coalesced
        event("r3", "Receipt", qty=5),
        event("r4", "Receipt", sku="SKU-2", qty=3),
    ])
    codec = default_codec()  # and one the engine refuses (the CLI would not send it): a dead letter
    bad = from_json(codec.schemas["InventoryEvent"], event("bad-1", "Receipt", qty=0, correlation_id="po-9"))
    deployment.produce_raw([(b"SKU-1@DC1", codec.encode("InventoryEvent", bad))])
    latest = wait_for(lambda: (found := deployment.latest(topics.CHANNEL_PREFIX + "web"))
                      and found.get("SKU-1", (0, 0))[1] == 16 and "SKU-2" in found and found, 60, "the deltas")
    published = sum(version for version, _ in latest.values())  # versions count from 1, one per delta

    events_lag = re.compile(rf'^stockstream_consumer_lag_records{{partition="\d+",'
                            rf'topic="{re.escape(deployment.settings.topic(topics.EVENTS))}"}} ([0-9.e+]+)$', re.M)

    def settled() -> str | None:
        status, metrics = worker.get("/metrics")
        lags = [float(lag) for lag in events_lag.findall(metrics)]
        ingested = sample(metrics, "stockstream_event_to_delta_seconds_count", channel="web", since="ingested")
        return metrics if status == 200 and lags and not any(lags) and ingested == published else None

    metrics = wait_for(settled, 30, "every delta timed and inventory.events committed")
    # Every delta published was timed from its event, both ways, and nothing else was.
    assert sample(metrics, "stockstream_deltas_total", channel="web", direction="first") == 2
    assert sample(metrics, "stockstream_event_to_delta_seconds_count", channel="web", since="occurred") == published
    # The events occurred a minute before they were sent; the coalesced increase waited its 1 s.
    assert sample(metrics, "stockstream_event_to_delta_seconds_bucket", channel="web", since="occurred", le="30.0") == 0
    assert sample(metrics, "stockstream_event_to_delta_seconds_bucket", channel="web", since="occurred",
                  le="300.0") == published
    assert sample(metrics, "stockstream_event_to_delta_seconds_bucket", channel="web", since="ingested",
                  le="0.5") <= published - 1
    assert sample(metrics, "stockstream_event_to_delta_seconds_bucket", channel="web", since="ingested",
                  le="30.0") == published
    for (kind, outcome), count in {("Receipt", "applied"): 4, ("ReserveRequested", "applied"): 1,
                                   ("ReserveRequested", "rejected"): 1, ("Receipt", "dead_letter"): 1}.items():
        assert sample(metrics, "stockstream_events_total", stage="locations", type=kind, outcome=outcome) == count
    assert sample(metrics, "stockstream_reservations_total", decision="accepted") == 1
    assert sample(metrics, "stockstream_reservations_total", decision="rejected") == 1
    assert sample(metrics, "stockstream_rebalances_total") >= 1
    assert 0 < sample(metrics, "stockstream_recovery_seconds") < 60
    assert sample(metrics, "stockstream_commit_seconds_count") >= 1

    worker.stop()
    logged = lines(worker.log)  # no banner, no terminal codes: JSON lines only
    assert {"timestamp", "level", "logger", "message"} <= logged[0].keys()
    loggers = {line["logger"].split(".")[0] for line in logged}
    assert {"faust", "aiokafka", "streams", "agents"} <= loggers
    [letter] = [line for line in logged if line["logger"] == "agents.dlq"]
    assert letter["level"] == "warning" and "qty" in letter["message"]
    assert (letter["key"], letter["event_id"], letter["correlation_id"]) == ("SKU-1@DC1", "bad-1", "po-9")


def test_a_worker_and_a_sink_asked_for_text_write_text(deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    port = free_port()
    log = tmp_path / "worker.log"
    env = {**deployment.env, "STOCKSTREAM_WEB_PORT": str(port), "STOCKSTREAM_DATA_DIR": str(tmp_path / "data")}
    with open(log, "wb") as out:
        worker = subprocess.Popen([STOCKSTREAM, "worker", "--log-format", "text"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    receiver = FakeWebhook(b"s3cret").start()
    try:
        wait_for(lambda: http_get(port, "/health")[0] == 200, 90, "the worker healthy")
        deployment.produce([event("r1", "Receipt", qty=10)])
        wait_for(lambda: deployment.latest(topics.CHANNEL_PREFIX + "web"), 60, "a delta")
        (tmp_path / "sinks.yaml").write_text(
            f"sinks:\n  hook:\n    kind: webhook\n    channel: web\n    url: {receiver.url}\n"
            "    secret_env: HOOK_SECRET\n")
        sinks = {}
        for log_format in ("text", "json"):
            sinks[log_format] = subprocess.run(
                [STOCKSTREAM, "sink", "run", "hook", "--config", str(tmp_path / "sinks.yaml"), "--once",
                 "--log-format", log_format], env={**deployment.env, "HOOK_SECRET": "s3cret"},
                capture_output=True, text=True, timeout=90)
            assert sinks[log_format].returncode == 0, sinks[log_format].stderr[-2000:]
    finally:
        receiver.stop()
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    text = log.read_text().splitlines()
    assert "ƒaµS†" in text[0]  # the banner, for people
    assert any(TEXT_LINE.match(line) and "aiokafka" in line for line in text)
    assert not any(line.startswith("{") for line in text)
    sink_text = sinks["text"].stderr.splitlines()
    assert sink_text and all(TEXT_LINE.match(line) for line in sink_text)
    sink_json = [json.loads(line) for line in sinks["json"].stderr.splitlines()]
    assert any(line["message"].startswith("sink hook: webhook for availability.web") for line in sink_json)
