"""agents/sinks/config.py: sinks.yaml as the issue shows it parses; every wrong field is named
by its path and nothing runs; budgets follow the kind and the plan unless overridden."""

from __future__ import annotations

import pytest
import yaml

from agents.sinks.config import SinkConfigError, parse_sinks

EXAMPLE = """
sinks:
  erp-hook:
    kind: webhook
    channel: web
    url: https://example.test/stock
    secret_env: ERP_HOOK_SECRET
    batch_size: 100
  shop:
    kind: shopify
    channel: web
    shop_url: https://example.myshopify.com
    api_version: "2026-01"
    token_env: SHOPIFY_TOKEN
    plan: standard
    items: {SKU-1: "gid://shopify/InventoryItem/1"}
    location: "gid://shopify/Location/1"
  amz:
    kind: amazon
    channel: amazon
    endpoint: https://sellingpartnerapi-na.amazon.com
    seller_id: A1SELLER
    marketplace_id: ATVPDKIKX0DER
    client_id_env: LWA_CLIENT_ID
    client_secret_env: LWA_CLIENT_SECRET
    refresh_token_env: LWA_REFRESH_TOKEN
  retailer:
    kind: edi846
    channel: edi
    directory: out/846
    sender_id: STOCKSTREAM
    receiver_id: RETAILER1
    items_file: items.csv
"""


def parse(text: str, base=None):
    return parse_sinks(yaml.safe_load(text), base) if base else parse_sinks(yaml.safe_load(text))


def test_the_issue_s_example_parses_with_each_kind_s_budget(tmp_path):
    (tmp_path / "items.csv").write_text("sku,item_id\nSKU-1,0001234\nSKU-2,0005678\n")
    sinks = parse(EXAMPLE, tmp_path)
    assert sinks["erp-hook"].batch_size == 100 and sinks["erp-hook"].options["secret_env"] == "ERP_HOOK_SECRET"
    assert (sinks["shop"].rate, sinks["shop"].burst, sinks["shop"].batch_size) == (100, 1000, 250)
    assert (sinks["amz"].rate, sinks["amz"].burst) == (5, 5)
    assert sinks["retailer"].options["items"] == {"SKU-1": "0001234", "SKU-2": "0005678"}
    assert sinks["shop"].group_id == "stockstream-sink-shop" and sinks["shop"].dlq_topic == "sinks.shop.dlq"


def test_a_plan_sets_the_bucket_and_an_override_wins():
    text = EXAMPLE.replace("plan: standard", "plan: plus\n    rate_per_second: 50")
    shop = parse(text.split("  amz:")[0])["shop"]
    assert (shop.rate, shop.burst) == (50, 10000)


@pytest.mark.parametrize("change, path", [
    (("plan: standard", "plan: gold"), "sinks.shop.plan"),
    (("api_version: \"2026-01\"", "api_version: \"2026-02\""), "sinks.shop.api_version"),
    (("secret_env: ERP_HOOK_SECRET", "secret_env: s3cr3t-value"), "sinks.erp-hook.secret_env"),
    (("url: https://example.test/stock", "url: ftp://example.test"), "sinks.erp-hook.url"),
    (("batch_size: 100", "batch_size: 0"), "sinks.erp-hook.batch_size"),
    (("    items: {SKU-1: \"gid://shopify/InventoryItem/1\"}\n", ""), "sinks.shop.items"),
    (("kind: amazon", "kind: ebay"), "sinks.amz.kind"),
    (("    seller_id: A1SELLER\n", ""), "sinks.amz.seller_id"),
    (("channel: web\n    url", "channel: control\n    url"), "sinks.erp-hook.channel"),
    (("batch_size: 100", "batch_sise: 100"), "sinks.erp-hook.batch_sise"),
])
def test_a_wrong_field_is_named_by_its_path(change, path):
    text = EXAMPLE.split("  retailer:")[0].replace(*change)
    with pytest.raises(SinkConfigError) as err:
        parse(text)
    assert err.value.path == path


def test_a_shopify_batch_is_at_most_250_quantities():
    with pytest.raises(SinkConfigError) as err:
        parse(EXAMPLE.split("  amz:")[0].replace("plan: standard", "plan: standard\n    batch_size: 251"))
    assert err.value.path == "sinks.shop.batch_size"


def test_an_items_file_that_is_missing_or_malformed_is_named(tmp_path):
    with pytest.raises(SinkConfigError) as err:
        parse(EXAMPLE, tmp_path)
    assert err.value.path == "sinks.retailer.items_file" and "cannot read" in str(err.value)
    (tmp_path / "items.csv").write_text("SKU-1,0001\nSKU-2\n")
    with pytest.raises(SinkConfigError) as err:
        parse(EXAMPLE, tmp_path)
    assert err.value.path == "sinks.retailer.items_file:2"


@pytest.mark.parametrize("document", [None, [], {"sinks": {}}, {"sink": {}}, {"sinks": {"bad name!": {}}}])
def test_documents_that_are_not_a_sinks_file_are_refused(document):
    with pytest.raises(SinkConfigError):
        parse_sinks(document)


def test_the_poll_interval_is_1200_seconds_unless_set_and_any_kind_may_set_it(tmp_path):
    (tmp_path / "items.csv").write_text("SKU-1,0001\n")
    sinks = parse(EXAMPLE, tmp_path)
    assert {s.max_poll_interval_seconds for s in sinks.values()} == {1200}
    text = EXAMPLE.replace("batch_size: 100", "batch_size: 100\n    max_poll_interval_seconds: 8").replace(
        "items_file: items.csv", "items_file: items.csv\n    max_poll_interval_seconds: 90.5")
    sinks = parse(text, tmp_path)
    assert sinks["erp-hook"].max_poll_interval_seconds == 8 and sinks["retailer"].max_poll_interval_seconds == 90.5
    assert sinks["shop"].max_poll_interval_seconds == 1200


@pytest.mark.parametrize("value", ["0", "0.5", "-3", "86401", "true", "'60'", "null", ".nan"])
def test_a_bad_poll_interval_is_named_by_its_path(value):
    text = EXAMPLE.split("  shop:")[0] + f"    max_poll_interval_seconds: {value}\n"
    with pytest.raises(SinkConfigError) as err:
        parse(text)
    assert err.value.path == "sinks.erp-hook.max_poll_interval_seconds"
    assert "from 1 to 86,400" in str(err.value)
