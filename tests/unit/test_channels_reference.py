"""The verifier's own DESIGN §4 (tests/chaos/channels_reference.py) on examples worked by hand
from the design text, and its policies read back from inventory.policies records."""

from __future__ import annotations

import pytest
import yaml

from tests.chaos.channels_reference import (Channel, Policies, Rule, available, channel_values, from_document,
                                            from_records, kit_available)
from tests.design_example import DESIGN_YAML

BUCKETS = ("on_hand", "quarantined", "damaged", "held", "reserved", "picked", "incoming")


def figures(on_hand: int = 0, **others: int) -> dict[str, int]:
    return {**dict.fromkeys(BUCKETS, 0), "on_hand": on_hand, **others}


@pytest.fixture(scope="module")
def design() -> Policies:
    return from_document(yaml.safe_load(DESIGN_YAML))


def test_the_readme_worked_example(design):
    # DC1 100 on hand - safety 2 = 98; DC2 30 - 5 reserved = 25; pool 123.
    stock = {"DC1": figures(100), "DC2": figures(30, reserved=5)}
    # amazon: 123 - buffer 5 - b2b's fence 20 = 98, 50 % = 49, under the cap 200, above the floor 3
    assert available("SKU-1", design.channels["amazon"], design, stock) == 49
    # b2b: its own fence is not taken, amazon has none
    assert available("SKU-1", design.channels["b2b"], design, stock) == 123


@pytest.mark.parametrize("sku, dc1, dc2, amazon", [
    ("SKU-1", 1000, 500, 200),  # (998 + 500 - 5 - 20) / 2 = 736, capped at 200
    ("SKU-1", 30, 0, 0),        # (28 - 25) / 2 = 1, under the floor 3
    ("SKU-1", 33, 0, 3),        # (31 - 25) / 2 = 3, the floor itself shows
    ("SKU-1", 2, 0, 0),         # all of DC1 is safety stock, the pool goes negative: 0
    ("SKU-1", -10, 26, 0),      # DC1's ats is 0, not -12: (26 - 25) / 2 = 0
    ("SKU-9", 100, 50, 10),     # safety override 0, buffer override 0: (150 - 20) / 2 = 65, cap override 10
    ("SKU-9", 25, 0, 0),        # (25 - 20) / 2 = 2 under the floor 3 the override kept
])
def test_the_design_policies_by_hand(design, sku, dc1, dc2, amazon):
    stock = {"DC1": figures(dc1), "DC2": figures(dc2)}
    assert available(sku, design.channels["amazon"], design, stock) == amazon


def test_unsellable_buckets_and_incoming():
    pol = from_document({"locations": {"DC1": {"safety_stock": 10}},
                         "channels": {"web": {"locations": ["DC1", "DC2"], "include_incoming": True},
                                      "edi": {"locations": ["DC1", "DC2"]}}})
    stock = {"DC1": figures(40, quarantined=1, damaged=2, held=3, reserved=4, picked=5, incoming=7),
             "DC2": figures(incoming=6)}
    # DC1 ats 40 - 15 - 10 = 15; incoming is added after the clamp, and only with include_incoming
    assert available("S", pol.channels["edi"], pol, stock) == 15
    assert available("S", pol.channels["web"], pol, stock) == 15 + 7 + 6
    stock["DC1"]["on_hand"] = 20  # ats clamped at 0, the incoming still counts
    assert available("S", pol.channels["web"], pol, stock) == 13


def test_ring_fences_of_channels_sharing_any_location():
    pol = from_document({"channels": {
        "web": {"locations": ["DC1"], "ring_fence": 7},
        "b2b": {"locations": ["DC2", "DC1"], "ring_fence": 20, "overrides": {"OPEN": {"ring_fence": 0}}},
        "store": {"locations": ["DC3"], "ring_fence": 50},
    }})
    stock = {"DC1": figures(100), "DC2": figures(1000), "DC3": figures(1000)}
    assert available("S", pol.channels["web"], pol, stock) == 80          # b2b's 20; not store's 50
    assert available("OPEN", pol.channels["web"], pol, stock) == 100      # b2b fences nothing of OPEN
    assert available("S", pol.channels["b2b"], pol, stock) == 1100 - 7    # web shares DC1
    assert available("S", pol.channels["store"], pol, stock) == 1000      # alone at DC3


@pytest.mark.parametrize("percent, pool, expected", [(32.3, 1000, 323), (33.3, 10, 3), (0.1, 999, 0), (12.5, 8, 1)])
def test_allocation_percent_is_floored_as_written(percent, pool, expected):
    pol = from_document({"channels": {"web": {"locations": ["DC1"], "allocation_percent": percent}}})
    assert available("S", pol.channels["web"], pol, {"DC1": figures(pool)}) == expected


def test_cap_below_the_floor_hides_everything():
    pol = Policies({"web": Channel("web", ("DC1",), Rule(max_qty=4, floor=5))})
    assert available("S", pol.channels["web"], pol, {"DC1": figures(100)}) == 0


def test_kits_take_the_scarcest_component():
    assert kit_available([("A", 2), ("B", 1)], {"A": 7, "B": 5}) == 3
    assert kit_available([("A", 2), ("B", 1)], {"A": 7}) == 0
    assert kit_available([("A", 1)], {"A": -4}) == 0
    catalog = {"KIT": {"sku": "KIT", "components": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]},
               "BOX": {"sku": "BOX", "components": [{"sku": "KIT", "qty": 2}]},
               "LOOP": {"sku": "LOOP", "components": [{"sku": "LOOP", "qty": 1}]}}
    pol = from_document({"channels": {"web": {"locations": ["DC1"], "buffer": 1}}})
    stock_of = {"A": {"DC1": figures(9)}, "B": {"DC1": figures(4)}}
    # web: A 8, B 3 -> min(4, 3) = 3 kits; a box of two kits: 1
    assert channel_values("KIT", pol, catalog, stock_of) == {"web": 3}
    assert channel_values("BOX", pol, catalog, stock_of) == {"web": 1}
    assert channel_values("LOOP", pol, catalog, stock_of) == {"web": 0}


def test_policies_read_back_from_their_records(design):
    rule = {"buffer": 5, "allocation_percent": 50.0, "max_qty": 200, "floor": 3, "include_incoming": False,
            "ring_fence": 0}
    records = [
        ("channel:amazon", {"name": "amazon", "locations": ["DC1", "DC2"], "rule": rule,
                            "overrides": {"SKU-9": {**rule, "buffer": 0, "max_qty": 10}}, "publish_interval": 2.0}),
        ("channel:gone", {"name": "gone", "locations": ["DC1"], "rule": rule, "overrides": {}, "publish_interval": 2.0}),
        ("channel:b2b", {"name": "b2b", "locations": ["DC1", "DC2"], "rule": {**rule, "buffer": 0, "allocation_percent": 100.0,
                         "max_qty": None, "floor": None, "ring_fence": 20}, "overrides": {}, "publish_interval": 2.0}),
        ("location:DC1", {"name": "DC1", "safety_stock": 2, "overrides": {"SKU-9": 0}, "reconciliation": "alert"}),
        ("channel:gone", None),  # a tombstone: policies apply removed it
    ]
    assert from_records(records) == design
