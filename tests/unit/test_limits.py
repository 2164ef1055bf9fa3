"""Limits (tables/limits.py): what is over them is refused at the edge, naming the field."""

from __future__ import annotations

import math

import pytest

from tables.catalog import ItemError, check_item, check_kits
from tables.events import normalize
from tables.limits import JSON_SAFE, Limits, OverLimit
from tables.policy import PolicyError
from tables.policy_records import check_record
from tables.position import Position

SMALL = Limits(name_length=10, id_length=12, text_length=20, qty=1000, unit_factor=100, units_per_item=2,
               kit_components=2, kit_depth=2, policy_entries=2)
T0 = 1_795_600_800_000


def event(**fields) -> dict:
    return {"event_id": "e1", "type": "Receipt", "sku": "SKU-1", "location": "DC1", "qty": 5, "uom": "EA",
            "source": "wms", "occurred_at": T0, **fields}


@pytest.mark.parametrize("fields, field", [
    ({"sku": "S" * 11}, "sku"),
    ({"location": "L" * 11}, "location"),
    ({"event_id": "e" * 13}, "event_id"),
    ({"source": "s" * 13}, "source"),
    ({"correlation_id": "c" * 13}, "correlation_id"),
    ({"type": "Adjustment", "qty": -1, "reason": "r" * 21}, "reason"),
    ({"qty": 1001}, "qty"),
    ({"type": "Adjustment", "qty": -1001, "reason": "count"}, "qty"),
    ({"type": "TransferShipped", "to_location": "T" * 11}, "to_location"),
    ({"type": "ReserveRequested", "reservation_id": "r" * 13, "channel": "web", "order_id": "o"}, "reservation_id"),
])
def test_events_over_a_limit_are_refused_naming_the_field(fields, field):
    with pytest.raises(OverLimit) as err:
        normalize(event(**fields), None, SMALL)
    assert err.value.field == field and field in str(err.value)


def test_a_quantity_is_limited_after_unit_conversion_too():
    item = {"sku": "SKU-1", "uoms": {"PL": 100}}
    assert normalize(event(qty=10, uom="PL"), item, SMALL)["qty"] == 1000
    with pytest.raises(OverLimit) as err:
        normalize(event(qty=11, uom="PL"), item, SMALL)
    assert err.value.field == "qty"


def test_a_position_knows_when_a_bucket_left_the_json_safe_range():
    assert Position("S", "L", on_hand=JSON_SAFE).within(JSON_SAFE)
    assert not Position("S", "L", on_hand=JSON_SAFE + 1).within(JSON_SAFE)
    assert not Position("S", "L", on_hand=-JSON_SAFE - 1).within(JSON_SAFE)


@pytest.mark.parametrize("item, field, kind", [
    ({"sku": "S" * 11}, "sku", "limit"),
    ({"sku": "A\x00B"}, "sku", "invalid"),
    ({"sku": "A", "uoms": {"CS": 5_000_000_000_000_000_000}}, "uoms.CS", "limit"),
    ({"sku": "A", "uoms": {"CS": 0}}, "uoms.CS", "invalid"),
    ({"sku": "A", "uoms": {"CS": 2, "PL": 4, "TR": 8}}, "uoms", "limit"),
    ({"sku": "K", "components": [{"sku": "A", "qty": 1}] * 3}, "components", "limit"),
    ({"sku": "K", "components": [{"sku": "K", "qty": 1}]}, "components[0].sku", "invalid"),
    ({"sku": "K", "components": [{"sku": "A", "qty": 0}]}, "components[0].qty", "invalid"),
])
def test_items_over_a_limit_or_wrong_are_refused(item, field, kind):
    with pytest.raises(ItemError) as err:
        check_item(item, SMALL)
    assert (err.value.field, err.value.kind) == (field, kind)


def test_kit_cycles_and_kits_too_deep_are_refused_when_the_item_arrives():
    kits = {"K1": [("A", 1)], "K2": [("K1", 2)]}
    used_in = {"A": {"K1"}, "K1": {"K2"}}
    check_kits("K3", [("A", 1)], kits, used_in, SMALL)  # depth 1
    with pytest.raises(ItemError, match="A -> K2 -> K1 -> A"):
        check_kits("A", [("K2", 1)], kits, used_in, SMALL)  # A would contain what contains it
    with pytest.raises(ItemError) as err:
        check_kits("K3", [("K2", 1)], kits, used_in, SMALL)  # 3 levels
    assert err.value.kind == "limit"
    with pytest.raises(ItemError) as err:
        check_kits("A", [("B", 1)], kits, used_in, SMALL)  # A becomes a kit: K2 would be 3 deep
    assert "K2" in str(err.value)


CHANNEL = {"name": "web", "locations": ["DC1"], "rule": {"buffer": 0, "allocation_percent": 100.0, "max_qty": None,
           "floor": None, "include_incoming": False, "ring_fence": 0}, "overrides": {}, "publish_interval": 2.0}


@pytest.mark.parametrize("key, change, path", [
    ("channel:web", {"rule": {**CHANNEL["rule"], "allocation_percent": math.nan}}, "channels.web.allocation_percent"),
    ("channel:web", {"rule": {**CHANNEL["rule"], "allocation_percent": math.inf}}, "channels.web.allocation_percent"),
    ("channel:web", {"publish_interval": math.nan}, "channels.web.publish_interval"),
    ("channel:web", {"locations": ["A", "B", "C"]}, "channels.web.locations"),
    ("channel:web", {"locations": []}, "channels.web.locations"),
    ("channel:amazon", {}, "(key)"),
    ("channel:web", {"rule": {**CHANNEL["rule"], "buffer": 5000}}, "channels.web.buffer"),
])
def test_policy_records_from_other_producers_are_checked_like_the_file(key, change, path):
    with pytest.raises(PolicyError) as err:
        check_record(key, {**CHANNEL, **change}, SMALL)
    assert err.value.path == path
    check_record("channel:web", CHANNEL, SMALL)
