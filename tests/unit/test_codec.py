"""Avro in the Confluent framing (streams/wire/codec.py): round trips, framing, ids, refusals, evolution."""

from __future__ import annotations

import copy
import io
import json
import struct
from datetime import datetime, timedelta, timezone

import fastavro
import pytest

from streams.wire.codec import (PREVIOUS_DIR, SCHEMA_DIR, AvroCodec, DecodeError, LocalSchemaIds, SchemaNotLoaded,
                               load_previous, load_schemas, local_id)

UTC = timezone.utc
AT = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)

EVENT = {
    "event_id": "wms-1",
    "type": "ReserveRequested",
    "sku": "SKU-1",
    "location": "WH1",
    "qty": 3,
    "uom": "CS",
    "source": "wms",
    "source_seq": 42,
    "occurred_at": AT,
    "correlation_id": "po-1",
    "reason": None,
    "reservation_id": "r-1",
    "channel": "web",
    "order_id": "o-1",
    "expires_at": AT + timedelta(minutes=15),
    "disposition": "quarantine",
    "from_disposition": "restockable",
    "to_location": "WH2",
    "from_location": "WH0",
}
ITEM = {
    "sku": "KIT-1",
    "base_uom": "EA",
    "uoms": {"EA": 1, "CS": 12, "PL": 480},
    "components": [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}],
}
AVAILABILITY = {
    "sku": "SKU-1", "location": "WH1", "on_hand": 10, "quarantined": 1, "damaged": 2, "held": 0,
    "reserved": 3, "picked": 1, "incoming": 5, "safety_stock": 1, "ats": 2, "version": 7,
    "event_id": "wms-1", "correlation_id": None, "occurred_at": AT, "ingested_at": AT + timedelta(seconds=2),
}
LETTER = {
    "reason": "qty: must be positive for Receipt, got -1", "stage": "locations",
    "topic": "inventory.events", "partition": 3, "offset": 2**40, "failed_at": AT,
    "original_size": None, "original_sha256": None,
    "key": b"SKU-1@WH1", "value": b"\x00\x01\xff", "headers": {"traceparent": b"00-abc", "empty": b""},
}
RULE = {"buffer": 5, "allocation_percent": 50.0, "max_qty": 200, "floor": 3, "include_incoming": False,
        "ring_fence": 0}
CHANNEL = {"name": "amazon", "locations": ["DC1", "DC2"], "rule": RULE,
           "overrides": {"SKU-9": {**RULE, "buffer": 0, "max_qty": 10}}, "publish_interval": 2.0}
LOCATION = {"name": "DC1", "safety_stock": 2, "overrides": {"SKU-9": 0}, "reconciliation": "auto_correct"}
DELTA = {"sku": "SKU-1", "channel": "amazon", "available": 37, "previous": 40, "version": 12,
         "published_at": datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc), "event_id": "wms-1",
         "correlation_id": None}
DRIFT = {"sku": "SKU-1", "location": "DC1", "erp": 93, "engine_at_watermark": 100, "drift": -7,
         "watermark": datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc), "watermark_seq": 41,
         "causes": ["erp_lower", "rebased_movements:3"], "action": "alert", "complete": True, "event_id": "erp-snap-1",
         "source": "erp", "detected_at": datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)}
RECORDS = {"InventoryEvent": EVENT, "Item": ITEM, "LocationAvailability": AVAILABILITY, "DeadLetter": LETTER,
           "ChannelPolicy": CHANNEL, "LocationPolicy": LOCATION, "AvailabilityDelta": DELTA, "DriftRecord": DRIFT}


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(ids=LocalSchemaIds(load_schemas()))


def test_every_schema_in_the_directory_is_loaded_and_covered_here():
    schemas = load_schemas()
    files = {json.loads(p.read_text())["name"] for p in SCHEMA_DIR.glob("*.avsc")}
    assert set(schemas) == files == set(RECORDS)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_round_trip(codec, name):
    record = RECORDS[name]
    data = codec.encode(name, record)
    assert codec.decode(name, data) == record


def test_inventory_event_round_trip_keeps_times_as_utc_datetimes(codec):
    out = codec.decode("InventoryEvent", codec.encode("InventoryEvent", EVENT))
    assert out["occurred_at"] == AT and out["occurred_at"].utcoffset() == timedelta(0)
    assert out["expires_at"] == AT + timedelta(minutes=15)


