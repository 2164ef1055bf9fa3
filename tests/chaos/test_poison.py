"""Poison records between good ones on every input topic (issue 13): while a seeded random
stream is produced, records the engine cannot use are written to every topic it consumes, before
the workers start, three times mid-stream and after it. Judged by the independent verifier
(every position, location record and channel value equals the fold of the log, no anomaly) and
by the dead letters: README, "Limits and refusals".

- inventory.events, availability.locations, availability.components, availability.control and
  inventory.reservations: every poison record is on inventory.dlq exactly once, with its key,
  its bytes (cut to fit, with its size and SHA-256, when over STOCKSTREAM_MAX_MESSAGE_BYTES) and
  a reason, named by its topic, partition and offset; the partition goes on.
- catalog.items and inventory.policies: every worker refuses the record and counts it, the value
  before it stays in force; one worker dead-letters it, and only one that arrives while it runs
  (those written before the workers start are refused and counted, not dead-lettered).

STOCKSTREAM_CHAOS_EVENTS sets the stream's length (make chaos: 100,000).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from streams.app import topics
from streams.cli import simulate
from streams.cli.kafka import client_config
from streams.testing.deployment import BOOTSTRAP, Deployment
from streams.wire.codec import cli_codec, load_schemas
from streams.wire.deadletters import read as read_dead_letter
from streams.wire.records import from_json
from tests.chaos.harness import KIT, PUBLISH_INTERVAL, Stream, behind, prepare, record_result, wait_all_healthy
from tests.chaos.verifier import verify_settled

EVENTS = int(os.environ.get("STOCKSTREAM_CHAOS_EVENTS", "1500"))
SKUS, LOCATIONS, SEED = 6, 3, 29
MAX_MESSAGE_BYTES = 200_000  # so the oversized poison's dead letter must be cut
OVERSIZED = 300_000
SETTLE_SECONDS = 10 * PUBLISH_INTERVAL + 10 + EVENTS / 500
LAG_SECONDS = 30 + EVENTS / 500
CONSUMED = (topics.EVENTS, topics.LOCATIONS, topics.COMPONENTS, topics.CONTROL, topics.RESERVATIONS)
AT = "2026-11-25T10:00:00Z"


@dataclass
class Poison:
    logical: str  # the topic
    what: str
    key: bytes | None
    value: bytes | None
    stage: str  # the stage that refuses it (the DLQ's stockstream.dlq.stage)
    kind: str  # the reason label of stockstream_dead_letters_total / stockstream_refused_total
    round: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def dead_lettered(self) -> bool:
        """The README: a catalog or policy record is dead-lettered only if it arrives while a
        worker runs; every other refused record always is."""
        return self.logical not in (topics.CATALOG, topics.POLICIES) or self.round != "before"


def avro(name: str, record: dict[str, Any]) -> bytes:
    return cli_codec().encode(name, from_json(load_schemas()[name], record))


def event(event_id: str, sku: str, location: str, kind: str = "Receipt", **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": kind, "sku": sku, "location": location, "source": "poison",
            "occurred_at": AT, "qty": 1, **fields}


def location_record(sku: str, location: str) -> dict[str, Any]:
    figures = dict.fromkeys(("on_hand", "quarantined", "damaged", "held", "reserved", "picked", "incoming",
                             "safety_stock", "ats"), 5)
    return {"sku": sku, "location": location, **figures, "version": 1, "event_id": "forged", "occurred_at": AT}


def channel_policy(name: str, **rule: Any) -> dict[str, Any]:
    base = {"buffer": 0, "allocation_percent": 100.0, "max_qty": None, "floor": None, "include_incoming": False,
            "ring_fence": 0}
    return {"name": name, "locations": ["WH1", "WH2"], "rule": {**base, **rule}, "overrides": {}, "publish_interval": 0.5}


def poison_round(label: str, rng: random.Random, oversized: bool = False) -> list[Poison]:
    """One round of poison on every topic the engine consumes; keys on the stream's own SKUs
    and positions, so the poison lands on the partitions good records are on."""
    def sku() -> str:
        return f"SKU-{rng.randrange(SKUS)}"

    def position() -> tuple[str, str]:
        return sku(), f"WH{rng.randrange(LOCATIONS)}"

    def key(sku_location: tuple[str, str]) -> bytes:
        return "@".join(sku_location).encode()

    tag = f"poison-{label}"
    out: list[Poison] = []

    def add(logical: str, what: str, key: bytes | None, value: bytes | None, stage: str, kind: str) -> None:
        out.append(Poison(logical, what, key, value, stage, kind, label))

    # inventory.events: the location stage
    e = topics.EVENTS
    here, there = position(), position()
    while there == here:
        there = position()
    good = avro("InventoryEvent", event(f"{tag}-good-bytes", *here))
    add(e, "not Avro", key(position()), b"not avro at all: " + tag.encode(), "locations", "decode")
    add(e, "unknown schema id", key(position()), b"\x00\x7f\xff\xff\xf0" + os.urandom(16), "locations", "decode")
    add(e, "corrupt Avro body", key(here), good[:12], "locations", "decode")
    add(e, "another record's schema", key(here), avro("LocationAvailability", location_record(*here)), "locations", "decode")
    add(e, "empty value", key(position()), b"", "locations", "decode")
    add(e, "tombstone", key(position()), None, "locations", "decode")
    add(e, "key not SKU@LOCATION of the event", key(there), avro("InventoryEvent", event(f"{tag}-k", *here)),
        "locations", "key")
    add(e, "no key", None, avro("InventoryEvent", event(f"{tag}-nokey", *here)), "locations", "key")
    add(e, "key longer than any SKU@LOCATION", b"K" * 400 + b"@WH1",
        avro("InventoryEvent", event(f"{tag}-long", "SKU-1", "WH1")), "locations", "limit:key")
    add(e, "Receipt of 0", key(here), avro("InventoryEvent", event(f"{tag}-q0", *here, qty=0)), "locations", "invalid:qty")
    add(e, "Adjustment without reason", key(here), avro("InventoryEvent", event(f"{tag}-adj", *here, kind="Adjustment", qty=3)),
        "locations", "invalid:reason")
    add(e, "empty event_id", key(here), avro("InventoryEvent", event("", *here)), "locations", "invalid:event_id")
    add(e, "unknown unit PL", key(here), avro("InventoryEvent", event(f"{tag}-pl", *here, uom="PL")), "locations", "invalid:uom")
    if oversized:
        add(e, f"{OVERSIZED:,} bytes, not Avro", key(position()), b"\x01" + os.urandom(OVERSIZED), "locations", "decode")

    # catalog.items: every worker refuses, the item before stays (SKU-i has CS = 6 + i % 7)
    c = topics.CATALOG
    add(c, "not Avro", b"SKU-0", b"garbage " + tag.encode(), "catalog", "invalid:(value)")
    add(c, "a unit of 0 eaches", b"SKU-1", avro("Item", {"sku": "SKU-1", "uoms": {"CS": 0}}), "catalog", "invalid:uoms.CS")
    add(c, "key not the item's SKU", b"SKU-2", avro("Item", {"sku": "SKU-3", "uoms": {"CS": 99}}), "catalog", "invalid:(key)")
    add(c, "key not UTF-8", b"\xff\xfeSKU-4", avro("Item", {"sku": "SKU-4", "uoms": {"CS": 98}}), "catalog", "invalid:(key)")
    add(c, "a kit containing itself", b"KIT-1",
        avro("Item", {"sku": "KIT-1", "components": [*KIT["components"], {"sku": "KIT-1", "qty": 1}]}),
        "catalog", "invalid:components[2].sku")
    add(c, "a kit cycle", b"SKU-0", avro("Item", {"sku": "SKU-0", "components": [{"sku": "KIT-1", "qty": 1}]}),
        "catalog", "invalid:components")
    add(c, "a unit over MAX_UNIT_FACTOR", b"SKU-5", avro("Item", {"sku": "SKU-5", "uoms": {"CS": 2_000_000}}),
        "catalog", "limit:uoms.CS")

    # inventory.policies: every worker refuses, the policy before stays
    p = topics.POLICIES
    add(p, "not Avro", b"channel:web", b"garbage " + tag.encode(), "policies", "invalid:(value)")
    add(p, "empty value", b"location:WH0", b"", "policies", "invalid:(value)")
    add(p, "unknown key kind", b"bogus:web", avro("ChannelPolicy", channel_policy("web")), "policies", "invalid:(key)")
    add(p, "key not UTF-8", b"channel:\xff", avro("ChannelPolicy", channel_policy("web")), "policies", "invalid:(key)")
    add(p, "key names another channel", b"channel:web", avro("ChannelPolicy", channel_policy("amazon")),
        "policies", "invalid:(key)")
    add(p, "allocation_percent 150", b"channel:amazon",
        avro("ChannelPolicy", channel_policy("amazon", allocation_percent=150.0)),
        "policies", "invalid:channels.amazon.allocation_percent")
    add(p, "allocation_percent NaN", b"channel:web", avro("ChannelPolicy", channel_policy("web", allocation_percent=float("nan"))),
        "policies", "invalid:channels.web.allocation_percent")
    add(p, "negative safety stock", b"location:WH0",
        avro("LocationPolicy", {"name": "WH0", "safety_stock": -1, "overrides": {}, "reconciliation": "alert"}),
        "policies", "invalid:locations.WH0.safety_stock")

    # availability.locations: the channel stage's input
    loc = topics.LOCATIONS
    whole = avro("LocationAvailability", location_record(*here))
    add(loc, "not Avro", sku().encode(), b"garbage " + tag.encode(), "channels", "decode")
    add(loc, "empty value", sku().encode(), b"", "channels", "decode")
    add(loc, "tombstone", sku().encode(), None, "channels", "decode")
    add(loc, "an InventoryEvent", here[0].encode(), good, "channels", "decode")
    add(loc, "corrupt Avro body", here[0].encode(), whole[:14], "channels", "decode")

    # availability.components: kit fan-out, keyed by the kit
    m = topics.COMPONENTS
    add(m, "not JSON", b"KIT-1", b"{not json " + tag.encode(), "channels", "decode")
    add(m, "no component", b"KIT-1", orjson.dumps({"channels": {"web": 1}}), "channels", "decode")
    add(m, "a JSON list", b"KIT-1", b"[1, 2]", "channels", "decode")
    add(m, "tombstone", b"KIT-1", None, "channels", "decode")
    add(m, "channels not a mapping", b"KIT-1", orjson.dumps({"component": "SKU-0", "channels": "lots"}),
        "channels", "decode")

    # availability.control: the channel stage's markers
    k = topics.CONTROL
    add(k, "not JSON", b"poison", b"\x00\x01 " + tag.encode(), "channels", "decode")
    add(k, "tombstone", b"poison", None, "channels", "decode")
    add(k, "no kind", b"poison", orjson.dumps({"fingerprint": "x"}), "channels", "decode")
    add(k, "unknown kind", b"poison", orjson.dumps({"kind": "explode"}), "channels", "decode")

    # inventory.reservations: the reservation service's log
    r = topics.RESERVATIONS
    add(r, "not JSON", f"web/{tag}-1".encode(), b"<xml/>", "reservations", "decode")
    add(r, "unknown kind", f"web/{tag}-2".encode(), orjson.dumps({"kind": "explode"}), "reservations", "decode")
    add(r, "no key", None, orjson.dumps({"kind": "release"}), "reservations", "decode")
    add(r, "tombstone", f"web/{tag}-3".encode(), None, "reservations", "decode")
    add(r, "a request without its fields", f"web/{tag}-4".encode(), orjson.dumps({"kind": "request"}),
        "reservations", "decode")
    add(r, "an allocation without its fields", f"web/{tag}-5".encode(),
        orjson.dumps({"kind": "allocation", "location": "WH0"}), "reservations", "decode")
    return out


def inject(deployment: Deployment, poison: list[Poison]) -> None:
    """Produces each record, in order, and notes where it landed."""
    producer = Producer({**client_config(deployment.settings), "partitioner": "murmur2_random", "linger.ms": 5,
                         "message.max.bytes": 2_000_000})
    failed = []
    for record in poison:
        def landed(err: Any, message: Any, record: Poison = record) -> None:
            if err is not None:
                failed.append(f"{record.logical} {record.what}: {err}")
            else:
                record.partition, record.offset = message.partition(), message.offset()
        producer.produce(deployment.settings.topic(record.logical), key=record.key, value=record.value, on_delivery=landed)
        producer.poll(0)
    assert producer.flush(30) == 0 and not failed, failed


def metric_totals(text: str, name: str) -> Counter:
    """(label, label) -> value of a Prometheus counter, summed (labels as a sorted tuple)."""
    out: Counter = Counter()
    for labels, value in re.findall(rf"^{name}{{([^}}]*)}} (\S+)$", text, re.M):
        out[tuple(sorted(re.findall(r'(\w+)="([^"]*)"', labels)))] += float(value)
    return out


def rebalances(workers) -> list[float]:
    """stockstream_rebalances_total of each worker: assignments it received."""
    found = [re.search(r"^stockstream_rebalances_total (\S+)$", w.get("/metrics")[1], re.M) for w in workers]
    return [float(m.group(1)) if m else -1.0 for m in found]


def error_lines(worker) -> list[str]:
    """The messages of the worker's log lines at level error or above."""
    out = []
    for line in worker.log.read_text(errors="replace").splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and str(entry.get("level", "")).lower() in ("error", "critical"):
            out.append(str(entry.get("message")))
    return out


