"""agents/sinks/shopify.py, the pure parts: the mutation each API version needs, and what each
kind of answer means for the sink (acknowledged, retried when, refused, set again unchecked)."""

from __future__ import annotations

from agents.sinks.backlog import Update
from agents.sinks.shopify import idempotency_key, interpret, mutation

ITEMS = {"A": "gid://shopify/InventoryItem/1", "B": "gid://shopify/InventoryItem/2"}
LOCATION = "gid://shopify/Location/1"


def update(sku: str, available: int, version: int, shown: int | None = None) -> Update:
    return Update(sku=sku, available=available, version=version, published_at=0, partition=0, first_offset=0,
                  last_offset=0, shown=shown)


def test_2025_10_compares_what_we_last_set_and_has_no_directive():
    request = mutation("2025-10", "web", LOCATION, ITEMS, [update("A", 3, 2, shown=5), update("B", 0, 1)])
    assert "@idempotent" not in request["query"]
    payload = request["variables"]["input"]
    assert payload["name"] == "available" and payload["ignoreCompareQuantity"] is False
    assert payload["quantities"][0] == {"inventoryItemId": ITEMS["A"], "locationId": LOCATION, "quantity": 3,
                                        "compareQuantity": 5}
    assert "compareQuantity" not in payload["quantities"][1]


def test_2026_01_adds_the_idempotency_key_and_2026_04_uses_change_from_quantity():
    batch = [update("A", 3, 2, shown=5), update("B", 4, 1)]
    request = mutation("2026-01", "web", LOCATION, ITEMS, batch)
    assert f'@idempotent(key: "{idempotency_key("web", batch)}")' in request["query"]
    later = mutation("2026-04", "web", LOCATION, ITEMS, batch)["variables"]["input"]
    assert "ignoreCompareQuantity" not in later
    assert [q["changeFromQuantity"] for q in later["quantities"]] == [5, None]
    unchecked = mutation("2026-04", "web", LOCATION, ITEMS, batch, check=False)["variables"]["input"]
    assert [q["changeFromQuantity"] for q in unchecked["quantities"]] == [None, None]


def test_the_key_is_the_batch_s_identity():
    one = [update("A", 3, 2), update("B", 4, 1)]
    assert idempotency_key("web", one) == idempotency_key("web", list(reversed(one)))
    assert idempotency_key("web", one) != idempotency_key("web", [update("A", 3, 3), update("B", 4, 1)])
    assert idempotency_key("web", one) != idempotency_key("b2b", one)


def cost(available: float = 900) -> dict:
    return {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                     "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": 100.0}}}


def test_success_acknowledges_and_reports_shopify_s_bucket():
    batch = [update("A", 3, 2)]
    answer, stale = interpret(200, {"data": {"inventorySetQuantities": {"userErrors": []}}, "extensions": cost()},
                              batch, None)
    assert answer.acknowledged == batch and not stale
    assert answer.budget == (900.0, 100.0, 1000.0) and answer.spent == 10.0


def test_throttled_waits_for_the_bucket_to_hold_the_call_s_cost():
    batch = [update("A", 3, 2)]
    body = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": cost(4)}
    answer, _ = interpret(200, body, batch, None)
    assert answer.retry == batch and abs(answer.retry_after - 0.06) < 1e-9 and answer.spent == 0


def test_a_stale_compare_is_set_again_and_other_item_errors_are_refused():
    batch = [update("A", 3, 2, shown=5), update("B", 4, 1, shown=1)]
    body = {"data": {"inventorySetQuantities": {"userErrors": [
        {"code": "COMPARE_QUANTITY_STALE", "field": ["input", "quantities", "0", "compareQuantity"], "message": "stale"},
        {"code": "INVALID_INVENTORY_ITEM", "field": ["input", "quantities", "1", "inventoryItemId"], "message": "gone"},
    ]}}, "extensions": cost()}
    answer, stale = interpret(200, body, batch, None)
    assert stale == [batch[0]]
    assert [(u.sku, reason) for u, reason in answer.refused] == [("B", "INVALID_INVENTORY_ITEM: gone")]
    assert answer.acknowledged == []


def test_http_answers():
    batch = [update("A", 3, 2)]
    assert interpret(429, {}, batch, 2.0)[0].retry_after == 2.0
    assert interpret(503, {}, batch, None)[0].retry == batch
    assert interpret(401, {"errors": "bad token"}, batch, None)[0].refused[0][1].startswith("HTTP 401")


def test_the_read_back_asks_for_available_at_our_location_and_reads_what_shopify_shows():
    from agents.sinks.shopify import read_back_request, shown_quantities

    request = read_back_request([ITEMS["A"], ITEMS["B"]], LOCATION)
    assert request["variables"] == {"ids": [ITEMS["A"], ITEMS["B"]], "location": LOCATION}
    body = {"data": {"nodes": [
        {"id": ITEMS["A"], "inventoryLevel": {"quantities": [{"name": "available", "quantity": 7}]}},
        None,  # an item Shopify does not know any more
    ]}}
    assert shown_quantities(body) == {ITEMS["A"]: 7}
