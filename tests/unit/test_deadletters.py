"""The dead-letter contract (streams/wire/deadletters.py against schemas/DeadLetter.avsc)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import fastavro
import pytest

from streams.wire import deadletters
from streams.wire.codec import AvroCodec, load_schemas

SCHEMA = load_schemas()["DeadLetter"]
ORIGINAL = [("traceparent", b"00-abc-def-01"), ("source", b"wms"), ("binary", b"\xff\x00")]
DLQ_NAMES = [f"stockstream.dlq.{name}" for name in ("reason", "stage", "topic", "partition", "offset", "failed_at")]


def make(original=ORIGINAL, **overrides):
    args = dict(reason="qty: must be positive for Receipt, got -1", stage="locations",
                topic="staging.inventory.events", partition=5, offset=123456789012)
    args.update(overrides)
    return deadletters.headers_for(original, **args)


def test_headers_keep_the_original_first_and_add_six():
    before = int(time.time() * 1000)
    headers = make()
    after = int(time.time() * 1000)
    assert headers[:3] == ORIGINAL
    assert [name for name, _ in headers[3:]] == DLQ_NAMES
    values = dict(headers[3:])
    assert values["stockstream.dlq.reason"] == b"qty: must be positive for Receipt, got -1"
    assert values["stockstream.dlq.stage"] == b"locations"
    assert values["stockstream.dlq.topic"] == b"staging.inventory.events"
    assert values["stockstream.dlq.partition"] == b"5"
    assert values["stockstream.dlq.offset"] == b"123456789012"
    assert before <= int(values["stockstream.dlq.failed_at"]) <= after
    assert all(isinstance(v, bytes) for _, v in headers)


def test_headers_accept_any_iterable_and_no_headers():
    assert [n for n, _ in make(original=iter([("a", b"1")]))] == ["a", *DLQ_NAMES]
    assert [n for n, _ in make(original=[])] == DLQ_NAMES


def test_reason_keeps_unicode():
    headers = make(reason="sku: 'Größe' is not in the item master")
    assert dict(headers)["stockstream.dlq.reason"] == "sku: 'Größe' is not in the item master".encode()
    assert deadletters.read(None, None, headers)["reason"] == "sku: 'Größe' is not in the item master"


def test_read_splits_reason_fields_from_original_headers():
    headers = make()
    letter = deadletters.read(b"SKU-1@WH1", b"\x00bad", headers)
    assert letter["reason"] == "qty: must be positive for Receipt, got -1"
    assert letter["stage"] == "locations"
    assert letter["topic"] == "staging.inventory.events"
    assert letter["partition"] == 5 and type(letter["partition"]) is int
    assert letter["offset"] == 123456789012 and type(letter["offset"]) is int
    assert type(letter["failed_at"]) is int
    assert letter["failed_at"] == int(dict(headers)["stockstream.dlq.failed_at"])
    assert letter["key"] == b"SKU-1@WH1"
    assert letter["value"] == b"\x00bad"
    assert letter["headers"] == dict(ORIGINAL)


def test_read_without_key_value_or_original_headers():
    letter = deadletters.read(None, None, make(original=[]))
    assert letter["key"] is None and letter["value"] is None and letter["headers"] == {}


def test_unparseable_numbers_stay_text():
    headers = [("stockstream.dlq.partition", b"n/a"), ("stockstream.dlq.offset", b"-1"),
               ("stockstream.dlq.failed_at", None)]
    letter = deadletters.read(None, None, headers)
    assert letter["partition"] == "n/a"
    assert letter["offset"] == -1
    assert letter["failed_at"] == ""


def test_other_stockstream_headers_stay_original():
    letter = deadletters.read(None, None, [("stockstream.dlq.extra", b"x"), ("stockstream.trace", b"y")])
    assert letter["headers"] == {"stockstream.dlq.extra": b"x", "stockstream.trace": b"y"}
    assert "extra" not in letter


def test_dead_lettered_twice_reads_the_latest_reason():
    first = make(reason="first", stage="locations")
    second = deadletters.headers_for(first, reason="second", stage="replay", topic="inventory.dlq",
                                     partition=0, offset=7)
    letter = deadletters.read(None, None, second)
    assert letter["reason"] == "second" and letter["stage"] == "replay" and letter["offset"] == 7
    assert letter["headers"] == dict(ORIGINAL)


def test_read_result_is_a_dead_letter_record():
    letter = deadletters.read(b"k", b"v", make())
    schema_fields = [f["name"] for f in SCHEMA["fields"]]
    assert set(letter) == set(schema_fields)
    assert set(deadletters.FIELDS + deadletters.TRUNCATED) | {"key", "value", "headers"} == set(schema_fields)
    assert fastavro.validation.validate(letter, fastavro.parse_schema(SCHEMA), raise_errors=True)
    # And it encodes as one: failed_at reads back as the time it names.
    codec = AvroCodec()
    out = codec.decode("DeadLetter", codec.encode("DeadLetter", letter))
    assert out["failed_at"] == datetime.fromtimestamp(letter["failed_at"] / 1000, tz=timezone.utc)
    assert {k: v for k, v in out.items() if k != "failed_at"} == {k: v for k, v in letter.items() if k != "failed_at"}


@pytest.mark.parametrize("name", deadletters.FIELDS + deadletters.TRUNCATED)
def test_header_names_match_the_schema_docs(name):
    field = next(f for f in SCHEMA["fields"] if f["name"] == name)
    assert f"header stockstream.dlq.{name}" in field["doc"]


def test_a_dead_letter_too_large_to_write_is_cut_with_the_original_size_and_hash():
    import hashlib

    headers = make(reason="x" * 5000)
    assert len(dict(headers)["stockstream.dlq.reason"]) == deadletters.MAX_REASON
    assert deadletters.fit(b"k", b"small", headers, 10_000) == (b"k", b"small", headers)
    value = bytes(range(256)) * 4000
    key, cut, kept = deadletters.fit(b"K" * 5000, value, headers, 100_000)
    assert len(key) == deadletters.KEY_KEPT and value.startswith(cut) and 0 < len(cut) < 100_000
    assert len(key) + len(cut) + sum(len(n) + len(v) for n, v in kept) <= 100_000
    letter = deadletters.read(key, cut, kept)
    assert letter["original_size"] == len(value) and letter["original_sha256"] == hashlib.sha256(value).hexdigest()
    assert letter["reason"] == "x" * deadletters.MAX_REASON and letter["headers"] == {}  # the original's dropped
