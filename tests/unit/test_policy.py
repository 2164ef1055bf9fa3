"""Unit tests of tables/policy.py: parsing and checking the channel/location YAML (DESIGN §4)."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.design_example import DESIGN_YAML
from tables.policy import (
    DEFAULT_INTERVAL,
    ChannelPolicy,
    ChannelRule,
    LocationPolicy,
    Policies,
    PolicyError,
    parse_policies,
)



def design() -> dict:
    return yaml.safe_load(DESIGN_YAML)


def path_of(document) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policies(document)
    return info.value.path


def channel_doc(**spec) -> dict:
    """A one-channel document whose channel `web` has the given fields (locations defaulted)."""
    spec.setdefault("locations", ["DC1"])
    return {"channels": {"web": spec}}


# --------------------------------------------------------------------------------------------
# The DESIGN example


def test_design_example_parses_into_expected_values():
    policies = parse_policies(design())
    assert isinstance(policies, Policies)
    assert set(policies.channels) == {"amazon", "b2b"}
    assert set(policies.locations) == {"DC1"}

    amazon = policies.channels["amazon"]
    assert amazon == ChannelPolicy(
        name="amazon",
        locations=("DC1", "DC2"),
        rule=ChannelRule(buffer=5, allocation_percent=50, max_qty=200, floor=3,
                         include_incoming=False, ring_fence=0),
        overrides={"SKU-9": ChannelRule(buffer=0, allocation_percent=50, max_qty=10, floor=3,
                                        include_incoming=False, ring_fence=0)},
        publish_interval=2.0,
    )
    b2b = policies.channels["b2b"]
    assert b2b == ChannelPolicy(name="b2b", locations=("DC1", "DC2"),
                                rule=ChannelRule(ring_fence=20), overrides={}, publish_interval=2.0)
    assert policies.locations["DC1"] == LocationPolicy("DC1", safety_stock=2, overrides={"SKU-9": 0})


def test_design_example_lookups():
    policies = parse_policies(design())
    amazon = policies.channels["amazon"]
    assert amazon.for_sku("SKU-9") == ChannelRule(buffer=0, allocation_percent=50, max_qty=10, floor=3)
    assert amazon.for_sku("SKU-1") is amazon.rule
    assert policies.safety_stock("DC1", "SKU-1") == 2
    assert policies.safety_stock("DC1", "SKU-9") == 0  # override of 0, not the default 2
    assert policies.safety_stock("DC2", "SKU-1") == 0  # no policy for DC2
    assert policies.safety_stock("NOWHERE", "SKU-9") == 0


def test_locations_is_a_tuple_in_the_written_order():
    policies = parse_policies(channel_doc(locations=["DC3", "DC1", "DC2"]))
    assert policies.channels["web"].locations == ("DC3", "DC1", "DC2")


# --------------------------------------------------------------------------------------------
# Defaults


def test_channel_defaults():
    web = parse_policies(channel_doc()).channels["web"]
    assert web.name == "web"
    assert web.rule == ChannelRule()
    assert web.rule.buffer == 0
    assert web.rule.allocation_percent == 100
    assert web.rule.max_qty is None
    assert web.rule.floor is None
    assert web.rule.include_incoming is False
    assert web.rule.ring_fence == 0
    assert web.overrides == {}
    assert web.publish_interval == DEFAULT_INTERVAL == 2.0
    assert isinstance(web.publish_interval, float)
    assert web.for_sku("ANY") == ChannelRule()


def test_location_defaults():
    policies = parse_policies({"locations": {"DC1": {}}})
    assert policies.locations["DC1"] == LocationPolicy("DC1", safety_stock=0, overrides={})
    assert policies.safety_stock("DC1", "SKU-1") == 0
    assert policies.reconciliation("DC1") == "alert"


@pytest.mark.parametrize("mode", ["alert", "auto_correct"])
def test_a_location_chooses_what_drift_does(mode):
    assert parse_policies({"locations": {"DC1": {"reconciliation": mode}}}).reconciliation("DC1") == mode


@pytest.mark.parametrize("mode", ["correct", "", None, True])
def test_an_unknown_reconciliation_mode_is_named(mode):
    with pytest.raises(PolicyError, match=r"locations\.DC1\.reconciliation: must be one of alert, auto_correct"):
        parse_policies({"locations": {"DC1": {"reconciliation": mode}}})


def test_dataclass_defaults_match_parser_defaults():
    assert ChannelRule() == ChannelRule(0, 100, None, None, False, 0)
    assert LocationPolicy("X").safety_stock == 0
    assert LocationPolicy("X").overrides == {}


@pytest.mark.parametrize("document", [None, {}, {"channels": None, "locations": None},
                                      {"channels": {}, "locations": {}}])
def test_empty_documents_give_empty_policies(document):
    policies = parse_policies(document)
    assert policies == Policies()
    assert dict(policies.channels) == {}
    assert dict(policies.locations) == {}
    assert policies.safety_stock("DC1", "SKU-1") == 0


def test_empty_yaml_string_gives_empty_policies():
    assert yaml.safe_load("") is None
    assert parse_policies(yaml.safe_load("")) == Policies()


def test_explicit_null_max_qty_and_floor_mean_none():
    web = parse_policies(channel_doc(max_qty=None, floor=None)).channels["web"]
    assert web.rule.max_qty is None and web.rule.floor is None


def test_publish_interval_values():
    assert parse_policies(channel_doc(publish_interval=5)).channels["web"].publish_interval == 5.0
    assert parse_policies(channel_doc(publish_interval=0.25)).channels["web"].publish_interval == 0.25
    assert parse_policies(channel_doc(publish_interval=3600)).channels["web"].publish_interval == 3600.0


@pytest.mark.parametrize("percent", [0, 0.5, 33.3, 100, 100.0])
def test_allocation_percent_bounds_accepted(percent):
    assert parse_policies(channel_doc(allocation_percent=percent)).channels["web"].rule.allocation_percent == percent


def test_include_incoming_true():
    assert parse_policies(channel_doc(include_incoming=True)).channels["web"].rule.include_incoming is True


def test_zero_counts_accepted():
    rule = parse_policies(channel_doc(buffer=0, ring_fence=0, max_qty=0, floor=0)).channels["web"].rule
    assert rule == ChannelRule(buffer=0, max_qty=0, floor=0, ring_fence=0)


# --------------------------------------------------------------------------------------------
# Overrides


def test_override_setting_only_buffer_keeps_the_channels_other_numbers():
    doc = channel_doc(buffer=5, allocation_percent=40, max_qty=100, floor=2, include_incoming=True,
                      ring_fence=7, overrides={"SKU-1": {"buffer": 1}})
    web = parse_policies(doc).channels["web"]
    assert web.for_sku("SKU-1") == ChannelRule(buffer=1, allocation_percent=40, max_qty=100, floor=2,
                                               include_incoming=True, ring_fence=7)
    assert web.for_sku("SKU-2") == ChannelRule(buffer=5, allocation_percent=40, max_qty=100, floor=2,
                                               include_incoming=True, ring_fence=7)


def test_override_merges_over_channel_numbers_whatever_the_yaml_order():
    # overrides written BEFORE the channel's own numbers still merge over them
    doc = yaml.safe_load("""
