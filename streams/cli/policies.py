"""`stockstream policies apply FILE.yaml` and `policies show`.

apply checks the whole file first (a wrong field is reported with its path and nothing is
written), then makes inventory.policies hold exactly the file: a record per channel and
location, a tombstone for each one the file no longer names. It creates each channel's delta
topic, then asks the channel stage to republish every SKU (a marker on each partition of
availability.control carrying the fingerprint of the policies it must see first).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import yaml

from streams.app import topics
from streams.wire.codec import cli_codec
from streams.cli.kafka import client_config, create_topic_specs, read_topic
from streams.app.settings import Settings
from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits
from tables.policy import PolicyError, Policies, parse_policies
from tables.policy_records import decode_policies, fingerprint, records, to_document


def in_force(settings: Settings) -> dict[bytes, bytes]:
    """key -> value bytes of every policy now on inventory.policies (last record wins)."""
    current: dict[bytes, bytes] = {}
    for key, value in read_topic(settings, settings.topic(topics.POLICIES)):
        if key is None:
            continue
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    return current


def load(path: str, limits: Limits = DEFAULT_LIMITS) -> Policies:
    with open(path, encoding="utf-8") as handle:
        try:
            document = yaml.safe_load(handle)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise PolicyError("(file)", f"{where}not valid YAML: {getattr(err, 'problem', err)}") from None
    return parse_policies(document, limits)


def apply(settings: Settings, path: str) -> int:
    try:
        policies = load(path, settings.limits())
    except PolicyError as err:
        print(f"{path}: {err}; nothing was applied", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"stockstream policies apply: {err}", file=sys.stderr)
        return 2
    codec = cli_codec()
    wanted = {key.encode(): codec.encode(name, record) for key, (name, record) in records(policies).items()}
    current = in_force(settings)
    removed = sorted(set(current) - set(wanted))
    changed = sorted(k for k, v in wanted.items() if current.get(k) != v)
    if create_topic_specs(settings, [topics.channel_topic(name) for name in policies.channels], quiet=True):
        return 1
    from confluent_kafka import Producer

    producer = Producer({**client_config(settings), "enable.idempotence": True, "partitioner": "murmur2_random"})
    policy_topic = settings.topic(topics.POLICIES)
    for key in changed:
        producer.produce(policy_topic, key=key, value=wanted[key])
    for key in removed:
        producer.produce(policy_topic, key=key, value=None)
    if producer.flush(30):
        print("stockstream policies apply: the policies were not all delivered; run it again", file=sys.stderr)
        return 1
    if changed or removed:
        request_republish(settings, producer, fingerprint(wanted.items()))
    for key in changed:
        print(f"applied {key.decode()}")
    for key in removed:
        print(f"removed {key.decode()}")
    if not changed and not removed:
        print("no change: these policies are already in force")
    return 0


def request_republish(settings: Settings, producer: Any, policies_fingerprint: str) -> None:
    from confluent_kafka.admin import AdminClient

    topic = settings.topic(topics.CONTROL)
    partitions = AdminClient(client_config(settings)).list_topics(topic, timeout=10).topics[topic].partitions
    marker = orjson.dumps({"kind": "policies", "fingerprint": policies_fingerprint})
    for partition in partitions:
        producer.produce(topic, key=b"policies", value=marker, partition=partition)
    producer.flush(30)


def show(settings: Settings) -> int:
    policies = decode_policies(in_force(settings), cli_codec())
    sys.stdout.write(yaml.safe_dump(to_document(policies), sort_keys=False))
    return 0
