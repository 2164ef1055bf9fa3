"""Checking a decoded InventoryEvent before it may touch a position.

`normalize` turns the decoded Avro record into the event the model applies: quantities in
eaches, times in epoch milliseconds. Anything wrong raises InvalidEvent naming the field, and
the agent routes the record to the DLQ with that reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from tables.catalog import UnknownUnit, units_per
from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits, OverLimit, quantity, text

KEY_SEPARATOR = "@"
INBOUND_SUFFIX = ":inbound"  # a transfer's inbound half: the event id + this
TRANSFER_SOURCE = "transfer:"  # + origin location: the source of a transfer's inbound half

# The fields each type needs beyond the common ones (qty is checked on its own).
REQUIRED = {
    "Adjustment": ("reason",),
    "ReserveRequested": ("reservation_id", "channel", "order_id"),
    "ReservationReleased": ("reservation_id",),
    "ReservationExpired": ("reservation_id",),
    "ReturnReceived": ("disposition",),
    "DispositionChanged": ("from_disposition", "disposition"),
    "TransferShipped": ("to_location",),
    "TransferReceived": ("from_location",),
}
QTY_OPTIONAL = {"ReservationReleased", "ReservationExpired"}
QTY_SIGNED = {"Adjustment"}
QTY_ZERO_OR_MORE = {"CycleCount", "Snapshot"}
COMMON = ("event_id", "sku", "location", "source")
TYPES = frozenset(("Receipt", "Adjustment", "CycleCount", "ReserveRequested", "ReservationReleased",
                   "ReservationExpired", "PickConfirmed", "ShipmentPosted", "ReturnReceived",
                   "DispositionChanged", "HoldPlaced", "HoldReleased", "TransferShipped",
                   "TransferReceived", "Snapshot", "TransferInbound"))
DISPOSITIONS = frozenset(("restockable", "quarantine", "refurbish", "damaged", "scrapped"))
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)


class InvalidEvent(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def position_key(sku: str, location: str) -> str:
    return f"{sku}{KEY_SEPARATOR}{location}"


def epoch_ms(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        # Integer arithmetic: float seconds * 1000 loses a millisecond for some times.
        return (value - EPOCH) // MILLISECOND
    raise TypeError(f"not a time: {value!r}")


def normalize(record: Mapping[str, Any], item: Mapping[str, Any] | None,
              limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Validate one decoded event and convert its quantity to eaches. InvalidEvent or
    OverLimit name the field."""
    event = dict(record)
    check(event, limits)
    try:
        factor = units_per(item, event.get("uom") or "EA")
    except UnknownUnit as err:
        raise InvalidEvent("uom", str(err)) from None
    if event.get("qty") is not None:
        event["qty"] *= factor
        quantity("qty", event["qty"], limits.qty)  # in eaches
    event["occurred_at"] = epoch_ms(event["occurred_at"])
    event["expires_at"] = epoch_ms(event.get("expires_at"))
    return event


NAMES = ("sku", "location", "to_location", "from_location", "channel", "uom")
IDS = ("event_id", "reservation_id", "order_id", "correlation_id", "source")
TEXTS = ("reason",)


def check(event: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
    """Everything about an event that can be known without the item master."""
    for name in COMMON:
        if not event.get(name):
            raise InvalidEvent(name, "is missing or empty")
    for names, limit in ((NAMES, limits.name_length), (IDS, limits.id_length), (TEXTS, limits.text_length)):
        for name in names:
            if isinstance(event.get(name), str):
                text(name, event[name], limit)
    if KEY_SEPARATOR in event["location"]:
        raise InvalidEvent("location", f"must not contain {KEY_SEPARATOR!r}")
    for name in ("sku", "location", "reservation_id", "to_location", "from_location"):
        if event.get(name) and _has_control(event[name]):
            raise InvalidEvent(name, "must not contain control characters")
    kind = event.get("type")
    if kind not in TYPES:
        raise InvalidEvent("type", f"{kind!r} is not an event type")
    if event.get("occurred_at") is None:
        raise InvalidEvent("occurred_at", "is required")
    for name in REQUIRED.get(kind, ()):
        if not event.get(name):
            raise InvalidEvent(name, f"is required for {kind}")
    for name in ("disposition", "from_disposition"):
        if event.get(name) is not None and event[name] not in DISPOSITIONS:
            raise InvalidEvent(name, f"{event[name]!r} is not a disposition")
    _check_qty(kind, event.get("qty"))
    if event.get("qty") is not None:
        quantity("qty", event["qty"], limits.qty)
    _check_type_rules(kind, event)
    if kind == "TransferShipped":
        _check_inbound_half(event, limits)


def _check_inbound_half(event: Mapping[str, Any], limits: Limits) -> None:
    """The ids a transfer's inbound half derives from this event must fit the limits too, or
    the destination would refuse the half while the origin had shipped the units."""
    for name, derived in (("event_id", event["event_id"] + INBOUND_SUFFIX),
                          ("location", TRANSFER_SOURCE + event["location"])):
        if len(derived) > limits.id_length:
            raise OverLimit(name, f"a transfer's inbound half would be named {derived[:40]!r}..., "
                                  f"{len(derived)} characters, over the {limits.id_length} allowed")


def _has_control(text: str) -> bool:
    """Control characters separate the parts of table keys (tables/keys.py)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _check_qty(kind: str, qty: Any) -> None:
    if qty is None:
        if kind not in QTY_OPTIONAL:
            raise InvalidEvent("qty", f"is required for {kind}")
        return
    if not isinstance(qty, int) or isinstance(qty, bool):
        raise InvalidEvent("qty", f"must be a whole number, got {qty!r}")
    if kind in QTY_SIGNED:
        if qty == 0:
            raise InvalidEvent("qty", f"must not be zero for {kind}")
    elif kind in QTY_ZERO_OR_MORE:
        if qty < 0:
            raise InvalidEvent("qty", f"must be zero or more for {kind}, got {qty}")
    elif qty <= 0:
        raise InvalidEvent("qty", f"must be positive for {kind}, got {qty}")


def _check_type_rules(kind: str, event: Mapping[str, Any]) -> None:
    if kind == "ReturnReceived" and event["disposition"] == "scrapped":
        raise InvalidEvent("disposition", "a return cannot be received as scrapped; "
                           "receive it, then send DispositionChanged to scrapped")
    if kind == "DispositionChanged" and event["from_disposition"] == "scrapped":
        raise InvalidEvent("from_disposition", "scrapped units are no longer on hand")
    if kind == "TransferShipped" and event["to_location"] == event["location"]:
        raise InvalidEvent("to_location", "must differ from location")
    if kind == "TransferShipped" and KEY_SEPARATOR in event["to_location"]:
        raise InvalidEvent("to_location", f"must not contain {KEY_SEPARATOR!r}")

