"""Checking and normalizing decoded InventoryEvents (DESIGN §3: fields, quantities, units)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tables.catalog import UnknownUnit, units_per
from tables.events import InvalidEvent, check, epoch_ms, normalize, position_key

UTC = timezone.utc
AT = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
AT_MS = 1_795_600_800_000


ITEM = {"sku": "SKU-1", "base_uom": "EA", "uoms": {"CS": 12, "PL": 480}}

# The smallest valid record of every type (as the Avro decoder gives it, before normalize).
EXTRA = {
    "Receipt": {"qty": 2},
    "Adjustment": {"qty": -2, "reason": "damaged in aisle"},
    "CycleCount": {"qty": 0},
    "Snapshot": {"qty": 0},
    "ReserveRequested": {"qty": 1, "reservation_id": "r1", "channel": "web", "order_id": "o1"},
    "ReservationReleased": {"reservation_id": "r1"},
    "ReservationExpired": {"reservation_id": "r1"},
    "PickConfirmed": {"qty": 1},
    "ShipmentPosted": {"qty": 1},
    "ReturnReceived": {"qty": 1, "disposition": "quarantine"},
    "DispositionChanged": {"qty": 1, "from_disposition": "quarantine", "disposition": "damaged"},
    "HoldPlaced": {"qty": 1},
    "HoldReleased": {"qty": 1},
    "TransferShipped": {"qty": 1, "to_location": "WH2"},
    "TransferReceived": {"qty": 1, "from_location": "WH2"},
    "TransferInbound": {"qty": 1, "from_location": "WH2"},
}
TYPES = sorted(EXTRA)


def record(type_: str = "Receipt", **fields) -> dict:
    rec = {
        "event_id": "wms-1",
        "type": type_,
        "sku": "SKU-1",
        "location": "WH1",
        "qty": None,
        "uom": "EA",
        "source": "wms",
        "source_seq": 7,
        "occurred_at": AT,
        "correlation_id": "po-1",
    }
    rec.update(EXTRA[type_])
    rec.update(fields)
    return rec


def refused(rec: dict, item=ITEM) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        normalize(rec, item)
    return info.value


# --- valid events ---------------------------------------------------------------------------


@pytest.mark.parametrize("type_", TYPES)
def test_every_type_with_its_fields_is_valid(type_):
    rec = record(type_)
    check(rec)
    out = normalize(rec, ITEM)
    assert out["type"] == type_
    assert out["occurred_at"] == AT_MS
    assert out["qty"] == rec["qty"]


def test_normalize_keeps_fields_and_does_not_mutate_input():
    rec = record("ReserveRequested", qty=2, uom="CS", expires_at=AT + timedelta(minutes=15))
    original = dict(rec)
    out = normalize(rec, ITEM)
    assert rec == original
    assert out is not rec
    assert out["qty"] == 24
    assert out["expires_at"] == AT_MS + 15 * 60_000
    for name in ("event_id", "sku", "location", "source", "source_seq", "correlation_id",
                 "reservation_id", "channel", "order_id"):
        assert out[name] == rec[name]


def test_optional_fields_may_be_absent_or_null():
    rec = record("Receipt")
    for name in ("uom", "source_seq", "correlation_id"):
        del rec[name]
    out = normalize(rec, None)
    assert out["qty"] == 2
    assert out["expires_at"] is None
    assert normalize(record("Receipt", uom=None, correlation_id=None, source_seq=None), None)["qty"] == 2


# --- common fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["event_id", "sku", "location", "source"])
@pytest.mark.parametrize("value", ["<missing>", None, ""])
def test_missing_common_field_is_refused(name, value):
    rec = record()
    if value == "<missing>":
        del rec[name]
    else:
        rec[name] = value
    err = refused(rec)
    assert err.field == name
    assert name in str(err)


@pytest.mark.parametrize("name", ["type", "occurred_at"])
def test_missing_type_or_occurred_at_is_refused(name):
    rec = record()
    del rec[name]
    err = refused(rec)
    assert err.field == name


def test_unknown_type_is_refused():
    err = refused(record("Receipt", type="Teleported"))
    assert err.field == "type"


@pytest.mark.parametrize("field", ["disposition", "from_disposition"])
def test_unknown_disposition_is_refused(field):
    err = refused(record("DispositionChanged", **{field: "lost"}))
    assert err.field == field


# --- per-type required fields -------------------------------------------------------------------


REQUIRED = [
    ("ReserveRequested", "reservation_id"),
    ("ReserveRequested", "channel"),
    ("ReserveRequested", "order_id"),
    ("ReservationReleased", "reservation_id"),
    ("ReservationExpired", "reservation_id"),
    ("ReturnReceived", "disposition"),
    ("DispositionChanged", "from_disposition"),
    ("DispositionChanged", "disposition"),
    ("TransferShipped", "to_location"),
    ("TransferReceived", "from_location"),
]


@pytest.mark.parametrize("type_, name", REQUIRED)
@pytest.mark.parametrize("how", ["missing", "null", "empty"])
def test_per_type_required_field(type_, name, how):
    rec = record(type_)
    if how == "missing":
        del rec[name]
    else:
        rec[name] = None if how == "null" else ""
    err = refused(rec)
    assert err.field == name
    assert type_ in str(err)


@pytest.mark.parametrize("how", ["missing", "null"])
def test_adjustment_requires_a_reason(how):
    rec = record("Adjustment")
    if how == "missing":
        del rec["reason"]
    else:
        rec["reason"] = None
    err = refused(rec)
    assert err.field == "reason"


@pytest.mark.parametrize("type_, name", [
    ("ReserveRequested", "expires_at"),
    ("PickConfirmed", "reservation_id"),
    ("ShipmentPosted", "reservation_id"),
])
def test_optional_per_type_fields(type_, name):
    rec = record(type_)
    rec.pop(name, None)
    normalize(rec, ITEM)


# --- qty rules ----------------------------------------------------------------------------------


POSITIVE = [t for t in TYPES if t not in ("Adjustment", "CycleCount", "Snapshot")]


@pytest.mark.parametrize("type_", POSITIVE)
@pytest.mark.parametrize("qty", [0, -1])
def test_qty_must_be_positive(type_, qty):
    err = refused(record(type_, qty=qty))
    assert err.field == "qty"


@pytest.mark.parametrize("type_", [t for t in TYPES
                                   if t not in ("ReservationReleased", "ReservationExpired")])
def test_qty_is_required(type_):
    rec = record(type_)
    rec["qty"] = None
    assert refused(rec).field == "qty"
    del rec["qty"]
    assert refused(rec).field == "qty"


@pytest.mark.parametrize("type_", ["ReservationReleased", "ReservationExpired"])
def test_qty_is_optional_for_release_and_expiry(type_):
    assert normalize(record(type_, qty=None), ITEM)["qty"] is None
    assert normalize(record(type_, qty=3), ITEM)["qty"] == 3
    assert refused(record(type_, qty=0)).field == "qty"


@pytest.mark.parametrize("qty", [-5, -1, 1, 5])
def test_adjustment_qty_is_signed(qty):
    assert normalize(record("Adjustment", qty=qty), ITEM)["qty"] == qty


def test_adjustment_qty_must_not_be_zero():
    err = refused(record("Adjustment", qty=0))
    assert err.field == "qty" and "zero" in str(err)


@pytest.mark.parametrize("type_", ["CycleCount", "Snapshot"])
def test_absolute_qty_is_zero_or_more(type_):
    assert normalize(record(type_, qty=0), ITEM)["qty"] == 0
    assert normalize(record(type_, qty=9), ITEM)["qty"] == 9
    assert refused(record(type_, qty=-1)).field == "qty"


@pytest.mark.parametrize("type_", ["Receipt", "Adjustment", "CycleCount"])
@pytest.mark.parametrize("qty", [1.5, 2.0, "3", True, False])
def test_qty_must_be_a_whole_number_and_not_a_bool(type_, qty):
    err = refused(record(type_, qty=qty))
    assert err.field == "qty"


# --- units --------------------------------------------------------------------------------------


@pytest.mark.parametrize("uom, factor", [("EA", 1), ("CS", 12), ("PL", 480)])
def test_units_convert_to_eaches(uom, factor):
    assert normalize(record("Receipt", qty=2, uom=uom), ITEM)["qty"] == 2 * factor


def test_signed_and_zero_quantities_convert():
    assert normalize(record("Adjustment", qty=-2, uom="CS"), ITEM)["qty"] == -24
    assert normalize(record("CycleCount", qty=0, uom="PL"), ITEM)["qty"] == 0
    assert normalize(record("ReservationReleased", qty=None, uom="CS"), ITEM)["qty"] is None


def test_missing_or_empty_uom_means_each():
    rec = record("Receipt", qty=3)
    del rec["uom"]
    assert normalize(rec, ITEM)["qty"] == 3
    assert normalize(record("Receipt", qty=3, uom=""), ITEM)["qty"] == 3


def test_base_uom_is_one():
    item = {"sku": "SKU-1", "base_uom": "PC", "uoms": {"BX": 10}}
    assert normalize(record("Receipt", qty=4, uom="PC"), item)["qty"] == 4
    assert normalize(record("Receipt", qty=4, uom="BX"), item)["qty"] == 40
    assert normalize(record("Receipt", qty=4, uom="EA"), item)["qty"] == 4


def test_each_is_always_valid_even_for_unknown_sku():
    assert normalize(record("Receipt", qty=5, uom="EA"), None)["qty"] == 5
    assert normalize(record("Receipt", qty=5, uom="EA"), {"sku": "SKU-1"})["qty"] == 5


def test_unknown_unit_is_refused_naming_uom():
    err = refused(record("Receipt", qty=1, uom="DZ"))
    assert err.field == "uom"
    assert "DZ" in str(err)


def test_unknown_sku_with_non_each_unit_is_refused():
    err = refused(record("Receipt", qty=1, uom="CS"), item=None)
    assert err.field == "uom"


def test_item_without_uoms_knows_only_its_base_unit():
    item = {"sku": "SKU-1"}
    assert refused(record("Receipt", qty=1, uom="CS"), item=item).field == "uom"


@pytest.mark.parametrize("bad", [0, -12, 1.5, "12", None])
def test_nonsense_factor_in_item_master_is_an_unknown_unit(bad):
    item = {"sku": "SKU-1", "base_uom": "EA", "uoms": {"CS": bad}}
    assert refused(record("Receipt", qty=1, uom="CS"), item=item).field == "uom"


def test_units_per_directly():
    assert units_per(None, "EA") == 1
    assert units_per(ITEM, "EA") == 1
    assert units_per(ITEM, "CS") == 12
    assert units_per({"sku": "X", "base_uom": "KG", "uoms": {}}, "KG") == 1
    with pytest.raises(UnknownUnit):
        units_per(None, "CS")
    with pytest.raises(UnknownUnit):
        units_per(ITEM, "cs")  # units are case-sensitive


def test_unit_is_checked_before_the_quantity_reaches_the_numbers():
    # Even a quantity-less release in an unknown unit is refused: the unit itself is wrong.
    err = refused(record("ReservationReleased", qty=None, uom="DZ"))
    assert err.field == "uom"


# --- locations ----------------------------------------------------------------------------------


def test_at_sign_in_location_is_refused():
    err = refused(record("Receipt", location="WH@1"))
    assert err.field == "location"


def test_at_sign_in_to_location_is_refused():
    err = refused(record("TransferShipped", to_location="WH@2"))
    assert err.field == "to_location"


def test_transfer_to_the_same_location_is_refused():
    err = refused(record("TransferShipped", to_location="WH1"))
    assert err.field == "to_location"


def test_position_key():
    assert position_key("SKU-1", "WH1") == "SKU-1@WH1"


# --- dispositions -------------------------------------------------------------------------------


def test_return_received_as_scrapped_is_refused():
    err = refused(record("ReturnReceived", disposition="scrapped"))
    assert err.field == "disposition"


@pytest.mark.parametrize("disposition", ["restockable", "quarantine", "refurbish", "damaged"])
def test_return_received_dispositions(disposition):
    assert normalize(record("ReturnReceived", disposition=disposition), ITEM)["disposition"] == disposition


def test_disposition_changed_from_scrapped_is_refused():
    err = refused(record("DispositionChanged", from_disposition="scrapped", disposition="damaged"))
    assert err.field == "from_disposition"


def test_disposition_changed_to_scrapped_is_valid():
    normalize(record("DispositionChanged", from_disposition="damaged", disposition="scrapped"), ITEM)


# --- times --------------------------------------------------------------------------------------


def test_occurred_at_int_passes_through():
    assert normalize(record(occurred_at=AT_MS + 1), ITEM)["occurred_at"] == AT_MS + 1


@pytest.mark.parametrize("when, expected", [
    (AT, AT_MS),
    (AT + timedelta(milliseconds=1), AT_MS + 1),
    (AT + timedelta(milliseconds=999), AT_MS + 999),
    (datetime(2026, 11, 25, 11, 0, 0, tzinfo=timezone(timedelta(hours=1))), AT_MS),
    (datetime(1970, 1, 1, tzinfo=UTC), 0),
])
def test_occurred_at_datetime_becomes_epoch_ms(when, expected):
    assert normalize(record(occurred_at=when), ITEM)["occurred_at"] == expected
    assert epoch_ms(when) == expected


@pytest.mark.parametrize("expected", [1_079_337_347_472, 2_165_497_250_430, 2_183_226_373_411])
def test_occurred_at_datetime_is_exact_to_the_millisecond(expected):
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=expected)
    assert epoch_ms(when) == expected


def test_expires_at_is_converted_too():
    out = normalize(record("ReserveRequested", expires_at=AT + timedelta(seconds=30)), ITEM)
    assert out["expires_at"] == AT_MS + 30_000
    out = normalize(record("ReserveRequested", expires_at=AT_MS), ITEM)
    assert out["expires_at"] == AT_MS


def test_epoch_ms_of_none_and_garbage():
    assert epoch_ms(None) is None
    with pytest.raises(TypeError):
        epoch_ms("2026-11-25T10:00:00Z")


# --- check() alone --------------------------------------------------------------------------------


def test_check_needs_no_item_master_and_changes_nothing():
    rec = record("Receipt", qty=2, uom="WHATEVER")
    before = dict(rec)
    check(rec)  # units are normalize's job
    assert rec == before


def test_invalid_event_is_a_value_error_naming_its_field():
    err = InvalidEvent("qty", "must be positive")
    assert isinstance(err, ValueError)
    assert err.field == "qty"
    assert str(err) == "qty: must be positive"
