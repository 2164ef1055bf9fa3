"""X12 846 (Inventory Inquiry/Advice), version 004010, for one trading partner. Pure: the
caller passes the time and the control number (the edi846 sink keeps it, increasing across
runs and restarts).

One interchange, one functional group (GS01 IB), one transaction set:
    ISA GS ST BIA (LIN QTY)* CTT SE GE IEA
LIN names the item by the partner's number (IN) and our SKU (SK); QTY 33 is the quantity
available for sale, in eaches. SE01 counts the segments from ST to SE, CTT01 the LIN loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

SEGMENT, ELEMENT, COMPONENT, REPETITION = "~", "*", ">", "^"
FORBIDDEN = set(SEGMENT + ELEMENT + COMPONENT + REPETITION + "\n\r")


class X12Error(ValueError):
    pass


@dataclass(frozen=True)
class Party:
    qualifier: str  # ISA05/ISA07, e.g. ZZ (mutually defined)
    id: str  # ISA06/ISA08, at most 15 characters


@dataclass(frozen=True)
class Line:
    sku: str
    partner_item: str
    available: int


def element(value: str) -> str:
    if FORBIDDEN & set(value):
        raise X12Error(f"{value!r} holds an X12 delimiter")
    return value


def inventory_advice(sender: Party, receiver: Party, control: int, at: datetime, lines: Iterable[Line],
                     production: bool = True) -> str:
    """The interchange as text, a segment per line (each ends with ~)."""
    if not 1 <= control <= 999_999_999:
        raise X12Error(f"interchange control number {control} is not 1..999999999")
    isa = [
        "ISA", "00", " " * 10, "00", " " * 10,
        sender.qualifier.ljust(2)[:2], element(sender.id).ljust(15), receiver.qualifier.ljust(2)[:2],
        element(receiver.id).ljust(15), at.strftime("%y%m%d"), at.strftime("%H%M"), REPETITION, "00401",
        f"{control:09d}", "0", "P" if production else "T", COMPONENT,
    ]
    group = str(control)
    body = [["BIA", "00", "MM", f"846-{control}", at.strftime("%Y%m%d"), at.strftime("%H%M")]]
    count = 0
    for line in lines:
        count += 1
        body.append(["LIN", "", "IN", element(line.partner_item), "SK", element(line.sku)])
        body.append(["QTY", "33", str(max(line.available, 0)), "EA"])
    body.append(["CTT", str(count)])
    transaction = [["ST", "846", "0001"], *body]
    transaction.append(["SE", str(len(transaction) + 1), "0001"])
    segments = [
        isa,
        ["GS", "IB", element(sender.id.strip()), element(receiver.id.strip()), at.strftime("%Y%m%d"),
         at.strftime("%H%M"), group, "X", "004010"],
        *transaction,
        ["GE", "1", group],
        ["IEA", "1", f"{control:09d}"],
    ]
    return "".join(ELEMENT.join(segment) + SEGMENT + "\n" for segment in segments)