def test_optional_fields_default_when_absent(codec):
    minimal = {"event_id": "e", "type": "Receipt", "sku": "S", "location": "L", "source": "erp",
               "occurred_at": AT, "qty": 1}
    out = codec.decode("InventoryEvent", codec.encode("InventoryEvent", minimal))
    assert out["uom"] == "EA"
    assert out["from_location"] is None and out["disposition"] is None and out["expires_at"] is None
    item = codec.decode("Item", codec.encode("Item", {"sku": "S"}))
    assert item == {"sku": "S", "base_uom": "EA", "uoms": {}, "components": []}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_confluent_framing(codec, name):
    schema = load_schemas()[name]
    data = codec.encode(name, RECORDS[name])
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == local_id(schema)
    # The body after the 5-byte header is plain schemaless Avro of the schema.
    body = fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(schema), None)
    assert body == RECORDS[name]


def test_ids_are_stable_distinct_and_fit_31_bits():
    schemas = load_schemas()
    ids = {name: local_id(schema) for name, schema in schemas.items()}
    assert len(set(ids.values())) == len(ids)
    again = load_schemas()
    for name, schema in again.items():
        # Same schema, a fresh dict, and a different key order: same id.
        reordered = dict(reversed(list(copy.deepcopy(schema).items())))
        assert local_id(reordered) == ids[name]
        assert 0 <= ids[name] < 2**31
    # A doc-only change does not change the canonical form, a field change does.
    event = copy.deepcopy(schemas["InventoryEvent"])
    event["doc"] = "another doc"
    assert local_id(event) == ids["InventoryEvent"]
    event["fields"] = event["fields"][:-1]
    assert local_id(event) != ids["InventoryEvent"]


def test_two_codecs_agree_without_coordination():
    a, b = AvroCodec(), AvroCodec()
    data = a.encode("Item", ITEM)
    assert data == b.encode("Item", ITEM)
    assert b.decode("Item", data) == ITEM


async def test_without_a_registry_prepare_and_register_all_change_nothing():
    # Local ids are known up front: the worker may await both whatever the configuration.
    codec = AvroCodec()
    before = codec.encode("InventoryEvent", EVENT)
    await codec.register_all()
    await codec.prepare(before)
    await codec.prepare(b"not framed")
    await codec.prepare(None)
    assert codec.encode("InventoryEvent", EVENT) == before
    assert codec.decode("InventoryEvent", before) == EVENT


def test_local_ids_never_raise_schema_not_loaded(codec):
    # SchemaNotLoaded is the registry's; an id nobody has is an unknown id, dead-lettered.
    data = struct.pack(">bI", 0, 1) + codec.encode("Item", ITEM)[5:]
    with pytest.raises(DecodeError):
        codec.decode("Item", data)
    assert not issubclass(SchemaNotLoaded, ValueError)


# --- refusals ----------------------------------------------------------------------------------


def refused(codec: AvroCodec, name: str, data) -> str:
    with pytest.raises(DecodeError) as info:
        codec.decode(name, data)
    return str(info.value)


@pytest.mark.parametrize("data", [b"", None])
def test_empty_value_is_refused(codec, data):
    assert "empty" in refused(codec, "InventoryEvent", data)


@pytest.mark.parametrize("data", [b"\x01\x00\x00\x00\x01\x02", b'{"sku": "S"}', b"\x00\x00", b"\x00"])
def test_no_magic_byte_or_short_header_is_refused(codec, data):
    assert "magic byte" in refused(codec, "InventoryEvent", data)


def test_unknown_schema_id_is_refused(codec):
    known = {local_id(s) for s in load_schemas().values()}
    unknown = next(i for i in range(1, 100) if i not in known)
    body = codec.encode("InventoryEvent", EVENT)[5:]
    message = refused(codec, "InventoryEvent", struct.pack(">bI", 0, unknown) + body)
    assert f"unknown schema id {unknown}" in message


def test_record_of_another_schema_is_refused(codec):
    data = codec.encode("Item", ITEM)
    message = refused(codec, "InventoryEvent", data)
    assert str(local_id(load_schemas()["Item"])) in message
    assert "Item" in message and "expected InventoryEvent" in message


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_body_is_refused(codec, cut):
    data = codec.encode("InventoryEvent", EVENT)
    message = refused(codec, "InventoryEvent", data[:-cut])
    assert "does not decode as InventoryEvent" in message


