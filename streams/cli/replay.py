"""`stockstream replay-dlq`: dead letters back to the topic they came from.

Reads a DLQ (inventory.dlq by default, or a sink's sinks.<name>.dlq) from its first record to
its end as the command starts, picks letters by --since (failed_at) and --reason (a part of
the reason), and produces each letter's original key, value and headers to its original topic.
Every consumer there is idempotent (event ids, offsets, versions), so replaying a letter twice
changes nothing the first replay did not. A letter cut to fit the DLQ (original_size set)
cannot be replayed and is reported. --dry-run says what would go, and sends nothing.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.app.settings import Settings
from streams.cli.kafka import client_config
from streams.wire.deadletters import read


def parse_since(text: str | None) -> int | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def letters(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every record on the topic up to its end now, as DeadLetters."""
    consumer = Consumer({**client_config(settings), "group.id": f"stockstream-replay-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise LookupError(f"{topic}: no such topic")
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in metadata.partitions}
        wanted = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in wanted])
        out = []
        while wanted:
            message = consumer.poll(5.0)
            if message is None:
                raise TimeoutError(f"{topic}: no record within 5 s before its end")
            if message.error():
                continue
            out.append(read(message.key(), message.value(), message.headers() or []))
            if message.offset() + 1 >= ends[message.partition()][1]:
                wanted.discard(message.partition())
        return out
    finally:
        consumer.close()


def replay(settings: Settings, logical: str, since: str | None, reason: str | None, dry_run: bool) -> int:
    topic = settings.topic(logical)
    try:
        after = parse_since(since)
        found = letters(settings, topic)
    except ValueError as err:
        print(f"stockstream replay-dlq: --since: {err}", file=sys.stderr)
        return 2
    except (LookupError, TimeoutError) as err:
        print(f"stockstream replay-dlq: {err}", file=sys.stderr)
        return 1
    chosen = [letter for letter in found
              if (after is None or (letter.get("failed_at") or 0) >= after)
              and (reason is None or reason in (letter.get("reason") or ""))]
    cut = [letter for letter in chosen if letter.get("original_size") is not None]
    going = [letter for letter in chosen if letter.get("original_size") is None and letter.get("topic")]
    by_topic = Counter(letter["topic"] for letter in going)
    if not dry_run and going:
        producer = Producer({**client_config(settings), "enable.idempotence": True})
        for letter in going:
            producer.produce(letter["topic"], key=letter["key"], value=letter["value"],
                             headers=list(letter["headers"].items()))
        if producer.flush(30):
            print("stockstream replay-dlq: some records were not acknowledged by Kafka", file=sys.stderr)
            return 1
    verb = "would replay" if dry_run else "replayed"
    print(f"{topic}: {len(found)} dead letters, {len(chosen)} chosen; {verb} {len(going)}"
          + "".join(f"\n  {count} to {name}" for name, count in sorted(by_topic.items()))
          + (f"\n  {len(cut)} cut to fit the DLQ: not replayable, find them upstream by original_sha256"
             if cut else ""))
    return 0
