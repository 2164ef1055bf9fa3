"""The item master: units of measure and kit components (catalog.items, DESIGN §3)."""

from __future__ import annotations

from typing import Any, Mapping

from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits

EACH = "EA"


class UnknownUnit(ValueError):
    pass


def units_per(item: Mapping[str, Any] | None, uom: str) -> int:
    """How many eaches one `uom` of the item holds; EA is always 1."""
    if uom == EACH:
        return 1
    if item is None:
        raise UnknownUnit(f"unit {uom} needs the item master, and it has no such SKU")
    if uom == item.get("base_uom", EACH):
        return 1
    factor = item.get("uoms", {}).get(uom)
    if not isinstance(factor, int) or factor <= 0:
        raise UnknownUnit(f"unit {uom} is not defined for {item.get('sku')} in the item master")
    return factor


class ItemError(ValueError):
    """An item the engine refuses; field names what is wrong, kind is invalid or limit."""

    def __init__(self, field: str, message: str, kind: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.kind = kind


Components = list[tuple[str, int]]


def check_item(item: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Components:
    """An item as `catalog.items` may hold it; its kit components (a component listed twice
    needs both quantities), [] for a plain item."""
    _item_name("sku", item.get("sku"), limits)
    _item_name("base_uom", item.get("base_uom", EACH), limits)
    uoms = item.get("uoms") or {}
    if len(uoms) > limits.units_per_item:
        raise ItemError("uoms", f"has {len(uoms)} units, at most {limits.units_per_item} are allowed", "limit")
    for unit, factor in uoms.items():
        _item_name(f"uoms.{unit}", unit, limits)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ItemError(f"uoms.{unit}", f"must be a whole number of eaches, 1 or more, got {factor!r}")
        if factor > limits.unit_factor:
            raise ItemError(f"uoms.{unit}", f"{factor} eaches is beyond the limit of {limits.unit_factor}", "limit")
    listed = item.get("components") or []
    if len(listed) > limits.kit_components:
        raise ItemError("components", f"has {len(listed)}, at most {limits.kit_components} are allowed", "limit")
    needs: dict[str, int] = {}
    for i, component in enumerate(listed):
        sku, qty = _item_name(f"components[{i}].sku", component.get("sku"), limits), component.get("qty")
        if sku == item["sku"]:
            raise ItemError(f"components[{i}].sku", "a kit cannot contain itself")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 0 < qty <= limits.unit_factor:
            raise ItemError(f"components[{i}].qty", f"must be a whole number from 1 to {limits.unit_factor}, got {qty!r}")
        needs[sku] = needs.get(sku, 0) + qty
    return list(needs.items())


def check_kits(sku: str, components: Components, kits: Mapping[str, Components],
               used_in: Mapping[str, set[str]], limits: Limits = DEFAULT_LIMITS) -> None:
    """With sku's components as given, no kit may contain itself through others, and none
    (sku, or a kit that uses it) may be deeper than the limit."""
    graph = {**kits, sku: components} if components else {k: v for k, v in kits.items() if k != sku}
    depths: dict[str, int] = {}
    for kit in [sku, *_users(sku, used_in)]:
        depth = _depth(kit, graph, depths, ())
        if depth > limits.kit_depth:
            raise ItemError("components", f"{kit} would be a kit {depth} levels deep, at most "
                            f"{limits.kit_depth} are allowed", "limit")


def _users(sku: str, used_in: Mapping[str, set[str]]) -> set[str]:
    """Every kit that contains sku, directly or through other kits."""
    found: set[str] = set()
    todo = [sku]
    while todo:
        for kit in used_in.get(todo.pop(), ()):
            if kit not in found:
                found.add(kit)
                todo.append(kit)
    return found


def _depth(sku: str, graph: Mapping[str, Components], depths: dict[str, int], path: tuple[str, ...]) -> int:
    if sku in path:
        raise ItemError("components", f"kits would contain each other: {' -> '.join(path + (sku,))}")
    if sku not in depths:
        parts = graph.get(sku, ())
        depths[sku] = 1 + max(_depth(c, graph, depths, path + (sku,)) for c, _ in parts) if parts else 0
    return depths[sku]


def _item_name(field: str, value: Any, limits: Limits) -> str:
    if not isinstance(value, str) or not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ItemError(field, f"must be a name without control characters, got {value!r}")
    if len(value) > limits.name_length:
        raise ItemError(field, f"is {len(value)} characters long, at most {limits.name_length} are allowed", "limit")
    return value
