"""agents/sinks/webhook.py: the signature scheme the README documents, checked against an
HMAC computed here by hand, and a receiver's verify that refuses tampering and replays."""

from __future__ import annotations

import hashlib
import hmac

import orjson

from agents.sinks.webhook import body, signature, verify

SECRET = b"s3cret"


def test_the_body_is_the_documented_batch():
    items = [{"sku": "SKU-1", "available": 3, "version": 7, "published_at": 1795680000000}]
    assert orjson.loads(body("web", items)) == {"channel": "web", "items": items}


def test_the_signature_is_hmac_sha256_of_t_dot_body():
    payload = body("web", [])
    expected = hmac.new(SECRET, b"1795680000." + payload, hashlib.sha256).hexdigest()
    assert signature(SECRET, payload, 1795680000) == f"t=1795680000,v1={expected}"


def test_verify_accepts_the_sender_s_header_and_refuses_the_rest():
    payload = body("web", [{"sku": "A", "available": 1, "version": 1, "published_at": 0}])
    header = signature(SECRET, payload, 1000)
    assert verify(SECRET, header, payload, now=1000)
    assert not verify(SECRET, header, payload.replace(b'"available":1', b'"available":9'), now=1000)
    assert not verify(b"other", header, payload, now=1000)
    assert not verify(SECRET, header, payload, now=1000 + 301)  # a replay, later
    assert not verify(SECRET, "garbage", payload, now=1000)
