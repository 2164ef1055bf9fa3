"""Property tests of the channel formula (DESIGN §4) over random policies and random stock.

Policies are generated as the YAML documents people write (1-4 channels over 1-3 locations,
random rules, per-SKU overrides and location safety stocks) and go through parse_policies, so
overrides merge over channel numbers exactly as in production. Stock is one LocationStock per
location (some locations missing), buckets 0..500 and on_hand possibly negative.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import permutations

from hypothesis import given, settings, strategies as st

from tables.channels import LocationStock, available, explain, kit_available
from tables.policy import Policies, parse_policies

LOCATIONS = ["DC1", "DC2", "DC3"]
CHANNELS = ["amazon", "b2b", "web", "ebay"]
SKUS = ["SKU-1", "SKU-2", "SKU-3"]

PROPS = settings(max_examples=300, deadline=None)

count = st.integers(0, 60)
# One draw: whole percents as int (0..100), the rest with one decimal (0.1 .. 99.9, incl. 32.3).
percent = st.integers(0, 1000).map(lambda n: n // 10 if n % 10 == 0 else n / 10)
# A field left out of a rule (max_qty/floor None, ring_fence 0, ...) is the rule_spec mask's job.
RULE_FIELDS = {
    "buffer": count,
    "allocation_percent": percent,
    "max_qty": st.integers(0, 300),
    "floor": st.integers(0, 40),
    "include_incoming": st.booleans(),
    "ring_fence": count,
}


def ordered_subsets(names: list[str], min_size: int) -> list[tuple[str, ...]]:
    return [p for k in range(min_size, len(names) + 1) for p in permutations(names, k)]


# Generation speed is in the number of draws (and of strategies built during a draw), so every
# strategy is built once here and a subset of names is ONE draw among all ordered subsets.
FIELD_NAMES = list(RULE_FIELDS)
FIELD_MASK = st.integers(0, 2 ** len(FIELD_NAMES) - 1)
N_LOCATIONS = st.integers(1, 3)
LOCATION_GROUP = {n: st.sampled_from(ordered_subsets(LOCATIONS[:n], 1)) for n in (1, 2, 3)}
LOCATION_SET = {n: st.sampled_from(ordered_subsets(LOCATIONS[:n], 0)) for n in (1, 2, 3)}
CHANNEL_SET = st.sampled_from([c for c in ordered_subsets(CHANNELS, 1)
                               if list(c) == sorted(c, key=CHANNELS.index)])
SKU_SET = st.sampled_from(ordered_subsets(SKUS[:2], 0))
SAFETY = st.integers(0, 30)
MAYBE = st.booleans()


def rule_spec(draw) -> dict:
    """Some of the rule fields (each present or not), as written in YAML."""
    mask = draw(FIELD_MASK)
    return {name: draw(RULE_FIELDS[name]) for i, name in enumerate(FIELD_NAMES) if mask >> i & 1}


@st.composite
def documents(draw) -> dict:
    n = draw(N_LOCATIONS)
    channels = {}
    for name in draw(CHANNEL_SET):
        spec = rule_spec(draw)
        spec["locations"] = list(draw(LOCATION_GROUP[n]))
        overrides = {sku: rule_spec(draw) for sku in draw(SKU_SET)}
        if overrides:
            spec["overrides"] = overrides
        channels[name] = spec
    location_specs = {}
    for name in draw(LOCATION_SET[n]):
        spec = {}
        if draw(MAYBE):
            spec["safety_stock"] = draw(SAFETY)
        overrides = {sku: draw(SAFETY) for sku in draw(SKU_SET)}
        if overrides:
            spec["overrides"] = overrides
        location_specs[name] = spec
    return {"channels": channels, "locations": location_specs}


BUCKETS = ("quarantined", "damaged", "held", "reserved", "picked", "incoming")
BUCKET_MASK = st.integers(0, 2 ** len(BUCKETS) - 1)
BUCKET = st.integers(0, 500)
ON_HAND = st.integers(-500, 500)


@st.composite
def location_stock(draw) -> LocationStock:
    """on_hand -500..500; each other bucket 0 or 0..500 (mostly 0 keeps ats > 0 common)."""
    mask = draw(BUCKET_MASK)
    buckets = {name: draw(BUCKET) for i, name in enumerate(BUCKETS) if mask >> i & 1}
    return LocationStock(on_hand=draw(ON_HAND), **buckets)


LOCATION_STOCK = location_stock()
ALL_LOCATION_SET = LOCATION_SET[3]


@st.composite
def stocks(draw) -> dict[str, LocationStock]:
    return {name: draw(LOCATION_STOCK) for name in draw(ALL_LOCATION_SET)}


DOCUMENTS = documents()
STOCKS = stocks()
SKU = st.sampled_from(SKUS)


@st.composite
def scenarios(draw) -> tuple[str, Policies, dict[str, LocationStock]]:
    return draw(SKU), parse_policies(draw(DOCUMENTS)), draw(STOCKS)


# ---- an independent reading of DESIGN §4, used as the oracle --------------------------------

def ref_ats(here: LocationStock, safety: int) -> int:
    return max(0, here.on_hand - here.quarantined - here.damaged - here.held - here.reserved
               - here.picked - safety)


def ref_pool(sku: str, name: str, policies: Policies, stock) -> int:
    channel = policies.channels[name]
    rule = channel.for_sku(sku)
    total = 0
    for location in channel.locations:
        here = stock.get(location, LocationStock())
        total += ref_ats(here, policies.safety_stock(location, sku))
        if rule.include_incoming:
            total += here.incoming
    return total


def ref_fences(sku: str, name: str, policies: Policies) -> int:
    mine = set(policies.channels[name].locations)
    return sum(other.for_sku(sku).ring_fence for other in policies.channels.values()
               if other.name != name and mine & set(other.locations))


def shares(policies: Policies, a: str, b: str) -> bool:
    return bool(set(policies.channels[a].locations) & set(policies.channels[b].locations))


def all_available(sku: str, policies: Policies, stock) -> dict[str, int]:
    return {name: available(sku, channel, policies, stock) for name, channel in policies.channels.items()}


# ---- (a) .. (f) ------------------------------------------------------------------------------

@PROPS
@given(scenarios())
def test_a_available_is_never_negative(scenario):
    sku, policies, stock = scenario
    for name, value in all_available(sku, policies, stock).items():
        assert isinstance(value, int), name
        assert value >= 0, name


@PROPS
@given(scenarios())
def test_b_available_never_exceeds_pool_nor_pool_after_buffer_and_fences(scenario):
    sku, policies, stock = scenario
    for name, channel in policies.channels.items():
        e = explain(sku, channel, policies, stock)
        pool = ref_pool(sku, name, policies, stock)
        assert e["pool"] == sum(loc["counted"] for loc in e["locations"]) == pool
        assert e["available"] <= pool
        rule = channel.for_sku(sku)
        assert e["available"] <= max(pool - rule.buffer - ref_fences(sku, name, policies), 0)


@PROPS
@given(scenarios(), st.sampled_from(LOCATIONS), st.integers(1, 300))
def test_c_adding_on_hand_never_lowers_any_channel(scenario, location, extra):
    sku, policies, stock = scenario
    before = all_available(sku, policies, stock)
    more = dict(stock)
    here = more.get(location, LocationStock())
    more[location] = replace(here, on_hand=here.on_hand + extra)
    after = all_available(sku, policies, more)
    for name in policies.channels:
        assert after[name] >= before[name], (name, before[name], after[name])


@PROPS
@given(scenarios())
def test_d_caps_hold(scenario):
    sku, policies, stock = scenario
    for name, channel in policies.channels.items():
        cap = channel.for_sku(sku).max_qty
        if cap is not None:
            assert available(sku, channel, policies, stock) <= cap, name


@PROPS
@given(scenarios())
def test_e_floors_hold(scenario):
    sku, policies, stock = scenario
    for name, channel in policies.channels.items():
        floor = channel.for_sku(sku).floor
        if floor is not None:
            value = available(sku, channel, policies, stock)
            assert value == 0 or value >= floor, (name, value, floor)


@PROPS
@given(scenarios())
def test_f_ring_fences_hold(scenario):
    sku, policies, stock = scenario
    values = all_available(sku, policies, stock)
    for fenced, c in policies.channels.items():
        fence = c.for_sku(sku).ring_fence
        if fence <= 0:
            continue
        for other in policies.channels:
            if other != fenced and shares(policies, fenced, other):
                pool = ref_pool(sku, other, policies, stock)
                assert values[other] <= max(pool - fence, 0), (fenced, fence, other, values[other], pool)


@PROPS
@given(scenarios())
def test_f2_fenced_units_stay_hidden_from_all_sharing_channels_together(scenario):
    # Every channel D sees at most its pool minus the SUM of the fences of the other channels
    # sharing a location with it (step 2), so all of them together are held back.
    sku, policies, stock = scenario
    values = all_available(sku, policies, stock)
    for name in policies.channels:
        pool = ref_pool(sku, name, policies, stock)
        assert values[name] <= max(pool - ref_fences(sku, name, policies), 0)


# ---- the whole formula against the oracle ----------------------------------------------------

@PROPS
@given(scenarios())
def test_formula_matches_an_independent_reading_of_design(scenario):
    from fractions import Fraction
    from decimal import Decimal

    sku, policies, stock = scenario
    for name, channel in policies.channels.items():
        rule = channel.for_sku(sku)
        pool = ref_pool(sku, name, policies, stock)
        pool -= rule.buffer
        pool -= ref_fences(sku, name, policies)
        value = int(Fraction(max(pool, 0)) * Fraction(Decimal(str(rule.allocation_percent))) // 100)
        if rule.max_qty is not None:
            value = min(value, rule.max_qty)
        if rule.floor is not None and value < rule.floor:
            value = 0
        assert available(sku, channel, policies, stock) == value, name


@PROPS
@given(scenarios())
def test_a_sku_without_overrides_uses_the_channel_numbers(scenario):
    _, policies, stock = scenario
    for name, channel in policies.channels.items():
        assert channel.for_sku("NO-OVERRIDE") == channel.rule, name


# ---- (g) kits --------------------------------------------------------------------------------

components = st.lists(st.tuples(st.sampled_from(SKUS + ["SKU-4"]), st.integers(1, 6)), max_size=4)
channel_availability = st.dictionaries(st.sampled_from(SKUS + ["SKU-4"]), st.integers(0, 500))


@PROPS
@given(components, channel_availability)
def test_g_kits_never_use_more_than_a_component_has(parts, avail):
    kits = kit_available(parts, avail)
    assert kits >= 0
    for sku, qty in parts:
        assert kits * qty <= avail.get(sku, 0), (sku, qty, kits)


@PROPS
@given(components, channel_availability)
def test_g_kits_are_the_most_the_components_make(parts, avail):
    kits = kit_available(parts, avail)
    if parts:
        # one more kit would need more of at least one component
        assert any((kits + 1) * qty > avail.get(sku, 0) for sku, qty in parts)
    else:
        assert kits == 0


@PROPS
@given(components, st.dictionaries(st.sampled_from(SKUS + ["SKU-4"]), st.integers(-500, 500)))
def test_g_kits_treat_negative_availability_as_zero(parts, avail):
    kits = kit_available(parts, avail)
    assert kits >= 0
    for sku, qty in parts:
        assert kits * qty <= max(avail.get(sku, 0), 0)
    assert kits == kit_available(parts, {sku: max(v, 0) for sku, v in avail.items()})


@PROPS
@given(scenarios(), components)
def test_g_kits_over_real_channel_availabilities(scenario, parts):
    # component availabilities as the channel stage would compute them, one channel at a time
    _, policies, stock = scenario
    for name, channel in policies.channels.items():
        avail = {sku: available(sku, channel, policies, stock) for sku in SKUS}
        kits = kit_available(parts, avail)
        for sku, qty in parts:
            assert kits * qty <= avail.get(sku, 0), (name, sku)
