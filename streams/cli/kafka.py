"""What the CLI does with Kafka (confluent-kafka): create topics, produce files, consume topics."""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any, Iterable, Iterator

import orjson
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.wire import deadletters

from streams.app import topics
from streams.wire.codec import DecodeError, cli_codec
from streams.wire.records import RecordError, from_json, to_json
from streams.app.security import CHECK_CLIENT_CERTIFICATE, CHECK_CREDENTIALS, CHECK_TLS
from streams.app.settings import Settings
from tables.catalog import ItemError, check_item
from tables.events import InvalidEvent, check
from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits, OverLimit
from tables.policy_records import record_type

MAX_ERRORS_SHOWN = 20


class Unreachable(RuntimeError):
    pass


def client_config(settings: Settings) -> dict[str, Any]:
    # librdkafka would print every failed connection attempt; we report failures ourselves.
    config: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap, "log_level": 0}
    if settings.security_protocol.upper() != "PLAINTEXT":
        config["security.protocol"] = settings.security_protocol
    if settings.sasl_mechanism:
        config["sasl.mechanism"] = settings.sasl_mechanism.upper()
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = settings.sasl_password.get()
    if settings.ssl_cafile:
        config["ssl.ca.location"] = settings.ssl_cafile
    if settings.ssl_certfile:
        config["ssl.certificate.location"] = settings.ssl_certfile
        config["ssl.key.location"] = settings.ssl_keyfile
    return config


def check_reachable(settings: Settings, timeout: float = 10) -> None:
    """A metadata request with this configuration; when it fails, say why: refused
    credentials and failed TLS handshakes are told apart from a broker that is not there."""
    errors: list[KafkaError] = []
    admin = AdminClient({**client_config(settings), "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=1)
            return
        except KafkaException:
            admin.poll(0)  # serves error_cb with what the connection attempts met
            reason = unreachable_reason(settings, errors)
            if time.monotonic() >= deadline or not reason.startswith("no Kafka broker"):
                raise Unreachable(reason) from None


def unreachable_reason(settings: Settings, errors: list[KafkaError]) -> str:
    where = f"Kafka at {settings.kafka_bootstrap}"
    for err in errors:
        if err.code() == KafkaError._AUTHENTICATION:
            return f"{where} refused the credentials ({err.str()}); {CHECK_CREDENTIALS}"
        if "bad certificate" in err.str() or "certificate required" in err.str():
            return f"{where} refused the TLS connection ({err.str()}); {CHECK_CLIENT_CERTIFICATE}"
        if "SSL" in err.str():
            return f"the TLS handshake with {where} failed ({err.str()}); {CHECK_TLS}"
    return (f"no Kafka broker answers at {settings.kafka_bootstrap} "
            f"(STOCKSTREAM_KAFKA_BOOTSTRAP); `make kafka-up` starts a local one")


def create_topics(settings: Settings) -> int:
    return create_topic_specs(settings, list(topics.TOPICS.values()))


def create_topic_specs(settings: Settings, specs: list[topics.TopicSpec], quiet: bool = False) -> int:
    """Create the topics that do not exist yet; 1 if any could not be created."""
    if not specs:
        return 0
    admin = AdminClient(client_config(settings))
    wanted = [
        NewTopic(
            settings.topic(spec.name),
            num_partitions=spec.partitions or settings.partitions,
            replication_factor=settings.replication_factor,
            config=topic_config(spec),
        )
        for spec in specs
    ]
    failed = 0
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=30).items():
        try:
            future.result()
            created.append(name)
            print(f"created {name}")
        except KafkaException as err:
            if err.args[0].name() == "TOPIC_ALREADY_EXISTS":
                if not quiet:
                    print(f"exists  {name}")
            else:
                failed += 1
                print(f"failed  {name}: {err.args[0].str()}", file=sys.stderr)
    wait_for_leaders(admin, created)
    return 1 if failed else 0


def wait_for_leaders(admin: AdminClient, names: list[str], timeout: float = 15) -> None:
    """A topic just created answers 'not leader' for a moment: wait until every partition has one."""
    deadline = time.monotonic() + timeout
    while names and time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=10).topics
        if all(name in metadata and metadata[name].partitions
               and all(p.leader >= 0 for p in metadata[name].partitions.values()) for name in names):
            return
        time.sleep(0.2)


