"""agents/sinks/amazon.py, the pure parts: the fulfillment_availability patch, the listings
feed document, and when a batch goes by feed (over feed_above, while the feed budget lasts)."""

from __future__ import annotations

from agents.sinks.amazon import FEED_BURST, AmazonChannel, feed_document, fulfillment_patch
from agents.sinks.backlog import Update

OPTIONS = {"endpoint": "http://127.0.0.1:1", "seller_id": "S", "marketplace_id": "M", "product_type": "PRODUCT",
           "feed_above": 100, "token_url": "http://127.0.0.1:1/t", "items": None}
SECRETS = {"client_id": "i", "client_secret": "s", "refresh_token": "r"}


def update(sku: str, available: int) -> Update:
    return Update(sku=sku, available=available, version=1, published_at=0, partition=0, first_offset=0,
                  last_offset=0, shown=None)


def test_the_patch_sets_the_default_channel_s_quantity_never_below_zero():
    assert fulfillment_patch(-3) == [{"op": "replace", "path": "/attributes/fulfillment_availability",
                                      "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]}]


def test_a_feed_numbers_its_messages_and_patches_each_sku():
    document = feed_document("S", "PRODUCT", [update("A", 3), update("B", 0)])
    assert document["header"] == {"sellerId": "S", "version": "2.0", "issueLocale": "en_US"}
    assert [(m["messageId"], m["sku"], m["operationType"]) for m in document["messages"]] == [
        (1, "A", "PATCH"), (2, "B", "PATCH")]


def test_a_large_batch_costs_one_feed_until_the_feed_budget_is_spent():
    now = [0.0]
    channel = AmazonChannel(OPTIONS, SECRETS, session=None, clock=lambda: now[0])
    assert channel.cost(10) == 10  # patches, one request each
    assert channel.cost(101) == 1  # a feed
    for _ in range(FEED_BURST):
        channel.feeds.spend(1, now[0])
    assert channel.cost(101) == 101  # no feed left for 5 minutes: patches at the request budget
    now[0] += 60.0
    assert channel.cost(101) == 1


def test_a_feed_report_s_errors_refuse_their_skus_and_warnings_do_not():
    from agents.sinks.amazon import report_outcome

    batch = [update("A", 1), update("B", 2), update("C", 3)]
    report = {"issues": [{"messageId": 2, "code": "90220", "severity": "ERROR", "message": "SKU not found"},
                         {"messageId": 3, "code": "99022", "severity": "WARNING", "message": "attribute ignored"}]}
    answer = report_outcome(report, batch)
    assert [u.sku for u in answer.acknowledged] == ["A", "C"]
    assert [(u.sku, reason) for u, reason in answer.refused] == [("B", "feed: 90220: SKU not found")]
