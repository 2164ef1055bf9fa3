"""How large anything that enters the engine may be: names, ids, text, quantities, units,
kits, policies, HTTP bodies. Pure. The worker takes them from settings (STOCKSTREAM_MAX_*);
what is over a limit is refused at the edge, a 400 naming the field or a dead letter with
reason `limit:<field>`, never deep inside.

The defaults keep every record the engine writes far under Kafka's default 1 MB message size:
a position holds at most its dedupe window of ids and answers, each at most id_length long.
"""

from __future__ import annotations

from dataclasses import dataclass

# Quantities, buckets and totals stay exact as JSON numbers in every client (2^53 - 1).
JSON_SAFE = 2**53 - 1


@dataclass(frozen=True)
class Limits:
    name_length: int = 128  # SKU, location, channel, unit of measure, client
    id_length: int = 128  # event, reservation, order and correlation ids; source
    text_length: int = 512  # free text: an adjustment's reason
    qty: int = 1_000_000_000_000  # eaches in one event or request, after unit conversion
    unit_factor: int = 1_000_000  # eaches in one unit of the item master (a pallet, say)
    units_per_item: int = 32  # units of measure one item defines
    kit_components: int = 50  # components of one kit
    kit_depth: int = 4  # kits of kits: 1 is a kit of plain items
    policy_entries: int = 10_000  # locations or per-SKU overrides in one policy
    body_bytes: int = 64 * 1024  # an HTTP request body
    message_bytes: int = 1_000_000  # a record the engine writes (the broker's max.message.bytes)


DEFAULT = Limits()


class OverLimit(ValueError):
    """Something is larger than its limit; field names it (reason limit:<field>)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise OverLimit(field, f"is {len(value)} characters long, at most {limit} are allowed")


def quantity(field: str, value: int, limit: int) -> None:
    if abs(value) > limit:
        raise OverLimit(field, f"{value} is beyond the limit of {limit}")
