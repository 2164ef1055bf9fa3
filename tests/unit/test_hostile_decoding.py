"""Hostile records against the pure decode and validation path, no broker (issue 8, point 6).

Whatever bytes arrive on inventory.events, catalog.items or inventory.policies, the engine must
either use the record or refuse it with a reason it can dead-letter:
- `AvroCodec().decode(name, data)` returns a record or raises DecodeError, nothing else;
- a decoded InventoryEvent: `normalize(record, item, DEFAULT)` returns or raises InvalidEvent or
  OverLimit; a normalized event applied to a fresh Position never raises, and the position it
  leaves can be stored (its record round-trips);
- a decoded Item: `check_item` (and `check_kits` for what it accepts) raises only ItemError;
- a decoded ChannelPolicy or LocationPolicy: `check_record(key, record)` raises only PolicyError,
  and a channel it accepts can be evaluated (`tables.channels.explain`);
- `decode_policies` over hostile keys (not UTF-8) and values never raises.

The inputs: bytes that are not Avro, a wrong magic byte, unknown schema ids (or another record's
id), real records cut at every length and with bytes flipped, strings that are huge, empty, full
of control characters or not UTF-8 at all, longs at the edges of int64, and NaN, infinities and
subnormals where the schemas allow doubles. Examples are bounded and derandomized.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams.wire.codec import HEADER, MAGIC, AvroCodec, DecodeError, local_id
from tables.catalog import ItemError, check_item, check_kits
from tables.channels import LocationStock, explain
from tables.events import InvalidEvent, normalize
from tables.limits import DEFAULT, OverLimit
from tables.model import apply, follow_ups
from tables.policy import PolicyError
from tables.policy_records import check_record, decode_policies, from_records
from tables.position import Position

CODEC = AvroCodec()
NAMES = ("InventoryEvent", "Item", "ChannelPolicy", "LocationPolicy")
IDS = {name: local_id(CODEC.schemas[name]) for name in CODEC.schemas}
EVENT_TYPES = CODEC.schemas["InventoryEvent"]["fields"][1]["type"]["symbols"]
DISPOSITIONS = ["restockable", "quarantine", "refurbish", "damaged", "scrapped"]
T0 = 1_795_600_800_000  # 2026-11-25T10:00:00Z in epoch ms
ITEM = {"sku": "SKU-1", "base_uom": "EA", "uoms": {"CS": 12, "PL": 1_000_000}, "components": []}

HOSTILE = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
QUICK = settings(HOSTILE, max_examples=60)

# --- what the checks may raise -------------------------------------------------------------

REFUSED = object()


def only(allowed: tuple[type[BaseException], ...], call: Callable[..., Any], *args: Any) -> Any:
    """call(*args), or REFUSED when it raises one of allowed; anything else fails the test
    naming the call, the exception and its arguments."""
    try:
        return call(*args)
    except allowed:
        return REFUSED
    except Exception as err:
        shown = ", ".join(_short(a) for a in args)
        raise AssertionError(f"{call.__name__}({shown}) raised {type(err).__name__}: {err} "
                             f"(only {', '.join(a.__name__ for a in allowed)} may be raised)") from err


def _short(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def decoded(name: str, data: bytes) -> dict[str, Any] | None:
    record = only((DecodeError,), CODEC.decode, name, data)
    if record is REFUSED:
        return None
    assert isinstance(record, dict), f"decode({name}) returned {type(record).__name__}"
    return record


def framed(name: str, body: bytes) -> bytes:
    return HEADER.pack(MAGIC, IDS[name]) + body


# --- the engine's path after decode, for each record name ---------------------------------


def through_event(record: dict[str, Any], items: list[dict[str, Any] | None]) -> None:
    for item in items:
        event = only((InvalidEvent, OverLimit), normalize, record, item, DEFAULT)
        if event is REFUSED:
            continue
        position = Position(event["sku"], event["location"])
        position, outcome = only((), apply, position, event)
        only((), apply, position, event)  # a repeat changes nothing and raises nothing
        stored = only((), position.to_bytes)
        assert Position.from_bytes(stored).to_bytes() == stored
        only((), position.view)


def through_item(record: dict[str, Any]) -> None:
    components = only((ItemError,), check_item, record, DEFAULT)
    if components is not REFUSED:
        only((ItemError,), check_kits, record["sku"], components, {}, {}, DEFAULT)


def through_policy(key: str, record: dict[str, Any]) -> None:
    if only((PolicyError,), check_record, key, record, DEFAULT) is REFUSED:
        return
    policies = only((), from_records, [(key, record)])
    stock = {"DC1": LocationStock(on_hand=100, reserved=3, incoming=7)}
    for channel in policies.channels.values():
        for sku in ["SKU-1", *channel.overrides]:
            steps = only((), explain, sku, channel, policies, stock)
            assert isinstance(steps["available"], int) and steps["available"] >= 0, steps


def through(name: str, data: bytes, key: str | None = None) -> None:
    record = decoded(name, data)
    if record is None:
        return
    if name == "InventoryEvent":
        through_event(record, [None, ITEM])
    elif name == "Item":
        through_item(record)
    else:
        prefix = "channel:" if name == "ChannelPolicy" else "location:"
        through_policy(key if key is not None else prefix + str(record["name"]), record)


# --- strategies: hostile values the schemas still allow ------------------------------------

HUGE = st.builds(lambda c, n: c * n, st.sampled_from(["a", "@", "\x00", "é", "\U0001f4a9", ":"]),
                 st.sampled_from([129, 513, 4096, 600_000]))
TEXT = st.one_of(
    st.sampled_from(["SKU-1", "DC1", "DC2", "web", "wms", "EA", "CS", "", " ", "@", "A@B", "a:b", "..", "{x}"]),
    st.text(max_size=20),  # any code point but surrogates: control characters, NUL, RTL, ...
    st.text(st.characters(codec="ascii"), min_size=1, max_size=6),  # control characters, densely
    st.integers(118, 130).map(lambda n: "x" * n),  # at the length limits (names, ids: 128)
    st.text(st.characters(codec="ascii"), min_size=110, max_size=140),
    HUGE,
)
NAME = st.one_of(st.sampled_from(["SKU-1", "DC1", "DC2"]), TEXT)
LONG = st.one_of(
    st.integers(-10, 10),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 2**31, 2**53, 2**53 + 1, 2**62, 2**63 - 1, -(2**63), 10**12, 10**12 + 1,
                     5 * 10**18, 1_000_000, 1_000_001]),
)
TIME = st.one_of(st.integers(T0 - 10**9, T0 + 10**9), LONG)
DOUBLE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1e308, 100.0, 100.00000000000001,
                     50.5, 3600.0, 3600.0000000000005, -1.0]),
)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict], hostile: dict[str, st.SearchStrategy],
            most: int = 3) -> dict[str, Any]:
    """A valid record with up to `most` of its fields replaced by hostile values: one bad field
    among good ones reaches the deeper checks, where an all-hostile record stops at the first."""
    record = dict(draw(base))
    for field in draw(st.lists(st.sampled_from(sorted(hostile)), max_size=most, unique=True)):
        record[field] = draw(hostile[field])
    return record


ID = st.one_of(st.integers(0, 10**6).map(lambda n: f"e-{n}"), st.text("abcXYZ0123-_/:.", min_size=1, max_size=24))
SKU = st.sampled_from(["SKU-1", "SKU-2", "KIT-1", "A@B", "ü-1"])
LOC = st.sampled_from(["DC1", "DC2", "DC3"])
RID = st.sampled_from(["web-store/r-1", "web-store/r-2", "r-3"])
EVENT_FIELDS = {
    "event_id": ID, "sku": SKU, "location": LOC, "uom": st.sampled_from(["EA", "EA", "CS", "PL"]),
    "source": st.sampled_from(["wms", "erp", "3pl"]), "source_seq": maybe(st.integers(0, 100)),
    "occurred_at": st.integers(T0 - 10**6, T0 + 10**6), "correlation_id": maybe(ID), "reason": st.just("fix"),
    "reservation_id": maybe(RID), "channel": maybe(st.just("web")), "order_id": maybe(st.just("o-1")),
    "expires_at": maybe(st.integers(T0, T0 + 10**6)), "disposition": st.none(), "from_disposition": st.none(),
    "to_location": st.none(), "from_location": st.none(), "qty": st.integers(1, 1000),
}
BY_TYPE = {
    "Adjustment": {"qty": st.integers(-1000, 1000).filter(bool)},
    "CycleCount": {"qty": st.integers(0, 1000)},
    "Snapshot": {"qty": st.integers(0, 1000)},
    "ReserveRequested": {"reservation_id": RID, "channel": st.just("web"), "order_id": st.just("o-1")},
    "ReservationReleased": {"reservation_id": RID, "qty": maybe(st.integers(1, 1000))},
    "ReservationExpired": {"reservation_id": RID, "qty": maybe(st.integers(1, 1000))},
    "ReturnReceived": {"disposition": st.sampled_from(DISPOSITIONS[:4])},
    "DispositionChanged": {"from_disposition": st.sampled_from(DISPOSITIONS[:4]),
                           "disposition": st.sampled_from(DISPOSITIONS)},
    "TransferShipped": {"location": st.just("DC1"), "to_location": st.sampled_from(["DC2", "DC3"])},
    "TransferReceived": {"from_location": LOC},
    "TransferInbound": {"from_location": LOC, "source": st.sampled_from(["asn", "transfer:DC2"])},
}
VALID_EVENT = st.sampled_from(EVENT_TYPES).flatmap(
    lambda kind: st.fixed_dictionaries({**EVENT_FIELDS, **BY_TYPE.get(kind, {}), "type": st.just(kind)}))
HOSTILE_EVENT_FIELDS = {
    "event_id": TEXT, "type": st.sampled_from(EVENT_TYPES), "sku": TEXT, "location": TEXT, "qty": maybe(LONG),
    "uom": TEXT, "source": TEXT, "source_seq": maybe(LONG), "occurred_at": TIME, "correlation_id": maybe(TEXT),
    "reason": maybe(TEXT), "reservation_id": maybe(TEXT), "channel": maybe(TEXT), "order_id": maybe(TEXT),
    "expires_at": maybe(TIME), "disposition": maybe(st.sampled_from(DISPOSITIONS)),
    "from_disposition": maybe(st.sampled_from(DISPOSITIONS)), "to_location": maybe(TEXT),
    "from_location": maybe(TEXT),
}
EVENT = mutated(VALID_EVENT, HOSTILE_EVENT_FIELDS)

VALID_ITEM = st.fixed_dictionaries({
    "sku": SKU, "base_uom": st.just("EA"),
    "uoms": st.dictionaries(st.sampled_from(["CS", "PL", "BX"]), st.integers(1, 10_000), max_size=3),
    "components": st.lists(st.fixed_dictionaries({"sku": st.sampled_from(["SKU-7", "SKU-8"]),
                                                  "qty": st.integers(1, 10)}), max_size=2),
})
ITEM_RECORD = mutated(VALID_ITEM, {
    "sku": TEXT, "base_uom": TEXT,
    "uoms": st.one_of(st.dictionaries(TEXT, LONG, max_size=3), st.dictionaries(TEXT, st.integers(1, 9), max_size=40)),
    "components": st.one_of(st.lists(st.fixed_dictionaries({"sku": TEXT, "qty": LONG}), max_size=3),
                            st.lists(st.fixed_dictionaries({"sku": SKU, "qty": st.integers(1, 3)}), max_size=60)),
})

VALID_RULE = st.fixed_dictionaries({
    "buffer": st.integers(0, 50), "allocation_percent": st.sampled_from([100.0, 50.0, 33.3, 0.0]),
    "max_qty": maybe(st.integers(0, 500)), "floor": maybe(st.integers(0, 10)), "include_incoming": st.booleans(),
    "ring_fence": st.integers(0, 20),
})
RULE = mutated(VALID_RULE, {"buffer": LONG, "allocation_percent": DOUBLE, "max_qty": maybe(LONG),
                            "floor": maybe(LONG), "ring_fence": LONG}, most=2)
CHANNEL = mutated(
    st.fixed_dictionaries({
        "name": st.sampled_from(["amazon", "web", "b2b"]), "locations": st.just(["DC1", "DC2"]), "rule": VALID_RULE,
        "overrides": st.dictionaries(SKU, VALID_RULE, max_size=2), "publish_interval": st.sampled_from([2.0, 0.5, 60.0]),
    }),
    {"name": TEXT, "locations": st.lists(TEXT, max_size=4), "rule": RULE,
     "overrides": st.dictionaries(TEXT, RULE, max_size=3), "publish_interval": DOUBLE},
)
LOCATION = mutated(
    st.fixed_dictionaries({"name": LOC, "safety_stock": st.integers(0, 10),
                           "overrides": st.dictionaries(SKU, st.integers(0, 10), max_size=2)}),
    {"name": TEXT, "safety_stock": LONG, "overrides": st.one_of(st.dictionaries(TEXT, LONG, max_size=3),
                                                                  st.dictionaries(SKU, LONG, max_size=3))},
)
RECORDS = {"InventoryEvent": EVENT, "Item": ITEM_RECORD, "ChannelPolicy": CHANNEL, "LocationPolicy": LOCATION}


def valid_event(**fields: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "type": "Receipt", "sku": "SKU-1", "location": "DC1", "qty": 5, "uom": "EA",
            "source": "wms", "source_seq": None, "occurred_at": T0, "correlation_id": None, "reason": None,
            "reservation_id": None, "channel": None, "order_id": None, "expires_at": None, "disposition": None,
            "from_disposition": None, "to_location": None, "from_location": None, **fields}


# Real records of every kind, valid and accepted: the bodies that are cut and corrupted.
REAL = [
    ("InventoryEvent", valid_event()),
    ("InventoryEvent", valid_event(type="ReserveRequested", reservation_id="web-store/r-1", channel="web",
                                   order_id="o-1", expires_at=T0 + 60_000, correlation_id="c-1")),
    ("InventoryEvent", valid_event(type="ReturnReceived", disposition="quarantine", uom="CS", qty=2)),
    ("InventoryEvent", valid_event(type="DispositionChanged", from_disposition="quarantine", disposition="scrapped")),
    ("InventoryEvent", valid_event(type="TransferShipped", to_location="DC2", source_seq=7)),
    ("InventoryEvent", valid_event(type="Adjustment", qty=-3, reason="cycle fix")),
    ("Item", {"sku": "SKU-1", "base_uom": "EA", "uoms": {"CS": 12, "PL": 480}, "components": []}),
    ("Item", {"sku": "KIT-1", "base_uom": "EA", "uoms": {}, "components": [{"sku": "SKU-1", "qty": 2},
                                                                          {"sku": "SKU-2", "qty": 1}]}),
    ("ChannelPolicy", {"name": "amazon", "locations": ["DC1", "DC2"],
                       "rule": {"buffer": 5, "allocation_percent": 50.0, "max_qty": 200, "floor": 3,
                                "include_incoming": False, "ring_fence": 0},
                       "overrides": {"SKU-9": {"buffer": 0, "allocation_percent": 50.0, "max_qty": 10, "floor": 3,
                                               "include_incoming": False, "ring_fence": 0}},
                       "publish_interval": 1.5}),
    ("LocationPolicy", {"name": "DC1", "safety_stock": 2, "overrides": {"SKU-9": 0}}),
]
REAL_BYTES = [(name, CODEC.encode(name, record)) for name, record in REAL]


def test_the_real_records_are_accepted_whole():
    """The corpus the cuts start from is valid: every record passes every check."""
    for name, record in REAL:
        back = CODEC.decode(name, CODEC.encode(name, record))
        if name == "InventoryEvent":
            assert normalize(back, ITEM, DEFAULT)["qty"] > -10**6
        elif name == "Item":
            check_item(back, DEFAULT)
        else:
            key = ("channel:" if name == "ChannelPolicy" else "location:") + back["name"]
            check_record(key, back, DEFAULT)


# --- bytes that are not (this) Avro ---------------------------------------------------------


@HOSTILE
@given(name=st.sampled_from(NAMES), data=st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"\x00" + b),  # the magic byte, then anything
    st.tuples(st.sampled_from(sorted(IDS.values())), st.binary(max_size=200)).map(
        lambda t: HEADER.pack(MAGIC, t[0]) + t[1]),  # a known schema id, then random bytes
))
def test_random_bytes_decode_or_raise_decode_error(name, data):
    through(name, data)


@QUICK
@given(index=st.integers(0, len(REAL_BYTES) - 1), magic=st.integers(1, 255))
def test_a_wrong_magic_byte_is_a_decode_error(index, magic):
    name, data = REAL_BYTES[index]
    with pytest.raises(DecodeError):
        CODEC.decode(name, bytes([magic]) + data[1:])


@QUICK
@given(index=st.integers(0, len(REAL_BYTES) - 1),
       schema_id=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from(sorted(IDS.values()))))
def test_an_unknown_or_foreign_schema_id_is_a_decode_error(index, schema_id):
    name, data = REAL_BYTES[index]
    relabelled = HEADER.pack(MAGIC, schema_id) + data[HEADER.size:]
    if schema_id == IDS[name]:
        assert CODEC.decode(name, relabelled) == CODEC.decode(name, data)
    else:  # not a schema of ours, or another record's: never read as this one
        with pytest.raises(DecodeError):
            CODEC.decode(name, relabelled)


def test_empty_short_and_none_values_are_decode_errors():
    for name in NAMES:
        for data in (None, b"", b"\x00", b"\x00\x00\x00\x00", HEADER.pack(MAGIC, IDS[name])):
            with pytest.raises(DecodeError):
                CODEC.decode(name, data)


def test_real_records_cut_at_every_length():
    """A truncated body is refused (or, if what is left still reads, goes through the checks)."""
    for name, data in REAL_BYTES:
        for cut in range(len(data)):
            through(name, data[:cut])


@HOSTILE
@given(index=st.integers(0, len(REAL_BYTES) - 1), flips=st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_real_records_with_corrupted_bytes(index, flips):
    name, data = REAL_BYTES[index]
    body = bytearray(data)
    for at, value in flips:
        body[HEADER.size + at % (len(body) - HEADER.size)] = value  # the header stays: the body is read
    through(name, bytes(body))


@HOSTILE
@given(index=st.integers(0, len(REAL_BYTES) - 1), junk=st.binary(min_size=1, max_size=8),
       at=st.integers(0, 10**6))
def test_strings_that_are_not_utf8(index, junk, at):
    """A string of the record replaced by the same number of arbitrary bytes (its length
    prefix still right): invalid UTF-8, NULs, overlong forms."""
    name, data = REAL_BYTES[index]
    body = data[HEADER.size:]
    start = at % len(body)
    through(name, framed(name, body[:start] + junk + body[start + len(junk):]))


# --- records the schemas allow, with hostile values -----------------------------------------


@HOSTILE
@given(record=EVENT, item=ITEM_RECORD)
def test_hostile_events_are_applied_or_refused(record, item):
    data = only((OverflowError, ValueError), CODEC.encode, "InventoryEvent", record)  # fastavro's range checks
    if data is REFUSED:
        return
    event = decoded("InventoryEvent", data)
    if event is not None:
        through_event(event, [None, ITEM, decoded("Item", CODEC.encode("Item", item))])


@HOSTILE
@given(record=ITEM_RECORD)
def test_hostile_items_raise_only_item_error(record):
    through("Item", CODEC.encode("Item", record))


@HOSTILE
@given(record=CHANNEL, key=st.one_of(st.none(), st.none(), st.sampled_from(["channel:", "location:", "channel:amazon", ""]),
                                     TEXT))
def test_hostile_channel_policies_raise_only_policy_error(record, key):
    through("ChannelPolicy", CODEC.encode("ChannelPolicy", record), key)


@HOSTILE
@given(record=LOCATION, key=st.one_of(st.none(), st.none(), st.sampled_from(["location:", "channel:", "location:DC1", ""]),
                                      TEXT))
def test_hostile_location_policies_raise_only_policy_error(record, key):
    through("LocationPolicy", CODEC.encode("LocationPolicy", record), key)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, 100.00000000000001, 1e308])
def test_a_non_finite_or_out_of_range_allocation_or_interval_is_refused(value):
    channel = dict(REAL[8][1], rule=dict(REAL[8][1]["rule"], allocation_percent=value))
    with pytest.raises(PolicyError):
        check_record("channel:amazon", CODEC.decode("ChannelPolicy", CODEC.encode("ChannelPolicy", channel)))
    channel = dict(REAL[8][1], publish_interval=value if value != 100.00000000000001 else 3600.0000000000005)
    with pytest.raises(PolicyError):
        check_record("channel:amazon", CODEC.decode("ChannelPolicy", CODEC.encode("ChannelPolicy", channel)))


@HOSTILE
@given(entries=st.dictionaries(
    st.one_of(st.binary(max_size=24),
              st.sampled_from([b"channel:\xff\xfe", b"location:\xc3\x28", b"\xed\xa0\x80", b"channel:amazon",
                               b"location:DC1", b"location:amazon", b"channel:DC1"])),
    st.one_of(st.binary(max_size=40), st.sampled_from([data for _, data in REAL_BYTES])),
    max_size=6))
def test_policies_from_hostile_keys_and_values_never_raise(entries):
    """Keys that are not UTF-8, values of another record or none: left out, the rest in force."""
    only((), decode_policies, entries, CODEC)


# --- what an accepted event sends on must be accepted where it arrives ---------------------


@HOSTILE
@example(record=valid_event(type="TransferShipped", to_location="DC2", event_id="e" * 125))
@example(record=valid_event(type="TransferShipped", to_location="DC\x01"))
@example(record=valid_event(type="TransferShipped", location="L" * 125, to_location="DC2"))
@given(record=mutated(
    st.fixed_dictionaries({**EVENT_FIELDS, **BY_TYPE["TransferShipped"], "type": st.just("TransferShipped")}),
    {name: HOSTILE_EVENT_FIELDS[name] for name in ("event_id", "sku", "location", "to_location", "qty", "uom",
                                                   "source", "source_seq", "occurred_at", "correlation_id")},
    most=1))
def test_the_inbound_half_of_an_accepted_transfer_is_accepted_at_its_destination(record):
    """A TransferShipped is applied at its origin (on_hand leaves) and its inbound half is sent
    through inventory.events to the destination: if the destination refused it, the units would
    vanish from every position. Whatever the origin accepts, the destination must accept."""
    data = only((OverflowError, ValueError), CODEC.encode, "InventoryEvent", record)
    if data is REFUSED:
        return
    decoded_event = decoded("InventoryEvent", data)
    if decoded_event is None:
        return
    event = only((InvalidEvent, OverLimit), normalize, decoded_event, ITEM, DEFAULT)
    if event is REFUSED:
        return
    for inbound in follow_ups(event, origin_offset=41):
        sent = CODEC.encode("InventoryEvent", inbound)  # as agents/locations sends it
        arrived = CODEC.decode("InventoryEvent", sent)
        try:
            normalize(arrived, None, DEFAULT)
        except (InvalidEvent, OverLimit) as err:
            raise AssertionError(
                f"the origin applied TransferShipped {_short(event)}, but its inbound half is refused at "
                f"{inbound['location']!r}: {type(err).__name__}: {err}") from None
