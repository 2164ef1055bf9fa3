"""The item master: units of measure and kit components (catalog.items, DESIGN §3)."""

from __future__ import annotations

from typing import Any, Mapping

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
