"""`stockstream sink run NAME --config sinks.yaml` and `stockstream sink list --config ...`.

A sink runs as its own process and consumer group (agents/sinks/runner.py). Its file is
checked first, like `policies apply`: a wrong field is reported with its path and nothing runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import yaml
from confluent_kafka import Consumer, KafkaException, TopicPartition

from agents.sinks.config import Sink, SinkConfigError, parse_sinks
from streams.app import topics
from streams.app import logs
from streams.app.settings import Settings
from streams.cli.kafka import client_config, create_topic_specs

log = logging.getLogger(__name__)
RUNNABLE = {"webhook", "shopify", "edi846", "amazon"}  # the kinds built so far


def load(file: str) -> dict[str, Sink]:
    path = Path(file)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SinkConfigError(file, f"cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise SinkConfigError(file, f"is not YAML: {err}") from None
    return parse_sinks(document, path.parent)


def run(settings: Settings, file: str, name: str, metrics: str | None = None, once: bool = False,
        log_format: str | None = None) -> int:
    try:
        sinks = load(file)
    except SinkConfigError as err:
        print(f"stockstream: {err}", file=sys.stderr)
        return 2
    sink = sinks.get(name)
    if sink is None:
        print(f"stockstream: no sink {name!r} in {file} (there: {', '.join(sinks)})", file=sys.stderr)
        return 2
    if sink.kind not in RUNNABLE:
        print(f"stockstream: a {sink.kind} sink cannot run yet (built: {', '.join(sorted(RUNNABLE))})",
              file=sys.stderr)
        return 2
    secrets = {field: os.environ.get(var) for field, var in sink.options.items() if field.endswith("_env")}
    missing = [sink.options[field] for field, value in secrets.items() if not value]
    if missing:
        print(f"stockstream: sink {name}: set {', '.join(missing)} in the environment", file=sys.stderr)
        return 2
    if create_topic_specs(settings, [topics.sink_dlq(sink.name)], quiet=True):
        return 1
    logs.setup(log_format or settings.log_format, settings.log_level)
    if metrics:
        from prometheus_client import start_http_server

        host, _, port = metrics.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0")
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(settings, sink, {field[:-4]: value for field, value in secrets.items()}, once))
    return 0


async def serve(settings: Settings, sink: Sink, secrets: dict[str, str], once: bool = False) -> None:
    import aiohttp

    from agents.sinks.kafka_log import KafkaLog
    from agents.sinks.runner import SinkLoop
    from streams.wire.codec import default_codec

    codec = default_codec()
    await codec.register_all()

    async def decode(value: bytes | None) -> dict:
        await codec.prepare(value)
        return codec.decode("AvailabilityDelta", value)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    channel = build_channel(sink, secrets, aiohttp.ClientSession())
    kafka = KafkaLog(sink, settings)
    await kafka.start()
    log.info("sink %s: %s for availability.%s, %g/s (burst %g), batches of %s", sink.name, sink.kind, sink.channel,
             sink.rate, sink.burst, sink.batch_size)
    try:
        await SinkLoop(sink, channel, kafka, decode).run(stop, once)
    finally:
        await kafka.stop()
        await channel.close()


def build_channel(sink: Sink, secrets: dict[str, str], session) -> object:
    if sink.kind == "webhook":
        from agents.sinks.webhook import WebhookChannel

        return WebhookChannel(sink.options["url"], sink.channel, secrets["secret"].encode(),
                              sink.options["timeout_seconds"], session)
    if sink.kind == "edi846":
        from agents.sinks.edi846 import Edi846Channel
        from agents.sinks.x12 import Party

        options = sink.options
        return Edi846Channel(options["directory"], Party(options["sender_qualifier"], options["sender_id"]),
                             Party(options["receiver_qualifier"], options["receiver_id"]), options["items"])
    if sink.kind == "amazon":
        from agents.sinks.amazon import AmazonChannel

        return AmazonChannel(sink.options, secrets, session)
    from agents.sinks.shopify import ShopifyChannel

    from agents.sinks.metrics import SinkMetrics

    return ShopifyChannel(sink.options["shop_url"], sink.options["api_version"], secrets["token"],
                          sink.options["location"], sink.options["items"], sink.channel, session,
                          timeout=sink.options["timeout_seconds"], drift=SinkMetrics(sink.name).drift)


def show(settings: Settings, file: str) -> int:
    try:
        sinks = load(file)
    except SinkConfigError as err:
        print(f"stockstream: {err}", file=sys.stderr)
        return 2
    print(f"{'sink':<20} {'kind':<8} {'channel':<12} {'budget':<18} lag")
    for sink in sinks.values():
        budget = f"{sink.rate:g}/s, burst {sink.burst:g}"
        print(f"{sink.name:<20} {sink.kind:<8} {sink.channel:<12} {budget:<18} {lag(settings, sink)}")
    return 0


def lag(settings: Settings, sink: Sink) -> str:
    """Records on availability.<channel> past the sink group's committed offsets."""
    topic = settings.topic(f"availability.{sink.channel}")
    consumer = Consumer({**client_config(settings), "group.id": settings.topic(sink.group_id),
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return "no topic yet"
        partitions = [TopicPartition(topic, p) for p in metadata.partitions]
        committed = consumer.committed(partitions, timeout=10)
        behind = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            behind += high - (tp.offset if tp.offset >= 0 else low)
        return str(behind)
    except KafkaException as err:
        return f"unknown ({err.args[0].str()})"
    finally:
        consumer.close()
