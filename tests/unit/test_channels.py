"""Unit tests of tables/channels.py: the DESIGN §4 formula, step by step, on hand-computed values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml

from tables.channels import LocationStock, available, explain, kit_available, ring_fences
from tests.design_example import DESIGN_YAML
from tables.policy import ChannelPolicy, ChannelRule, Policies, PolicyError, parse_policies


STEP_KEYS = {"pool", "buffer", "after_buffer", "ring_fences", "after_ring_fences",
             "allocation_percent", "allocated", "max_qty", "after_max_qty", "floor", "available"}
LOCATION_KEYS = {"location", "safety_stock", "ats", "incoming", "counted"}


@pytest.fixture(scope="module")
def design() -> Policies:
    return parse_policies(yaml.safe_load(DESIGN_YAML))


def policies(channels: dict, locations: dict | None = None) -> Policies:
    return parse_policies({"channels": channels, "locations": locations or {}})


def one_channel(locations=("DC1",), **rule) -> tuple[ChannelPolicy, Policies]:
    pol = policies({"web": {"locations": list(locations), **rule}})
    return pol.channels["web"], pol


def stock(**on_hand: int) -> dict[str, LocationStock]:
    return {name: LocationStock(on_hand=qty) for name, qty in on_hand.items()}


def steps(e: dict) -> tuple:
    return (e["pool"], e["after_buffer"], e["after_ring_fences"], e["allocated"], e["after_max_qty"],
            e["available"])


# --------------------------------------------------------------------------------------------
# The DESIGN example, step by step


# (sku, DC1 on_hand, DC2 on_hand) -> (pool, after_buffer, after_ring_fences, allocated,
#                                     after_max_qty, available)
DESIGN_CASES = [
    # SKU-1: DC1 safety 2; buffer 5; b2b fence 20; 50 %; cap 200; floor 3
    ("SKU-1", 100, 50, (98 + 50, 143, 123, 61, 61, 61)),       # 123 * 0.5 = 61.5 -> 61
    ("SKU-1", 1000, 500, (998 + 500, 1493, 1473, 736, 200, 200)),  # cap 200
    ("SKU-1", 30, 0, (28, 23, 3, 1, 1, 0)),                      # 1 < floor 3 -> 0
    ("SKU-1", 33, 0, (31, 26, 6, 3, 3, 3)),                      # 3 == floor 3 -> shown
    ("SKU-1", 34, 0, (32, 27, 7, 3, 3, 3)),                      # 3.5 -> 3
    ("SKU-1", 0, 0, (0, -5, -25, 0, 0, 0)),                      # negative pool -> 0
    ("SKU-1", 2, 0, (0, -5, -25, 0, 0, 0)),                      # all of DC1 is safety stock
    ("SKU-1", -10, 26, (26, 21, 1, 0, 0, 0)),                    # negative on_hand: ats 0, not -12
    ("SKU-1", 27, 0, (25, 20, 0, 0, 0, 0)),                      # fence eats the rest exactly
    # SKU-9: DC1 safety override 0; buffer override 0; cap override 10; 50 % and floor 3 kept
    ("SKU-9", 100, 50, (150, 150, 130, 65, 10, 10)),
    ("SKU-9", 26, 0, (26, 26, 6, 3, 3, 3)),
    ("SKU-9", 25, 0, (25, 25, 5, 2, 2, 0)),                      # 2.5 -> 2 < floor 3 -> 0
    ("SKU-9", 20, 0, (20, 20, 0, 0, 0, 0)),
    ("SKU-9", 0, 44, (44, 44, 24, 12, 10, 10)),
]


@pytest.mark.parametrize("sku, dc1, dc2, expected", DESIGN_CASES)
def test_design_example_amazon(design, sku, dc1, dc2, expected):
    e = explain(sku, design.channels["amazon"], design, stock(DC1=dc1, DC2=dc2))
    assert steps(e) == expected
    assert e["ring_fences"] == {"b2b": 20}
    assert available(sku, design.channels["amazon"], design, stock(DC1=dc1, DC2=dc2)) == expected[-1]


def test_design_example_explain_values(design):
    e = explain("SKU-1", design.channels["amazon"], design, stock(DC1=100, DC2=50))
    assert e == {
        "sku": "SKU-1", "channel": "amazon",
        "locations": [
            {"location": "DC1", "safety_stock": 2, "ats": 98, "incoming": 0, "counted": 98},
            {"location": "DC2", "safety_stock": 0, "ats": 50, "incoming": 0, "counted": 50},
        ],
        "pool": 148, "buffer": 5, "after_buffer": 143,
        "ring_fences": {"b2b": 20}, "after_ring_fences": 123,
        "allocation_percent": 50, "allocated": 61,
        "max_qty": 200, "after_max_qty": 61,
        "floor": 3, "available": 61,
    }


def test_design_example_sku9_explain_shows_overridden_numbers(design):
    e = explain("SKU-9", design.channels["amazon"], design, stock(DC1=100, DC2=50))
    assert e["buffer"] == 0
    assert e["max_qty"] == 10
    assert e["allocation_percent"] == 50
    assert e["floor"] == 3
    assert e["locations"][0] == {"location": "DC1", "safety_stock": 0, "ats": 100, "incoming": 0, "counted": 100}


@pytest.mark.parametrize("dc1, dc2, expected", [(100, 50, 148), (0, 0, 0), (2, 0, 0), (3, 7, 8)])
def test_design_example_b2b_sees_its_own_fence(design, dc1, dc2, expected):
    # b2b: no buffer, 100 %, no cap, no floor; its own fence is not subtracted and amazon has none
    e = explain("SKU-1", design.channels["b2b"], design, stock(DC1=dc1, DC2=dc2))
    assert e["ring_fences"] == {}
    assert e["pool"] == e["after_buffer"] == e["after_ring_fences"] == e["available"] == expected


def test_design_example_all_buckets(design):
    # ats = on_hand - quarantined - damaged - held - reserved - picked - safety_stock; incoming ignored
    dc1 = LocationStock(on_hand=100, quarantined=1, damaged=2, held=3, reserved=10, picked=5, incoming=100)
    dc2 = LocationStock(on_hand=40, incoming=7)
    e = explain("SKU-1", design.channels["amazon"], design, {"DC1": dc1, "DC2": dc2})
    assert e["locations"] == [
        {"location": "DC1", "safety_stock": 2, "ats": 77, "incoming": 100, "counted": 77},
        {"location": "DC2", "safety_stock": 0, "ats": 40, "incoming": 7, "counted": 40},
    ]
    assert steps(e) == (117, 112, 92, 46, 46, 46)


# --------------------------------------------------------------------------------------------
# explain()'s shape


@pytest.mark.parametrize("sku", ["SKU-1", "SKU-9"])
@pytest.mark.parametrize("name", ["amazon", "b2b"])
def test_explain_has_every_step_and_location_entry(design, sku, name):
    channel = design.channels[name]
    e = explain(sku, channel, design, stock(DC1=10))
    assert STEP_KEYS <= set(e)
    assert e["sku"] == sku and e["channel"] == name
    assert [loc["location"] for loc in e["locations"]] == ["DC1", "DC2"]
    for loc in e["locations"]:
        assert set(loc) == LOCATION_KEYS
    assert e["pool"] == sum(loc["counted"] for loc in e["locations"])
    assert e["available"] == available(sku, channel, design, stock(DC1=10))


def test_explain_steps_are_consistent(design):
    e = explain("SKU-1", design.channels["amazon"], design, stock(DC1=500, DC2=3))
    assert e["after_buffer"] == e["pool"] - e["buffer"]
    assert e["after_ring_fences"] == e["after_buffer"] - sum(e["ring_fences"].values())
    assert e["after_max_qty"] == min(e["allocated"], e["max_qty"])


# --------------------------------------------------------------------------------------------
# Step 1: the pool


def test_include_incoming_adds_incoming():
    channel, pol = one_channel(("DC1", "DC2"), include_incoming=True)
    st = {"DC1": LocationStock(on_hand=10, incoming=7), "DC2": LocationStock(incoming=5)}
    e = explain("S", channel, pol, st)
    assert e["locations"] == [
        {"location": "DC1", "safety_stock": 0, "ats": 10, "incoming": 7, "counted": 17},
        {"location": "DC2", "safety_stock": 0, "ats": 0, "incoming": 5, "counted": 5},
    ]
    assert e["pool"] == 22 and e["available"] == 22


def test_include_incoming_false_ignores_incoming():
    channel, pol = one_channel(("DC1",))
    e = explain("S", channel, pol, {"DC1": LocationStock(on_hand=10, incoming=7)})
    assert e["locations"][0]["counted"] == 10
    assert e["pool"] == 10 and e["available"] == 10


def test_include_incoming_per_sku_override():
    channel, pol = one_channel(("DC1",), overrides={"HOT": {"include_incoming": True}})
    st = {"DC1": LocationStock(on_hand=10, incoming=7)}
    assert available("HOT", channel, pol, st) == 17
    assert available("COLD", channel, pol, st) == 10


def test_incoming_is_added_after_safety_stock():
    # incoming does not count against the location's safety stock: ats is clamped at 0 first
    pol = policies({"web": {"locations": ["DC1"], "include_incoming": True}},
                   {"DC1": {"safety_stock": 10}})
    e = explain("S", pol.channels["web"], pol, {"DC1": LocationStock(on_hand=4, incoming=6)})
    assert e["locations"][0] == {"location": "DC1", "safety_stock": 10, "ats": 0, "incoming": 6, "counted": 6}
    assert e["available"] == 6


def test_locations_missing_from_stock_count_zero():
    pol = policies({"web": {"locations": ["DC1", "DC2", "DC3"], "include_incoming": True}},
                   {"DC3": {"safety_stock": 4}})
    e = explain("S", pol.channels["web"], pol, stock(DC1=9))
    assert e["locations"] == [
        {"location": "DC1", "safety_stock": 0, "ats": 9, "incoming": 0, "counted": 9},
        {"location": "DC2", "safety_stock": 0, "ats": 0, "incoming": 0, "counted": 0},
        {"location": "DC3", "safety_stock": 4, "ats": 0, "incoming": 0, "counted": 0},
    ]
    assert e["pool"] == 9 and e["available"] == 9


def test_empty_stock_gives_zero():
    channel, pol = one_channel(("DC1", "DC2"))
    assert available("S", channel, pol, {}) == 0


def test_location_outside_the_group_is_ignored():
    channel, pol = one_channel(("DC1",), include_incoming=True)
    st = {"DC1": LocationStock(on_hand=5), "DC9": LocationStock(on_hand=1000, incoming=1000)}
    e = explain("S", channel, pol, st)
    assert [loc["location"] for loc in e["locations"]] == ["DC1"]
    assert e["pool"] == 5 and e["available"] == 5


def test_location_safety_stock_per_sku():
    pol = policies({"web": {"locations": ["DC1", "DC2"]}},
                   {"DC1": {"safety_stock": 3, "overrides": {"BIG": 8, "FREE": 0}}, "DC2": {"safety_stock": 1}})
    st = stock(DC1=10, DC2=10)
    assert available("ANY", pol.channels["web"], pol, st) == 7 + 9
    assert available("BIG", pol.channels["web"], pol, st) == 2 + 9
    assert available("FREE", pol.channels["web"], pol, st) == 10 + 9


def test_negative_location_does_not_reduce_the_pool():
    channel, pol = one_channel(("DC1", "DC2"))
    e = explain("S", channel, pol, stock(DC1=-50, DC2=8))
    assert [loc["ats"] for loc in e["locations"]] == [0, 8]
    assert e["available"] == 8


def test_over_reserved_location_does_not_reduce_the_pool():
    channel, pol = one_channel(("DC1", "DC2"))
    st = {"DC1": LocationStock(on_hand=5, reserved=9), "DC2": LocationStock(on_hand=4)}
    assert available("S", channel, pol, st) == 4


def test_location_listed_twice_is_refused_naming_the_second():
    # One outcome only: `policies apply` refuses the file, naming the repeated entry (it would
    # count twice). A parser that silently dropped the repeat must fail here.
    doc = {"channels": {"web": {"locations": ["DC1", "DC1"]}}}
    with pytest.raises(PolicyError) as err:
        parse_policies(doc)
    assert err.value.path == "channels.web.locations[1]"


# --------------------------------------------------------------------------------------------
# Step 2: buffer, then ring fences


def test_buffer_is_subtracted():
    channel, pol = one_channel(buffer=4)
    assert steps(explain("S", channel, pol, stock(DC1=10))) == (10, 6, 6, 6, 6, 6)
    assert steps(explain("S", channel, pol, stock(DC1=3))) == (3, -1, -1, 0, 0, 0)


def test_ring_fences_only_of_other_channels_sharing_a_location():
    pol = policies({
        "web": {"locations": ["DC1"], "ring_fence": 7},            # its own fence
        "b2b": {"locations": ["DC1", "DC2"], "ring_fence": 20},    # shares DC1
        "shop": {"locations": ["DC2", "DC1"], "ring_fence": 3},    # shares DC1 too
        "store": {"locations": ["DC3"], "ring_fence": 50},         # disjoint
        "ebay": {"locations": ["DC1"]},                            # shares, no fence
    })
    web = pol.channels["web"]
    e = explain("S", web, pol, stock(DC1=100, DC2=1000, DC3=1000))
    assert e["ring_fences"] == {"b2b": 20, "shop": 3}
    assert steps(e) == (100, 100, 77, 77, 77, 77)
    assert ring_fences("S", web, pol.channels.values()) == {"b2b": 20, "shop": 3}
    assert ring_fences("S", pol.channels["b2b"], pol.channels.values()) == {"web": 7, "shop": 3}
    assert ring_fences("S", pol.channels["store"], pol.channels.values()) == {}
    assert ring_fences("S", pol.channels["ebay"], pol.channels.values()) == {"web": 7, "b2b": 20, "shop": 3}
    # store sees all of DC3: no other channel is there
    assert available("S", pol.channels["store"], pol, stock(DC1=100, DC2=1000, DC3=1000)) == 1000


def test_sharing_one_of_several_locations_is_enough():
    pol = policies({"web": {"locations": ["DC1", "DC2"]}, "b2b": {"locations": ["DC2", "DC3"], "ring_fence": 5}})
    assert ring_fences("S", pol.channels["web"], pol.channels.values()) == {"b2b": 5}
    assert available("S", pol.channels["web"], pol, stock(DC1=10)) == 5  # fence applies to the whole pool


def test_ring_fence_per_sku_override_of_the_other_channel():
    pol = policies({
        "web": {"locations": ["DC1"]},
        "b2b": {"locations": ["DC1"], "ring_fence": 20, "overrides": {"OPEN": {"ring_fence": 0},
                                                                      "TIGHT": {"ring_fence": 60}}},
    })
    web = pol.channels["web"]
    st = stock(DC1=100)
    assert explain("S", web, pol, st)["ring_fences"] == {"b2b": 20}
    assert explain("OPEN", web, pol, st)["ring_fences"] == {}
    assert explain("TIGHT", web, pol, st)["ring_fences"] == {"b2b": 60}
    assert [available(s, web, pol, st) for s in ("S", "OPEN", "TIGHT")] == [80, 100, 40]


def test_buffer_and_fences_both_apply_before_the_percentage():
    pol = policies({"web": {"locations": ["DC1"], "buffer": 10, "allocation_percent": 50},
                    "b2b": {"locations": ["DC1"], "ring_fence": 30}})
    assert steps(explain("S", pol.channels["web"], pol, stock(DC1=100))) == (100, 90, 60, 30, 30, 30)


# --------------------------------------------------------------------------------------------
# Step 3: allocation percent, floored exactly


@pytest.mark.parametrize("percent, pool, expected", [
    (33.3, 1000, 333),
    (32.3, 1000, 323),   # float arithmetic gives 322.99999999999994
    (64.1, 1000, 641),
    (64.6, 1000, 646),
    (65.1, 1000, 651),
    (33.3, 10, 3),       # 3.33 -> 3
    (50, 7, 3),          # 3.5 -> 3
    (99.9, 1000, 999),
    (0.1, 999, 0),       # 0.999 -> 0
    (0.1, 1000, 1),
    (100, 12345, 12345),
    (0, 12345, 0),
    (12.5, 8, 1),
    (37.5, 8, 3),
])
def test_allocation_percent_floors_exactly(percent, pool, expected):
    channel, pol = one_channel(allocation_percent=percent)
    e = explain("S", channel, pol, stock(DC1=pool))
    assert e["allocation_percent"] == percent
    assert e["allocated"] == expected
    assert e["available"] == expected


def test_allocation_percent_from_yaml_text():
    pol = parse_policies(yaml.safe_load("channels: {web: {locations: [DC1], allocation_percent: 32.3}}"))
    assert available("S", pol.channels["web"], pol, stock(DC1=1000)) == 323


# --------------------------------------------------------------------------------------------
# Step 4: cap and floor


@pytest.mark.parametrize("pool, expected", [(0, 0), (9, 9), (10, 10), (11, 10), (10_000, 10)])
def test_max_qty_caps(pool, expected):
    channel, pol = one_channel(max_qty=10)
    assert available("S", channel, pol, stock(DC1=pool)) == expected


def test_max_qty_zero_shows_nothing():
    channel, pol = one_channel(max_qty=0)
    assert available("S", channel, pol, stock(DC1=1000)) == 0


@pytest.mark.parametrize("pool, expected", [(0, 0), (1, 0), (4, 0), (5, 5), (6, 6), (100, 100)])
def test_floor_hides_values_below_it_but_not_equal(pool, expected):
    channel, pol = one_channel(floor=5)
    e = explain("S", channel, pol, stock(DC1=pool))
    assert e["after_max_qty"] == pool
    assert e["available"] == expected


def test_floor_zero_hides_nothing():
    channel, pol = one_channel(floor=0)
    assert available("S", channel, pol, stock(DC1=1)) == 1
    assert available("S", channel, pol, stock(DC1=0)) == 0


def test_floor_applies_after_the_cap():
    # cap 4 below floor 5: the capped value is hidden
    channel, pol = one_channel(max_qty=4, floor=5)
    e = explain("S", channel, pol, stock(DC1=100))
    assert (e["allocated"], e["after_max_qty"], e["available"]) == (100, 4, 0)
    channel, pol = one_channel(max_qty=5, floor=5)
    assert available("S", channel, pol, stock(DC1=100)) == 5


def test_floor_applies_after_the_percentage():
    channel, pol = one_channel(allocation_percent=50, floor=5)
    assert available("S", channel, pol, stock(DC1=9)) == 0    # 4.5 -> 4 < 5
    assert available("S", channel, pol, stock(DC1=10)) == 5


def test_no_cap_no_floor_shows_everything():
    channel, pol = one_channel()
    e = explain("S", channel, pol, stock(DC1=123_456))
    assert e["max_qty"] is None and e["floor"] is None
    assert e["available"] == 123_456


def test_channel_policy_built_directly():
    channel = ChannelPolicy("web", ("DC1",), ChannelRule(buffer=1, allocation_percent=50, max_qty=3))
    assert available("S", channel, Policies(channels={"web": channel}), stock(DC1=100)) == 3
    # the channel need not be registered in Policies for its own numbers to apply
    assert available("S", channel, Policies(), stock(DC1=5)) == 2  # (5 - 1) * 50 %


# --------------------------------------------------------------------------------------------
# Kits


@pytest.mark.parametrize("components, avail, expected", [
    ([("A", 2), ("B", 1)], {"A": 7, "B": 5}, 3),
    ([("A", 2), ("B", 1)], {"A": 7, "B": 2}, 2),
    ([("A", 1)], {"A": 9}, 9),
    ([("A", 3)], {"A": 2}, 0),
    ([("A", 3)], {"A": 3}, 1),
    ([("A", 2), ("B", 3), ("C", 1)], {"A": 100, "B": 31, "C": 50}, 10),
    ([("A", 2), ("B", 1)], {"A": 7}, 0),                  # B missing
    ([("A", 2), ("B", 1)], {}, 0),
    ([("A", 2), ("B", 1)], {"A": -4, "B": 5}, 0),         # negative treated as 0
    ([("A", 1)], {"A": -1}, 0),
    ([], {"A": 10}, 0),                                   # no components
])
def test_kit_available(components, avail, expected):
    assert kit_available(components, avail) == expected


def test_kit_available_accepts_any_iterable():
    assert kit_available(iter([("A", 2), ("B", 1)]), {"A": 10, "B": 4}) == 4
    assert kit_available((c for c in [("A", 5)]), {"A": 10}) == 2


def test_kit_available_ignores_extra_skus():
    assert kit_available([("A", 1)], {"A": 4, "Z": 0}) == 4


LOCATIONS = ("DC1", "DC2", "DC3")
rules = st.fixed_dictionaries({
    "buffer": st.integers(0, 20), "ring_fence": st.integers(0, 20),
    "allocation_percent": st.sampled_from([0, 10, 33.3, 50, 62.5, 99.9, 100]) | st.integers(0, 100),
    "max_qty": st.none() | st.integers(0, 500), "floor": st.none() | st.integers(0, 50),
    "include_incoming": st.booleans(),
})
channel_specs = st.dictionaries(
    st.sampled_from(["web", "amazon", "b2b"]),
    st.tuples(st.lists(st.sampled_from(LOCATIONS), min_size=1, max_size=3, unique=True), rules,
              st.none() | rules),
    min_size=1)
stocks = st.dictionaries(st.sampled_from(LOCATIONS), st.builds(
    LocationStock, on_hand=st.integers(-20, 400), quarantined=st.integers(0, 30), damaged=st.integers(0, 30),
    held=st.integers(0, 30), reserved=st.integers(0, 300), picked=st.integers(0, 30), incoming=st.integers(-5, 60)))


@settings(max_examples=300, deadline=None)
@given(specs=channel_specs, stock_now=stocks, safety=st.dictionaries(st.sampled_from(LOCATIONS), st.integers(0, 20)),
       sku=st.sampled_from(["SKU-1", "SKU-OVR"]))
def test_available_is_the_last_step_of_explain(specs, stock_now, safety, sku):
    """The channel stage's fast formula and the explain API's step-by-step one never differ."""
    document = {
        "channels": {name: {"locations": locs, **rule, **({"overrides": {"SKU-OVR": override}} if override else {})}
                     for name, (locs, rule, override) in specs.items()},
        "locations": {name: {"safety_stock": value} for name, value in safety.items()},
    }
    pol = parse_policies(document)
    for channel in pol.channels.values():
        assert available(sku, channel, pol, stock_now) == explain(sku, channel, pol, stock_now)["available"]