channels:
  web:
    overrides: {SKU-1: {allocation_percent: 10}}
    locations: [DC1]
    buffer: 4
    allocation_percent: 60
""")
    web = parse_policies(doc).channels["web"]
    assert web.for_sku("SKU-1") == ChannelRule(buffer=4, allocation_percent=10)
    assert web.rule == ChannelRule(buffer=4, allocation_percent=60)


def test_override_can_set_every_rule_field():
    over = {"buffer": 9, "allocation_percent": 25.5, "max_qty": 3, "floor": 1,
            "include_incoming": True, "ring_fence": 4}
    web = parse_policies(channel_doc(overrides={"SKU-1": over})).channels["web"]
    assert web.for_sku("SKU-1") == ChannelRule(**over)


def test_override_can_remove_the_cap_and_floor_with_null():
    doc = channel_doc(max_qty=50, floor=5, overrides={"SKU-1": {"max_qty": None, "floor": None}})
    web = parse_policies(doc).channels["web"]
    assert web.for_sku("SKU-1") == ChannelRule()
    assert web.rule == ChannelRule(max_qty=50, floor=5)


def test_empty_override_equals_channel_rule():
    web = parse_policies(channel_doc(buffer=3, overrides={"SKU-1": {}})).channels["web"]
    assert web.for_sku("SKU-1") == web.rule == ChannelRule(buffer=3)


def test_null_overrides_means_none():
    web = parse_policies(channel_doc(overrides=None)).channels["web"]
    assert web.overrides == {}


def test_location_safety_stock_for_with_and_without_override():
    policy = parse_policies({"locations": {"DC1": {"safety_stock": 4, "overrides": {"SKU-9": 0, "SKU-8": 11}}}})
    dc1 = policy.locations["DC1"]
    assert dc1.safety_stock_for("SKU-1") == 4
    assert dc1.safety_stock_for("SKU-9") == 0
    assert dc1.safety_stock_for("SKU-8") == 11
    assert policy.safety_stock("DC1", "SKU-8") == 11
    assert policy.safety_stock("DC2", "SKU-8") == 0


def test_location_override_without_default_safety_stock():
    dc1 = parse_policies({"locations": {"DC1": {"overrides": {"SKU-9": 3}}}}).locations["DC1"]
    assert dc1.safety_stock == 0
    assert dc1.safety_stock_for("SKU-9") == 3
    assert dc1.safety_stock_for("SKU-1") == 0


# --------------------------------------------------------------------------------------------
# Errors: every wrong field names its path exactly


def test_error_is_a_value_error_with_path_in_message():
    doc = design()
    doc["channels"]["amazon"]["allocation_percent"] = 150
    with pytest.raises(PolicyError) as info:
        parse_policies(doc)
    assert isinstance(info.value, ValueError)
    assert info.value.path == "channels.amazon.allocation_percent"
    assert str(info.value) == "channels.amazon.allocation_percent: must be a number from 0 to 100, got 150"


def test_unknown_top_level_key():
    doc = design()
    doc["chanels"] = {}
    assert path_of(doc) == "(document).chanels"


@pytest.mark.parametrize("document", [[], "channels", 3, True])
def test_document_not_a_mapping(document):
    assert path_of(document) == "(document)"


def test_unknown_channel_field_typo():
    doc = design()
    doc["channels"]["amazon"]["alocation_percent"] = doc["channels"]["amazon"].pop("allocation_percent")
    with pytest.raises(PolicyError) as info:
        parse_policies(doc)
    assert info.value.path == "channels.amazon.alocation_percent"
    assert "allocation_percent" in str(info.value)  # the message lists what is expected


def test_unknown_override_field():
    doc = design()
    doc["channels"]["amazon"]["overrides"]["SKU-9"]["bufer"] = 1
    assert path_of(doc) == "channels.amazon.overrides.SKU-9.bufer"


@pytest.mark.parametrize("field", ["locations", "publish_interval", "overrides"])
def test_channel_only_fields_are_unknown_in_an_override(field):
    doc = channel_doc(overrides={"SKU-1": {field: 1}})
    assert path_of(doc) == f"channels.web.overrides.SKU-1.{field}"


def test_unknown_location_field():
    assert path_of({"locations": {"DC1": {"safety": 2}}}) == "locations.DC1.safety"


def test_missing_locations():
    doc = design()
    del doc["channels"]["b2b"]["locations"]
    assert path_of(doc) == "channels.b2b.locations"


@pytest.mark.parametrize("locations", [[], None, "DC1", {"DC1": 1}, 3])
def test_locations_must_be_a_non_empty_list(locations):
    assert path_of({"channels": {"web": {"locations": locations}}}) == "channels.web.locations"


@pytest.mark.parametrize("bad", ["DC@1", "DC:1", "SKU@DC1", "", 5, None, True])
def test_location_name_in_a_channel_must_be_a_plain_name(bad):
    doc = {"channels": {"web": {"locations": ["DC1", bad]}}}
    assert path_of(doc) == "channels.web.locations[1]"


@pytest.mark.parametrize("bad", ["DC@1", "DC:1"])
def test_location_policy_name_must_be_a_plain_name(bad):
    assert path_of({"locations": {bad: {"safety_stock": 1}}}) == f"locations.{bad}"


@pytest.mark.parametrize("bad", ["web@x", "web:x"])
def test_channel_name_must_be_a_plain_name(bad):
    assert path_of({"channels": {bad: {"locations": ["DC1"]}}}) == f"channels.{bad}"


@pytest.mark.parametrize("key", [1, None])
def test_non_string_channel_name(key):
    assert path_of({"channels": {key: {"locations": ["DC1"]}}}) == "channels"


BAD_COUNTS = [-1, 1.5, 2.0, True, False, "3", [], {}]


@pytest.mark.parametrize("field", ["buffer", "ring_fence", "max_qty", "floor"])
@pytest.mark.parametrize("bad", BAD_COUNTS, ids=repr)
def test_channel_counts(field, bad):
    assert path_of(channel_doc(**{field: bad})) == f"channels.web.{field}"


@pytest.mark.parametrize("field", ["buffer", "ring_fence", "max_qty", "floor"])
@pytest.mark.parametrize("bad", BAD_COUNTS, ids=repr)
def test_override_counts(field, bad):
    doc = channel_doc(overrides={"SKU-1": {field: bad}})
    assert path_of(doc) == f"channels.web.overrides.SKU-1.{field}"


@pytest.mark.parametrize("bad", BAD_COUNTS + [None], ids=repr)
def test_location_safety_stock(bad):
    assert path_of({"locations": {"DC1": {"safety_stock": bad}}}) == "locations.DC1.safety_stock"


@pytest.mark.parametrize("bad", BAD_COUNTS + [None], ids=repr)
def test_location_override(bad):
    doc = {"locations": {"DC1": {"safety_stock": 1, "overrides": {"SKU-9": bad}}}}
    assert path_of(doc) == "locations.DC1.overrides.SKU-9"


@pytest.mark.parametrize("bad", [-0.01, -1, 100.01, 101, 150, "50", "50%", None, True, False,
                                 float("nan"), float("inf")], ids=repr)
def test_allocation_percent(bad):
    assert path_of(channel_doc(allocation_percent=bad)) == "channels.web.allocation_percent"


@pytest.mark.parametrize("bad", [-1, 101, "10"], ids=repr)
def test_override_allocation_percent(bad):
    doc = channel_doc(overrides={"SKU-1": {"allocation_percent": bad}})
    assert path_of(doc) == "channels.web.overrides.SKU-1.allocation_percent"


@pytest.mark.parametrize("bad", ["false", "yes", 0, 1, None, "true"], ids=repr)
def test_include_incoming_must_be_a_bool(bad):
    assert path_of(channel_doc(include_incoming=bad)) == "channels.web.include_incoming"


def test_override_include_incoming_must_be_a_bool():
    doc = channel_doc(overrides={"SKU-1": {"include_incoming": 1}})
    assert path_of(doc) == "channels.web.overrides.SKU-1.include_incoming"


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, 3600.001, 3601, "2", "2s", None, True,
                                 float("nan"), float("inf")], ids=repr)
def test_publish_interval(bad):
    assert path_of(channel_doc(publish_interval=bad)) == "channels.web.publish_interval"


@pytest.mark.parametrize("spec", [None, [], "DC1", 3, ["DC1", "DC2"]], ids=repr)
def test_channel_spec_not_a_mapping(spec):
    assert path_of({"channels": {"web": spec}}) == "channels.web"


@pytest.mark.parametrize("spec", ["x", 3, ["web"]], ids=repr)
def test_channels_not_a_mapping(spec):
    assert path_of({"channels": spec}) == "channels"


@pytest.mark.parametrize("spec", ["x", 3, ["DC1"]], ids=repr)
def test_locations_section_not_a_mapping(spec):
    assert path_of({"locations": spec}) == "locations"


@pytest.mark.parametrize("spec", [None, [], 2, "x"], ids=repr)
def test_location_spec_not_a_mapping(spec):
    assert path_of({"locations": {"DC1": spec}}) == "locations.DC1"


@pytest.mark.parametrize("over", [None, 3, [], "buffer: 0"], ids=repr)
def test_override_spec_not_a_mapping(over):
    doc = channel_doc(overrides={"SKU-1": over})
    assert path_of(doc) == "channels.web.overrides.SKU-1"


@pytest.mark.parametrize("overrides", ["x", 3, ["SKU-1"]], ids=repr)
def test_overrides_section_not_a_mapping(overrides):
    assert path_of(channel_doc(overrides=overrides)) == "channels.web.overrides"


@pytest.mark.parametrize("overrides", ["x", 3, ["SKU-1"]], ids=repr)
def test_location_overrides_section_not_a_mapping(overrides):
    assert path_of({"locations": {"DC1": {"overrides": overrides}}}) == "locations.DC1.overrides"


# A falsy non-mapping (`channels: []`, `overrides: ""`, 0, false) is reported like
# `channels: [web]` is; only None (an empty YAML value) means "nothing".
@pytest.mark.parametrize("value", [[], "", 0, False], ids=repr)
def test_falsy_channels_section_is_rejected(value):
    assert path_of({"channels": value}) == "channels"


@pytest.mark.parametrize("value", [[], "", 0, False], ids=repr)
def test_falsy_locations_section_is_rejected(value):
    assert path_of({"locations": value}) == "locations"


@pytest.mark.parametrize("value", [[], "", 0, False], ids=repr)
def test_falsy_channel_overrides_is_rejected(value):
    assert path_of(channel_doc(overrides=value)) == "channels.web.overrides"


@pytest.mark.parametrize("value", [[], "", 0, False], ids=repr)
def test_falsy_location_overrides_is_rejected(value):
    assert path_of({"locations": {"DC1": {"overrides": value}}}) == "locations.DC1.overrides"


def test_error_in_design_yaml_text_names_the_path():
    text = DESIGN_YAML.replace("floor: 3", "floor: -3")
    assert path_of(yaml.safe_load(text)) == "channels.amazon.floor"
    text = DESIGN_YAML.replace("{SKU-9: 0}", "{SKU-9: -1}")
    assert path_of(yaml.safe_load(text)) == "locations.DC1.overrides.SKU-9"
    text = DESIGN_YAML.replace("ring_fence: 20", "ring_fence: 2.5")
    assert path_of(yaml.safe_load(text)) == "channels.b2b.ring_fence"


def test_parse_does_not_mutate_the_document():
    doc = design()
    before = copy.deepcopy(doc)
    parse_policies(doc)
    assert doc == before
