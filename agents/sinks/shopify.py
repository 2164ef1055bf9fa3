"""The Shopify sink: GraphQL Admin API `inventorySetQuantities`, name "available".

Per batch (at most 250 quantities), one call:
- the `@idempotent(key:)` directive from API version 2026-01 (mandatory from 2026-04), its key
  derived from the channel and every SKU and version in the batch: a retry of the same batch
  is the same request to Shopify;
- the compare quantity where the version has one: `compareQuantity` before 2026-04,
  `changeFromQuantity` from 2026-04; it is what we last set, or the check is off when we do not
  know it. A stale compare (someone changed the stock in the admin) is counted as drift and
  that item is set again with the check off: stockstream is the source of truth;
- the budget follows `extensions.cost.throttleStatus`; a THROTTLED error or a 429 waits as long
  as the bucket needs to refill the call's cost (or the Retry-After).
A read-back (`read_back`) asks what Shopify shows for the items and reports each one that
differs from what was last set (stock changed in the admin).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any, Mapping

import aiohttp
import orjson

from agents.sinks.backlog import Update
from agents.sinks.runner import Answer

MUTATION_COST = 10  # Shopify's calculated cost of a mutation, whatever its input size
NAMESPACE = uuid.UUID("5d3c2e1a-6f0b-4c1e-9a57-3b2f7c1d8e90")
STALE = {"COMPARE_QUANTITY_STALE", "CHANGE_FROM_QUANTITY_STALE"}


def idempotency_key(channel: str, updates: list[Update]) -> str:
    """The same batch (channel, SKUs, versions) gives the same key, a different one another."""
    digest = hashlib.sha256(orjson.dumps([channel, sorted((u.sku, u.version) for u in updates)])).hexdigest()
    return str(uuid.uuid5(NAMESPACE, digest))


def supports(api_version: str, since: str) -> bool:
    return api_version >= since  # "YYYY-MM" strings order as dates


def mutation(api_version: str, channel: str, location: str, items: Mapping[str, str], updates: list[Update],
             check: bool = True) -> dict[str, Any]:
    """The GraphQL request for a batch; check=False turns the compare quantity off."""
    new_cas = supports(api_version, "2026-04")
    quantities = []
    for update in updates:
        quantity: dict[str, Any] = {"inventoryItemId": items[update.sku], "locationId": location,
                                    "quantity": max(update.available, 0)}
        known = update.shown if check else None
        if new_cas:
            quantity["changeFromQuantity"] = known  # null: no check (the field must be there)
        elif known is not None:
            quantity["compareQuantity"] = known
        quantities.append(quantity)
    payload: dict[str, Any] = {"name": "available", "reason": "correction", "quantities": quantities,
                               "referenceDocumentUri": f"stockstream://availability/{channel}"}
    if not new_cas:
        payload["ignoreCompareQuantity"] = not any("compareQuantity" in q for q in quantities)
    directive = f' @idempotent(key: "{idempotency_key(channel, updates)}")' if supports(api_version, "2026-01") else ""
    query = ("mutation SetAvailable($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input)"
             + directive + " { userErrors { code field message } } }")
    return {"query": query, "variables": {"input": payload}}


def interpret(status: int, body: Any, updates: list[Update], retry_after: float | None) -> tuple[Answer, list[Update]]:
    """The runner's Answer for a response, and the updates to set again with the check off."""
    if status == 429:
        return Answer(retry=updates, retry_after=retry_after or 1.0), []
    if status >= 500 or status == 408:
        return Answer(retry=updates, retry_after=retry_after), []
    if status >= 400:
        return Answer(refused=[(u, f"HTTP {status}: {str(body)[:200]}") for u in updates]), []
    budget, spent, wait = throttle(body)
    errors = body.get("errors") or []
    if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
        return Answer(retry=updates, retry_after=wait, budget=budget, spent=0), []
    if errors:
        return Answer(refused=[(u, f"GraphQL: {errors[0].get('message', errors[0])}") for u in updates],
                      budget=budget, spent=spent), []
    user_errors = (((body.get("data") or {}).get("inventorySetQuantities") or {}).get("userErrors")) or []
    stale, refused = [], []
    for error in user_errors:
        index = quantity_index(error.get("field"))
        target = updates[index] if index is not None and index < len(updates) else None
        if error.get("code") in STALE and target is not None:
            stale.append(target)
        elif target is not None:
            refused.append((target, f"{error.get('code')}: {error.get('message')}"))
        else:  # an error about the whole input: nothing was set
            return Answer(refused=[(u, f"{error.get('code')}: {error.get('message')}") for u in updates],
                          budget=budget, spent=spent), []
    failed = {id(u) for u in stale} | {id(u) for u, _ in refused}
    done = [u for u in updates if id(u) not in failed]
    return Answer(acknowledged=done, refused=refused, budget=budget, spent=spent), stale


