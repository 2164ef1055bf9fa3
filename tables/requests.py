"""Checking a reservation request from an order capture system (POST /reservations).
Pure: every bad input is a RequestError naming the field, answered 400."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import Limits

MAX_TTL_SECONDS = 30 * 24 * 3600
NAMES = ("sku", "channel")  # limited as names; the ids as ids
IDS = ("reservation_id", "order_id")


class RequestError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ReservationRequest:
    reservation_id: str
    sku: str
    qty: int
    channel: str
    order_id: str
    location: str | None = None
    ttl_seconds: int | None = None
    allow_partial: bool = False


FIELDS = {"reservation_id", "sku", "location", "qty", "channel", "order_id", "ttl_seconds", "allow_partial"}


def parse_request(body: Any, limits: Limits = DEFAULT_LIMITS) -> ReservationRequest:
    if not isinstance(body, dict):
        raise RequestError("(body)", "must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise RequestError(unknown[0], "is not a field of a reservation request")
    values = {name: _name(body, name, limits.name_length) for name in NAMES}
    values.update({name: _name(body, name, limits.id_length) for name in IDS})
    location = body.get("location")
    if location is not None:
        location = _name(body, "location", limits.name_length)
        if "@" in location:
            raise RequestError("location", "must not contain '@'")
    qty = body.get("qty")
    if qty is None:
        raise RequestError("qty", "is required")
    if isinstance(qty, bool) or not isinstance(qty, int) or not 0 < qty <= limits.qty:
        raise RequestError("qty", f"must be a whole number from 1 to {limits.qty}, got {qty!r}")
    ttl = body.get("ttl_seconds")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TTL_SECONDS):
        raise RequestError("ttl_seconds", f"must be whole seconds from 1 to {MAX_TTL_SECONDS}, got {ttl!r}")
    partial = body.get("allow_partial", False)
    if not isinstance(partial, bool):
        raise RequestError("allow_partial", f"must be true or false, got {partial!r}")
    return ReservationRequest(location=location, qty=qty, ttl_seconds=ttl, allow_partial=partial, **values)


def _name(body: dict, name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        raise RequestError(name, "is required")
    return check_name(name, value, limit)


def check_name(name: str, value: Any, limit: int) -> str:
    """A name or id in a request body or path: a non-empty string of at most limit
    characters, without control characters (they separate the parts of table keys)."""
    if not isinstance(value, str) or not value.strip():
        raise RequestError(name, f"must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise RequestError(name, f"must be at most {limit} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise RequestError(name, "must not contain control characters")
    return value
