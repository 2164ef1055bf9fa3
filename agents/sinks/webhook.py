"""The webhook sink's wire format. Pure: the body of a batch and its signature.

    POST <url>
    Content-Type: application/json
    X-Stockstream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

    {"channel": "web", "items": [{"sku", "available", "version", "published_at"}, ...]}

A receiver recomputes v1 over the raw body and refuses a t too far from its clock (a replay);
`verify` does exactly that and is what the README's example receiver calls.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Iterable

import orjson

HEADER = "X-Stockstream-Signature"
TOLERANCE_SECONDS = 300


def body(channel: str, items: Iterable[dict[str, Any]]) -> bytes:
    return orjson.dumps({"channel": channel, "items": list(items)})


def signature(secret: bytes, payload: bytes, t: int) -> str:
    digest = hmac.new(secret, str(t).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: bytes, header: str, payload: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - t) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, payload, t), f"t={t},v1={fields.get('v1', '')}")
