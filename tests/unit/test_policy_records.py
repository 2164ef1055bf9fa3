"""Policies as records on inventory.policies, and the fingerprint a republish waits for."""

from __future__ import annotations

import yaml

from streams.wire.codec import AvroCodec
from streams.wire.codec import default_codec
from tables.policy_records import decode_policies, fingerprint
from tables.policy import parse_policies
from tables.policy_records import records, to_document

DOC = yaml.safe_load("""
locations:
  DC1: {safety_stock: 2, overrides: {SKU-9: 0}, reconciliation: auto_correct}
  DC2: {}
channels:
  amazon:
    locations: [DC1, DC2]
    buffer: 5
    allocation_percent: 50
    max_qty: 200
    floor: 3
    publish_interval: 1.5
    overrides: {SKU-9: {buffer: 0, max_qty: 10}}
  b2b:
    locations: [DC1, DC2]
    ring_fence: 20
""")


def encoded(policies):
    codec = AvroCodec()
    return {key.encode(): codec.encode(name, record) for key, (name, record) in records(policies).items()}


def test_policies_survive_the_topic_and_the_yaml():
    policies = parse_policies(DOC)
    on_topic = encoded(policies)
    assert set(on_topic) == {b"channel:amazon", b"channel:b2b", b"location:DC1", b"location:DC2"}
    assert decode_policies(on_topic, default_codec()) == policies
    assert parse_policies(to_document(policies)) == policies
    assert (policies.reconciliation("DC1"), policies.reconciliation("DC2"), policies.reconciliation("X")) == (
        "auto_correct", "alert", "alert")


def test_show_writes_only_what_differs_from_the_defaults():
    document = to_document(parse_policies(DOC))
    assert document["channels"]["b2b"] == {"locations": ["DC1", "DC2"], "ring_fence": 20}
    assert document["channels"]["amazon"]["overrides"] == {"SKU-9": {"buffer": 0, "max_qty": 10}}
    assert document["channels"]["amazon"]["publish_interval"] == 1.5


def test_the_fingerprint_depends_on_content_not_order():
    entries = list(encoded(parse_policies(DOC)).items())
    assert fingerprint(entries) == fingerprint(reversed(entries))
    changed = dict(entries)
    changed[b"location:DC1"] = AvroCodec().encode("LocationPolicy", {"name": "DC1", "safety_stock": 3, "overrides": {}})
    assert fingerprint(changed.items()) != fingerprint(entries)
    assert fingerprint(entries[:-1]) != fingerprint(entries)
