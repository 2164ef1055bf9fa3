"""JSON <-> records (streams/wire/records.py): what `produce` accepts, and how `consume` prints."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.wire.codec import AvroCodec, load_schemas
from streams.wire.records import RecordError, from_json, parse_time, to_json

UTC = timezone.utc
SCHEMAS = load_schemas()
EVENT_SCHEMA = SCHEMAS["InventoryEvent"]
ITEM_SCHEMA = SCHEMAS["Item"]
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
AT_MS = 1_795_600_800_000


def event(**fields) -> dict:
    obj = {"event_id": "e-1", "type": "Receipt", "sku": "SKU-1", "location": "WH1", "source": "wms",
           "occurred_at": "2026-11-25T10:00:00Z", "qty": 2}
    obj.update(fields)
    return {k: v for k, v in obj.items() if v is not ...}


def error(schema: dict, obj) -> RecordError:
    with pytest.raises(RecordError) as info:
        from_json(schema, obj)
    return info.value


# --- valid records -----------------------------------------------------------------------------


def test_minimal_receipt_gets_every_default():
    record = from_json(EVENT_SCHEMA, event())
    assert set(record) == {f["name"] for f in EVENT_SCHEMA["fields"]}
    assert record["occurred_at"] == AT
    assert record["uom"] == "EA"
    assert record["source_seq"] is None and record["expires_at"] is None and record["disposition"] is None
    assert record["qty"] == 2


@pytest.mark.parametrize("obj", [
    event(type="ReserveRequested", reservation_id="r1", channel="web", order_id="o1",
          expires_at="2026-11-25T10:15:00+00:00", correlation_id="c1"),
    event(type="ReservationExpired", qty=None, reservation_id="r1"),
    event(type="Adjustment", qty=-3, reason="count"),
    event(type="DispositionChanged", from_disposition="quarantine", disposition="scrapped"),
    event(type="TransferShipped", to_location="WH2", uom="CS", source_seq=7),
    event(type="TransferReceived", from_location="WH0", occurred_at=AT_MS),
    event(type="Snapshot", qty=0),
])
def test_valid_events_convert_and_encode(obj):
    record = from_json(EVENT_SCHEMA, obj)
    for name, value in obj.items():
        if name not in ("occurred_at", "expires_at"):
            assert record[name] == value
    assert record["occurred_at"] == AT
    codec = AvroCodec()
    assert codec.decode("InventoryEvent", codec.encode("InventoryEvent", record)) == record


def test_expires_at_is_parsed_inside_its_union():
    record = from_json(EVENT_SCHEMA, event(expires_at="2026-11-25T10:15:00Z"))
    assert record["expires_at"] == AT + timedelta(minutes=15)


def test_item_with_uoms_and_components():
    obj = {"sku": "KIT", "uoms": {"CS": 12}, "components": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}
    assert from_json(ITEM_SCHEMA, obj) == {"base_uom": "EA", **obj}
    assert from_json(ITEM_SCHEMA, {"sku": "S"}) == {"sku": "S", "base_uom": "EA", "uoms": {}, "components": []}


# --- errors name the field ---------------------------------------------------------------------


def test_unknown_field():
    err = error(EVENT_SCHEMA, event(quantity=2))
    assert err.field == "quantity"
    assert str(err) == "quantity: is not a field of InventoryEvent"


@pytest.mark.parametrize("name", ["event_id", "type", "sku", "location", "source", "occurred_at"])
def test_missing_required_field(name):
    err = error(EVENT_SCHEMA, event(**{name: ...}))
    assert err.field == name
    assert str(err) == f"{name}: is required"


@pytest.mark.parametrize("name, value, shown", [
    ("qty", "2", "'2' is not of type long"),
    ("qty", 2.0, "2.0 is not of type long"),
    ("qty", True, "True is not of type long"),
    ("sku", 7, "7 is not of type string"),
    ("sku", None, "None is not of type string"),
    ("source_seq", "1", "'1' is not of type long"),
    ("correlation_id", 5, "5 is not of type string"),
])
def test_wrong_type(name, value, shown):
    err = error(EVENT_SCHEMA, event(**{name: value}))
    assert err.field == name
    assert str(err) == f"{name}: {shown}"


@pytest.mark.parametrize("name, value", [
    ("type", "Reciept"), ("type", "receipt"), ("type", 1),
    ("disposition", "broken"), ("from_disposition", "Quarantine"),
])
def test_bad_enum_value(name, value):
    err = error(EVENT_SCHEMA, event(**{name: value}))
    assert err.field == name
    assert f"{value!r} is not one of" in str(err)
    assert "restockable" in str(err) if "disposition" in name else "ReserveRequested" in str(err)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "25/11/2026", ""])
def test_bad_time_string(value):
    err = error(EVENT_SCHEMA, event(occurred_at=value))
    assert err.field == "occurred_at"
    assert "is not an ISO-8601 time" in str(err)


@pytest.mark.parametrize("value", [1.5, True, None, [], {}])
def test_time_of_a_wrong_type(value):
    err = error(EVENT_SCHEMA, event(occurred_at=value))
    assert err.field == "occurred_at"
    assert "ISO-8601 time or epoch milliseconds" in str(err)


def test_bad_time_in_an_optional_field():
    err = error(EVENT_SCHEMA, event(expires_at="soon"))
    assert err.field == "expires_at"


def test_nested_errors_in_item():
    assert error(ITEM_SCHEMA, {"sku": "S", "uoms": {"CS": "12"}}).field == "uoms.CS"
    assert str(error(ITEM_SCHEMA, {"sku": "S", "uoms": {"CS": "12"}})) == "uoms.CS: '12' is not of type long"
    bad_qty = {"sku": "K", "components": [{"sku": "A", "qty": "2"}]}
    assert error(ITEM_SCHEMA, bad_qty).field == "components[0].qty"
    second = {"sku": "K", "components": [{"sku": "A", "qty": 1}, {"sku": "B"}]}
    assert str(error(ITEM_SCHEMA, second)) == "components[1].qty: is required"
    extra = {"sku": "K", "components": [{"sku": "A", "qty": 1, "uom": "CS"}]}
    assert str(error(ITEM_SCHEMA, extra)) == "components[0].uom: is not a field of KitComponent"
    assert error(ITEM_SCHEMA, {"sku": "K", "components": {"A": 1}}).field == "components"
    assert error(ITEM_SCHEMA, {"sku": "K", "uoms": [["CS", 12]]}).field == "uoms"


def test_nested_record_that_is_not_an_object_is_named_without_a_trailing_dot():
    err = error(ITEM_SCHEMA, {"sku": "K", "components": ["A"]})
    assert str(err) == "components[0]: must be a JSON object, got str"


@pytest.mark.parametrize("obj", [[], "text", 3, None])
def test_not_an_object(obj):
    err = error(EVENT_SCHEMA, obj)
    assert err.field == "(record)"
    assert "must be a JSON object" in str(err)


def test_record_error_is_a_value_error():
    assert issubclass(RecordError, ValueError)


# --- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "2026-11-25T10:00:00Z",
    "2026-11-25T10:00:00+00:00",
    "2026-11-25T11:00:00+01:00",
    "2026-11-25T05:00:00-05:00",
    "2026-11-25T10:00:00",  # no zone: UTC
    "2026-11-25T10:00:00.000Z",
])
def test_iso_times(text):
    parsed = parse_time("t", text)
    assert parsed == AT
    assert parsed.tzinfo is not None


def test_time_without_zone_is_utc_not_local():
    assert parse_time("t", "2026-11-25T10:00:00").utcoffset() == timedelta(0)


@pytest.mark.parametrize("ms", [0, AT_MS, AT_MS + 1, AT_MS + 999, 1_700_000_000_123, -86_400_000])
def test_epoch_milliseconds(ms):
    parsed = parse_time("t", ms)
    assert parsed.tzinfo is not None
    assert parsed == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_parse_time_errors_carry_the_field():
    with pytest.raises(RecordError) as info:
        parse_time("expires_at", "never")
    assert info.value.field == "expires_at"


@pytest.mark.parametrize("ms", [AT_MS * 1000, 10**17, -(10**15)])
def test_out_of_range_epoch_milliseconds_name_the_field(ms):
    with pytest.raises(RecordError) as info:
        parse_time("occurred_at", ms)
    assert info.value.field == "occurred_at"


def test_long_beyond_64_bits_is_refused():
    err = error(EVENT_SCHEMA, event(qty=2**63))
    assert err.field == "qty"


def test_int_range_is_checked():
    dead_letter = SCHEMAS["DeadLetter"]
    base = {"reason": "r", "stage": "s", "topic": "t", "offset": 1, "failed_at": 0}
    assert from_json(dead_letter, {**base, "partition": 2**31 - 1})["partition"] == 2**31 - 1
    assert error(dead_letter, {**base, "partition": 2**31}).field == "partition"


# --- to_json -----------------------------------------------------------------------------------


def test_to_json_times_are_iso_with_z():
    out = orjson.loads(to_json({"at": AT, "later": AT + timedelta(milliseconds=5)}))
    assert out == {"at": "2026-11-25T10:00:00Z", "later": "2026-11-25T10:00:00.005000Z"}


def test_to_json_is_one_line():
    raw = to_json({"a": [1, {"b": "x\ny"}], "c": None})
    assert b"\n" not in raw
    assert orjson.loads(raw) == {"a": [1, {"b": "x\ny"}], "c": None}


def test_to_json_bytes_as_text_when_utf8_else_base64():
    binary = b"\x00\xff\xfe avro"
    out = orjson.loads(to_json({"key": b"SKU-1@WH1", "utf8": "é".encode(), "value": binary,
                                "ba": bytearray(b"abc"), "nested": {"h": [b"\xc3"]}}))
    assert out["key"] == "SKU-1@WH1"
    assert out["utf8"] == "é"
    assert out["value"] == {"base64": base64.b64encode(binary).decode()}
    assert base64.b64decode(out["value"]["base64"]) == binary
    assert out["ba"] == "abc"
    assert out["nested"] == {"h": [{"base64": "ww=="}]}


def test_to_json_non_string_keys_and_unknown_types():
    assert orjson.loads(to_json({1: "a"})) == {"1": "a"}
    with pytest.raises(TypeError):
        to_json({"x": object()})


def test_decoded_event_prints_and_reads_back():
    codec = AvroCodec()
    record = from_json(EVENT_SCHEMA, event(type="ReserveRequested", reservation_id="r", channel="web",
                                           order_id="o", expires_at=AT_MS + 60_000))
    decoded = codec.decode("InventoryEvent", codec.encode("InventoryEvent", record))
    printed = orjson.loads(to_json(decoded))
    assert printed["occurred_at"] == "2026-11-25T10:00:00Z"
    assert printed["expires_at"] == "2026-11-25T10:01:00Z"
    assert from_json(EVENT_SCHEMA, printed) == record