def test_header_only_is_refused(codec):
    data = codec.encode("InventoryEvent", EVENT)
    assert "does not decode as InventoryEvent" in refused(codec, "InventoryEvent", data[:5])


def test_corrupt_enum_index_is_refused(codec):
    event = bytearray(codec.encode("InventoryEvent", {**EVENT, "event_id": "e"}))
    # event_id "e" is the varint 2 and one byte; the enum index follows: make it out of range.
    assert event[5:7] == b"\x02e"
    event[7] = 0x7E  # zigzag 63: no such symbol
    assert "does not decode as InventoryEvent" in refused(codec, "InventoryEvent", bytes(event))


# --- schema evolution --------------------------------------------------------------------------


def old_event_schema() -> dict:
    """InventoryEvent as it was before from_location was added."""
    old = copy.deepcopy(load_schemas()["InventoryEvent"])
    assert old["fields"][-1]["name"] == "from_location"
    old["fields"] = old["fields"][:-1]
    return old


def test_record_written_with_an_old_schema_reads_with_the_default():
    current = load_schemas()
    old = old_event_schema()
    assert local_id(old) != local_id(current["InventoryEvent"])
    old_writer = AvroCodec(ids=LocalSchemaIds({"InventoryEvent": old}), schemas={"InventoryEvent": old})
    record = {k: v for k, v in EVENT.items() if k != "from_location"}
    data = old_writer.encode("InventoryEvent", record)
    assert struct.unpack(">I", data[1:5])[0] == local_id(old)

    reader = AvroCodec(ids=LocalSchemaIds({"old": old, **current}), schemas=current)
    out = reader.decode("InventoryEvent", data)
    assert out == {**record, "from_location": None}
    # And the reader still reads its own records, with the field.
    assert reader.decode("InventoryEvent", reader.encode("InventoryEvent", EVENT)) == EVENT


def test_record_written_with_a_newer_schema_reads_with_an_old_one():
    current = load_schemas()
    old = old_event_schema()
    old_reader = AvroCodec(ids=LocalSchemaIds({"old": old, **current}), schemas={"InventoryEvent": old})
    out = old_reader.decode("InventoryEvent", AvroCodec().encode("InventoryEvent", EVENT))
    assert out == {k: v for k, v in EVENT.items() if k != "from_location"}


def test_current_codec_without_the_old_schema_refuses_old_records():
    old = old_event_schema()
    old_writer = AvroCodec(ids=LocalSchemaIds({"InventoryEvent": old}), schemas={"InventoryEvent": old})
    data = old_writer.encode("InventoryEvent", {k: v for k, v in EVENT.items() if k != "from_location"})
    assert "unknown schema id" in refused(AvroCodec(), "InventoryEvent", data)


def test_every_previous_schema_is_an_older_version_of_a_current_one_that_reads_it():
    current = load_schemas()
    previous = load_previous()
    assert len(previous) == len(list(PREVIOUS_DIR.glob("*.avsc"))) >= 1
    for old in previous:
        assert old["name"] in current and local_id(old) != local_id(current[old["name"]])
        fastavro.schema.parse_schema(old)


def test_a_location_record_an_older_worker_wrote_reads_without_a_registry(monkeypatch):
    """A rolling upgrade: the channel stage of a new worker reads what an old one published."""
    from streams.wire.registry import ids_from_settings

    monkeypatch.delenv("STOCKSTREAM_SCHEMA_REGISTRY_URL", raising=False)
    [old] = [s for s in load_previous() if s["name"] == "LocationAvailability"]
    old_writer = AvroCodec(ids=LocalSchemaIds({"LocationAvailability": old}), schemas={"LocationAvailability": old})
    record = {k: v for k, v in AVAILABILITY.items() if k != "ingested_at"}
    data = old_writer.encode("LocationAvailability", record)
    reader = AvroCodec(ids=ids_from_settings())  # the worker's ids without a registry
    assert reader.decode("LocationAvailability", data) == {**record, "ingested_at": None}
    assert "unknown schema id" in refused(AvroCodec(ids=LocalSchemaIds(load_schemas())), "LocationAvailability", data)