@pytest.fixture
def poisoned(broker, tmp_path):
    deployment = Deployment(tmp_path, partitions=8, env={"STOCKSTREAM_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)})
    yield deployment
    deployment.close()


def test_poison_between_good_records_on_every_input_topic(poisoned, tmp_path):
    deployment = poisoned
    started = time.monotonic()
    rng = random.Random(SEED)
    prepare(deployment, tmp_path, SKUS)
    poison = poison_round("before", rng)  # on the log before any worker starts
    inject(deployment, poison)
    workers = [deployment.worker("w1", wait=False), deployment.worker("w2", wait=False)]
    wait_all_healthy(workers)
    assignments = rebalances(workers)
    records = list(simulate.events(seed=SEED, count=EVENTS, skus=SKUS, locations=LOCATIONS))
    stream = Stream(deployment, records, marks=[EVENTS * k // 4 for k in (1, 2, 3)])
    stream.start()
    for n in (1, 2, 3):
        mark = stream.fault_at()
        stream.go_on()  # the poison goes out while the stream does: between good records
        more = poison_round(f"after-{mark}-events", rng, oversized=n == 2)
        inject(deployment, more)
        poison += more
    stream.finish()
    last = poison_round("after", rng)
    inject(deployment, last)
    poison += last
    last_poison = time.monotonic()

    # Every partition of every topic the workers consume committed to its end (the poison too),
    # then what the engine shows against the fold of the log.
    deadline = time.monotonic() + LAG_SECONDS
    while (left := behind(deployment, CONSUMED)) and time.monotonic() < deadline:
        time.sleep(0.25)
    to_lag_0 = round(time.monotonic() - last_poison, 1) if not left else None
    verifying = time.monotonic()
    verdict = verify_settled(deployment.prefix, BOOTSTRAP, workers[0].port, settle_seconds=SETTLE_SECONDS)
    verified = round(time.monotonic() - verifying, 1)

    # Every dead letter, by the record it names; committed inputs have theirs written already,
    # the catalog's and policies' (not tied to a commit) may still be on their way.
    wanted = sum(p.dead_lettered for p in poison)
    deadline = time.monotonic() + 30
    while len(letters := deployment.read(topics.DLQ)) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    letters = [read_dead_letter(m.key(), m.value(), m.headers() or []) for m in letters]
    by_origin: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for letter in letters:
        by_origin.setdefault((letter["topic"], letter["partition"], letter["offset"]), []).append(letter)
    # Records the workers read while a rebalance's seek runs are read again after it (README,
    # Delivery guarantees): at the first start that is the poison already on the log; later,
    # only if the group rebalanced (a worker late with its heartbeat on a loaded machine).
    rebalanced = rebalances(workers) != assignments
    problems = []
    dlq_by_topic: Counter = Counter()
    expected_dead: Counter = Counter()  # (reason, stage) -> dead letters written
    copies: Counter = Counter()  # topic -> letters written again for a record read again
    for p in poison:
        found = by_origin.pop((deployment.settings.topic(p.logical), p.partition, p.offset), [])
        name = f"{p.round}: {p.logical}[{p.partition}]@{p.offset} {p.what}"
        expected_dead[(("reason", p.kind), ("stage", p.stage))] += len(found)
        if not p.dead_lettered:
            if found:
                problems.append(f"{name}: dead-lettered, but it was on the log before any worker ran")
            continue
        # Exactly once; copies (the same letter again) only of records read around a rebalance.
        if not found or (len(found) > 1 and (not (p.round == "before" or rebalanced)
                                             or any(f != {**found[0], "failed_at": f["failed_at"]} for f in found))):
            problems.append(f"{name}: {len(found)} dead letters, expected 1")
            continue
        copies[p.logical] += len(found) - 1
        letter = found[0]
        dlq_by_topic[p.logical] += 1
        if letter["stage"] != p.stage or not letter["reason"]:
            problems.append(f"{name}: stage {letter['stage']!r}, reason {letter['reason']!r}")
        if letter["key"] != p.key:
            problems.append(f"{name}: key {letter['key']!r}, was {p.key!r}")
        if letter["original_size"] is not None:  # cut to fit: the original is named by its size and hash
            if (letter["original_size"], letter["original_sha256"]) != (len(p.value), hashlib.sha256(p.value).hexdigest()) \
                    or not p.value.startswith(letter["value"]) or len(p.value) <= MAX_MESSAGE_BYTES:
                problems.append(f"{name}: cut, but not to a prefix with the original's size and hash")
        elif letter["value"] != p.value:
            problems.append(f"{name}: value {letter['value'][:40]!r}, was {p.value[:40]!r}" if p.value else
                            f"{name}: value {letter['value']!r}, was {p.value!r}")
    problems += [f"a dead letter for no poison record: {origin} {found[0]['reason']}" for origin, found in by_origin.items()]

    # Counted: dead letters by stage and reason (summed over the workers) as written; refusals
    # of the catalog and policies by every worker, those before it started too.
    expected_refused = Counter((("reason", p.kind), ("topic", p.stage)) for p in poison if p.stage in ("catalog", "policies"))
    dead: Counter = Counter()
    for worker in workers:
        assert worker.process and worker.process.poll() is None, f"{worker.name} exited:\n{worker.tail()}"
        text = worker.get("/metrics")[1]
        dead.update(metric_totals(text, "stockstream_dead_letters_total"))
        refused = metric_totals(text, "stockstream_refused_total")
        if refused != expected_refused:
            problems.append(f"{worker.name} refused {dict(refused)}, expected {dict(expected_refused)}")
    if dead != expected_dead:
        problems.append(f"dead letters counted {dict(dead - expected_dead)} more, {dict(expected_dead - dead)} fewer")
    errors = {worker.name: error_lines(worker) for worker in workers}

    injected = Counter(p.logical for p in poison)
    record_result({
        "fault": "poison records between good ones on every input topic (2 workers, 8 partitions)",
        "events": EVENTS, "injected": dict(injected),
        "rounds": ["before the workers start", *(f"after {EVENTS * k // 4} events" for k in (1, 2, 3)), "after the stream"],
        "dead_letters": dict(dlq_by_topic), "copies_read_again": {t: n for t, n in copies.items() if n},
        "rebalanced_after_start": rebalanced,
        "refused_not_dead_lettered": sum(not p.dead_lettered for p in poison),
        "seconds_last_poison_to_lag_0": to_lag_0, "lag_left": left,
        "worker_error_lines": {name: len(lines) for name, lines in errors.items()},
        "verifier_seconds": verified, "runtime_seconds": round(time.monotonic() - started, 1),
        "verdict": verdict.counts(),
    })
    print(verdict.report())
    assert verdict.ok, verdict.report()
    assert verdict.records >= EVENTS and verdict.positions == SKUS * LOCATIONS
    # The verifier refuses the events poison by the design alone: one refusal per record.
    assert verdict.refused == injected[topics.EVENTS], (verdict.refused, injected[topics.EVENTS])
    assert not problems, "\n".join(problems[:40])
    assert not left, f"applied, but not committed after {LAG_SECONDS}s (topic, partition: committed, end): {left}"
    for worker in workers:
        assert worker.process.poll() is None, f"{worker.name} exited:\n{worker.tail()}"
    # Only the records dead-lettered as `internal` are logged as errors (with their traceback).
    internal = sum(n for (reason, _), n in expected_dead.items() if reason == ("reason", "internal"))
    logged = [line for lines in errors.values() for line in lines]
    assert len(logged) == internal and all(line.startswith("cannot process") for line in logged), logged[:10]