def throttle(body: Mapping[str, Any]) -> tuple[tuple[float, float, float] | None, float | None, float | None]:
    """(available, restore rate, maximum), the cost charged, and the wait a throttled call needs."""
    cost = ((body.get("extensions") or {}).get("cost")) or {}
    status = cost.get("throttleStatus")
    if not status:
        return None, None, None
    budget = (float(status["currentlyAvailable"]), float(status["restoreRate"]), float(status["maximumAvailable"]))
    requested = float(cost.get("requestedQueryCost") or MUTATION_COST)
    wait = max(0.0, requested - budget[0]) / budget[1] if budget[1] > 0 else 1.0
    actual = cost.get("actualQueryCost")
    return budget, float(actual) if actual is not None else None, wait


def quantity_index(field: Any) -> int | None:
    """userErrors name the input path, e.g. ["input", "quantities", "3", "compareQuantity"]."""
    if isinstance(field, list) and "quantities" in field:
        position = field.index("quantities") + 1
        if position < len(field) and str(field[position]).isdigit():
            return int(field[position])
    return None


READ_BACK_QUERY = (
    "query Levels($ids: [ID!]!, $location: ID!) { nodes(ids: $ids) { ... on InventoryItem { id "
    "inventoryLevel(locationId: $location) { quantities(names: [\"available\"]) { name quantity } } } } }")
READ_BACK_BATCH = 250


def read_back_request(item_ids: list[str], location: str) -> dict[str, Any]:
    return {"query": READ_BACK_QUERY, "variables": {"ids": item_ids, "location": location}}


def shown_quantities(body: Mapping[str, Any]) -> dict[str, int]:
    """Inventory item id -> the available quantity Shopify shows (items it does not know: absent)."""
    out = {}
    for node in ((body.get("data") or {}).get("nodes")) or []:
        level = (node or {}).get("inventoryLevel") or {}
        for quantity in level.get("quantities") or []:
            if quantity.get("name") == "available":
                out[node["id"]] = quantity["quantity"]
    return out


class ShopifyChannel:
    """runner.Channel for Shopify. Drift found (a stale compare) is counted by `drift`."""

    def __init__(self, shop_url: str, api_version: str, token: str, location: str, items: Mapping[str, str],
                 channel: str, session: aiohttp.ClientSession, timeout: float = 30.0, drift: Any = None) -> None:
        self.url = f"{shop_url}/admin/api/{api_version}/graphql.json"
        self.api_version, self.location, self.items, self.channel = api_version, location, items, channel
        self.headers = {"X-Shopify-Access-Token": token, "Content-Type": "application/json"}
        self.session, self.timeout = session, timeout
        self.drift = drift  # a counter of values found changed in Shopify (None: not counted)

    def cost(self, count: int) -> float:
        return MUTATION_COST

    async def send(self, updates: list[Update]) -> Answer:
        known = [u for u in updates if u.sku in self.items]
        unknown = [(u, f"no Shopify inventory item for {u.sku} (items)") for u in updates if u.sku not in self.items]
        if not known:
            return Answer(refused=unknown, spent=0)
        answer, stale = await self.call(known, check=True)
        if stale:  # set again without the check: ours is the number that counts
            if self.drift is not None:
                self.drift.inc(len(stale))
            again, _ = await self.call(stale, check=False)
            answer.acknowledged += again.acknowledged
            answer.refused += again.refused
            answer.retry += again.retry
            answer.budget = again.budget or answer.budget
            answer.spent = (answer.spent or MUTATION_COST) + (again.spent or MUTATION_COST)
        answer.refused += unknown
        return answer

    async def call(self, updates: list[Update], check: bool) -> tuple[Answer, list[Update]]:
        request = mutation(self.api_version, self.channel, self.location, self.items, updates, check)
        try:
            async with self.session.post(self.url, data=orjson.dumps(request), headers=self.headers,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                status, raw = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return Answer(retry=updates), []
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {"errors": [{"message": raw[:200].decode(errors="replace")}]} if status < 400 else raw
        if status < 500 and not isinstance(body, dict):
            body = {"errors": [{"message": str(body)[:200]}]}
        wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return interpret(status, body, updates, wait)

    async def read_back(self, sent: Mapping[str, int]) -> tuple[dict[str, tuple[int, int | None]], Any]:
        """What Shopify shows for SKUs whose value it took: {sku: (sent, shown)} for each one
        that differs, and Shopify's bucket after the last query (None if it gave none)."""
        by_item = {self.items[sku]: sku for sku in sent if sku in self.items}
        ids, differs, budget = list(by_item), {}, None
        for start in range(0, len(ids), READ_BACK_BATCH):
            chunk = ids[start:start + READ_BACK_BATCH]
            async with self.session.post(self.url, data=orjson.dumps(read_back_request(chunk, self.location)),
                                         headers=self.headers,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                if response.status != 200:
                    break  # read it all again next time
                body = orjson.loads(await response.read())
            budget = throttle(body)[0] or budget
            if body.get("errors"):
                break
            shown = shown_quantities(body)
            for item in chunk:
                sku = by_item[item]
                if shown.get(item) != max(sent[sku], 0):
                    differs[sku] = (sent[sku], shown.get(item))
        if differs and self.drift is not None:
            self.drift.inc(len(differs))
        return differs, budget

    async def close(self) -> None:
        await self.session.close()