def watermarks(consumer: Consumer, tp: TopicPartition, timeout: float = 15) -> tuple[int, int]:
    """(low, high), retrying while a new partition has no leader yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=10)
        except KafkaException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def topic_config(spec: topics.TopicSpec) -> dict[str, str]:
    config = {"cleanup.policy": "compact"} if spec.compacted else {}
    if spec.retention_ms is not None:
        config["retention.ms"] = str(spec.retention_ms)
    return config


def read_topic(settings: Settings, topic: str, timeout: float = 30) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) now on a topic, oldest first per partition (for small topics)."""
    consumer = Consumer({**client_config(settings), "group.id": f"stockstream-cli-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            return []
        ends = {p: watermarks(consumer, TopicPartition(topic, p)) for p in metadata.partitions}
        wanted = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in wanted])
        out: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            out.append((message.key(), message.value()))
            if message.offset() + 1 >= ends[message.partition()][1]:
                wanted.discard(message.partition())
        if wanted:
            raise TimeoutError(f"could not read {topic} to its end in {timeout}s")
        return out
    finally:
        consumer.close()


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def encode_lines(lines: Iterable[tuple[int, str]], logical: str,
                 limits: Limits = DEFAULT_LIMITS) -> tuple[list[tuple[int, bytes, bytes]], list[str]]:
    """Every JSON line as (line number, key, Avro value), or the errors: all lines are checked
    before anything is sent, so a bad file sends nothing."""
    spec = topics.spec(logical)
    if not spec.upstream or spec.record is None or spec.key is None:
        raise ValueError(f"stockstream produce does not write {logical}: it is written by the engine")
    codec = cli_codec()
    schema = codec.schemas[spec.record]
    records, errors = [], []
    for number, line in lines:
        try:
            record = from_json(schema, orjson.loads(line))
            if spec.record == "InventoryEvent":
                check(record, limits)
            elif spec.record == "Item":
                check_item(record, limits)
            records.append((number, spec.key(record).encode(), codec.encode(spec.record, record)))
        except orjson.JSONDecodeError as err:
            errors.append(f"line {number}: not JSON: {err}")
        except (RecordError, InvalidEvent, OverLimit, ItemError) as err:
            errors.append(f"line {number}: {err}")
        except ValueError as err:  # the encoder's last word on a value that passed the checks
            errors.append(f"line {number}: {err}")
    return records, errors


def produce_file(settings: Settings, path: str, logical: str) -> int:
    try:
        records, errors = encode_lines(read_lines(path), logical, settings.limits())
    except (KeyError, ValueError, OSError) as err:
        print(f"stockstream produce: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    if errors:
        for message in errors[:MAX_ERRORS_SHOWN]:
            print(message, file=sys.stderr)
        more = len(errors) - MAX_ERRORS_SHOWN
        print(f"{len(errors)} bad line(s){f' ({more} not shown)' if more > 0 else ''}; nothing was sent",
              file=sys.stderr)
        return 1
    topic = settings.topic(logical)
    try:
        check_reachable(settings)
    except Unreachable as err:
        print(f"stockstream produce: {err}; nothing was sent", file=sys.stderr)
        return 2
    failures = send(settings, topic, records)
    if failures:
        for message in failures[:MAX_ERRORS_SHOWN]:
            print(message, file=sys.stderr)
        print(f"{len(failures)} of {len(records)} record(s) were not delivered to {topic}", file=sys.stderr)
        return 1
    print(f"sent {len(records)} record(s) to {topic}")
    return 0


def send(settings: Settings, topic: str, records: list[tuple[int, bytes, bytes]]) -> list[str]:
    """Produce (line, key, value) records in order; the lines that were not delivered."""
    failures: list[str] = []
    producer = Producer({
        **client_config(settings),
        "enable.idempotence": True,
        "linger.ms": 5,
        "partitioner": "murmur2_random",  # as Java and aiokafka: the same key, the same partition
    })
    for number, key, value in records:
        def report(err: Any, _msg: Any, number: int = number) -> None:
            if err is not None:
                failures.append(f"line {number}: {err.str()}")
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
    remaining = producer.flush(60)
    failures.extend(f"record {i}: not delivered in 60 s" for i in range(remaining))
    return failures


def render(message: Any, spec: topics.TopicSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
        "key": message.key(),
    }
    if spec.name == topics.DLQ:
        out["dead_letter"] = deadletters.read(message.key(), message.value(), message.headers() or [])
        return out
    headers = dict(message.headers() or [])
    record = spec.record or (record_type((message.key() or b"").decode(errors="replace"))
                             if spec.name == topics.POLICIES else None)
    if record is None:
        out["value"] = message.value()
    else:
        try:
            out["value"] = cli_codec().decode(record, message.value()) if message.value() else None
        except DecodeError as err:
            out["error"], out["value"] = str(err), message.value()
    if headers:
        out["headers"] = headers
    return out


def consume(settings: Settings, logical: str, from_beginning: bool,
            idle_timeout: float | None, limit: int | None, values: bool = False) -> int:
    """values: each record's value alone, as `stockstream produce` reads it (a copy of a topic
    into another deployment); a record that cannot be decoded is reported, not printed."""
    try:
        spec = topics.spec(logical)
    except KeyError as err:
        print(f"stockstream consume: {err.args[0]}", file=sys.stderr)
        return 2
    topic = settings.topic(logical)
    consumer = Consumer({
        **client_config(settings),
        "group.id": f"stockstream-cli-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            print(f"stockstream consume: {topic}: {metadata.error.str()}", file=sys.stderr)
            return 1
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(topic, p, start) for p in metadata.partitions])
        seen, last = 0, time.monotonic()
        while limit is None or seen < limit:
            message = consumer.poll(0.2)
            if message is None:
                if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                    break
                continue
            if message.error():
                print(f"stockstream consume: {message.error().str()}", file=sys.stderr)
                continue
            rendered = render(message, spec)
            if values and ("error" in rendered or rendered.get("value") is None):
                print(f"stockstream consume: {topic} partition {message.partition()} offset {message.offset()}: "
                      f"{rendered.get('error', 'no value')}; not printed", file=sys.stderr)
            else:
                sys.stdout.buffer.write(to_json(rendered["value"] if values else rendered) + b"\n")
            sys.stdout.flush()
            seen, last = seen + 1, time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0
