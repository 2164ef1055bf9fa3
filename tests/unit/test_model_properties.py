"""Property tests of the inventory model: random streams of valid events for ONE position.

The streams mix every event type with small quantities, a few reservation ids (some never
requested) and a few sources whose absolute events carry sequence numbers (or not), so
rejections, clamps, stale counts, negative on_hand and received-ahead transfers all occur.
"""

from __future__ import annotations

import copy

import orjson

from hypothesis import given, settings, strategies as st

from tables import keys, position_records
from tables.model import DUPLICATE, REDELIVERED, STALE, apply
from tables.position import Position, Reservation

T0 = 1_795_600_800_000
SOURCES = ["erp", "wms", "3pl"]
RIDS = ["r1", "r2", "r3", "r4"]
NON_NEGATIVE = ("quarantined", "damaged", "held", "reserved", "picked", "incoming", "received_ahead")

qty = st.integers(1, 5)
rid = st.sampled_from(RIDS)
maybe_rid = st.one_of(st.none(), rid)
seq = st.one_of(st.none(), st.integers(0, 6))
at = st.integers(0, 30).map(lambda d: T0 + d)
returnable = st.sampled_from(["restockable", "quarantine", "refurbish", "damaged"])


def kind(type_: str, **fields) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"type": st.just(type_), **fields})


RESERVE = kind("ReserveRequested", qty=qty, reservation_id=rid,
               channel=st.sampled_from(["web", "b2b"]), order_id=st.just("o-1"),
               expires_at=st.one_of(st.none(), at))
PICK_OR_SHIP_RESERVED = st.one_of(
    kind("PickConfirmed", qty=qty, reservation_id=rid),
    kind("ShipmentPosted", qty=qty, reservation_id=rid),
)

# Receipts, requests and reserved picks/shipments are weighted up so that reservations are
# accepted, picked, shipped and released often, not only rejected or unknown.
EVENT = st.one_of(
    kind("Receipt", qty=qty),
    kind("Receipt", qty=st.integers(1, 10)),
    RESERVE,
    RESERVE,
    PICK_OR_SHIP_RESERVED,
    kind("Adjustment", qty=st.integers(-5, 5).map(lambda q: q or 1), reason=st.just("fix")),
    kind("CycleCount", qty=st.integers(0, 15), source=st.sampled_from(SOURCES),
         source_seq=seq, occurred_at=at),
    kind("Snapshot", qty=st.integers(0, 15), source=st.sampled_from(SOURCES),
         source_seq=seq, occurred_at=at),
    kind("ReserveRequested", qty=qty, reservation_id=rid, channel=st.just("web"),
         order_id=st.just("o-2")),
    kind("ReservationReleased", reservation_id=rid, qty=st.one_of(st.none(), qty)),
    kind("ReservationExpired", reservation_id=rid),
    kind("PickConfirmed", qty=qty, reservation_id=maybe_rid),
    kind("ShipmentPosted", qty=qty, reservation_id=maybe_rid),
    kind("ReturnReceived", qty=qty, disposition=returnable),
    kind("DispositionChanged", qty=qty, from_disposition=returnable,
         disposition=st.sampled_from(["restockable", "quarantine", "refurbish", "damaged",
                                      "scrapped"])),
    kind("HoldPlaced", qty=qty),
    kind("HoldReleased", qty=qty),
    kind("TransferShipped", qty=qty, to_location=st.just("WH2")),
    kind("TransferInbound", qty=qty, from_location=st.just("WH2")),
    kind("TransferReceived", qty=qty, from_location=st.just("WH2")),
)


def complete(i: int, partial: dict) -> dict:
    """Common fields; event ids are unique per stream position."""
    event = {
        "event_id": f"e{i}",
        "sku": "SKU-1",
        "location": "WH1",
        "qty": None,
        "source": "wms",
        "source_seq": None,
        "occurred_at": T0 + i,
        "correlation_id": f"c{i}",
    }
    event.update(partial)
    return event


@st.composite
def streams(draw, max_size: int = 30) -> list[dict]:
    # Draw the length first: left to itself, st.lists keeps most streams very short.
    size = draw(st.integers(0, max_size))
    parts = draw(st.lists(EVENT, min_size=size, max_size=size))
    return [complete(i, p) for i, p in enumerate(parts)]


@st.composite
def starts(draw) -> Position:
    return Position(
        "SKU-1", "WH1",
        on_hand=draw(st.integers(0, 20)),
        incoming=draw(st.integers(0, 4)),
        safety_stock=draw(st.integers(0, 3)),
    )


@st.composite
def with_redeliveries(draw):
    """A stream, a dedupe window and a delivery order in which earlier events are delivered
    again (same event_id) at random later points, each while its id is still in the window."""
    events = draw(streams())
    window = draw(st.sampled_from([3, 8, 200]))
    n = len(events)
    after: dict[int, list[int]] = {}
    if n:
        for _ in range(draw(st.integers(0, n))):
            i = draw(st.integers(0, n - 1))
            # The window holds the last `window` ids applied: original i is still there after
            # originals i .. i+window-1 (repeats are never remembered).
            k = draw(st.integers(i, min(n - 1, i + window - 1)))
            after.setdefault(k, []).append(i)
    delivery: list[tuple[int, bool]] = []  # (index into events, is_redelivery)
    for k in range(n):
        delivery.append((k, False))
        delivery.extend((i, True) for i in after.get(k, []))
    return events, window, delivery


def check_invariants(p: Position) -> None:
    for name in NON_NEGATIVE:
        assert getattr(p, name) >= 0, (name, p)
    assert p.ats >= 0, p
    assert p.reserved == sum(r.unpicked for r in p.reservations.values()), p
    for r in p.reservations.values():
        assert r.unpicked >= 0 and r.picked >= 0 and not r.is_empty(), r


PROPS = settings(max_examples=200, deadline=None)


@PROPS
@given(start=starts(), case=with_redeliveries())
def test_redeliveries_within_the_window_change_nothing(start, case):
    events, window, delivery = case
    once = copy.deepcopy(start)
    first_outcomes = [apply(once, copy.deepcopy(e), window)[1] for e in events]

    twice = copy.deepcopy(start)
    for index, again in delivery:
        before = copy.deepcopy(twice)
        _, out = apply(twice, copy.deepcopy(events[index]), window)
        if again:
            assert out.status == DUPLICATE
            assert not out.changed and out.flags == [] and out.drift is None
            assert twice == before
            if events[index]["type"] == "ReserveRequested":
                assert out.answer == first_outcomes[index].answer
        else:
            assert out == first_outcomes[index]
    assert twice == once


@PROPS
@given(start=starts(), events=streams(), window=st.sampled_from([3, 200]))
def test_buckets_never_negative_and_reservations_add_up(start, events, window):
    p = copy.deepcopy(start)
    check_invariants(p)
    for e in events:
        before = copy.deepcopy(p)
        _, out = apply(p, e, window)
        check_invariants(p)
        assert p.version == before.version + (1 if out.changed else 0)
        assert out.changed == (p.buckets() != before.buckets())
        if out.status in (STALE, DUPLICATE):
            assert p.buckets() == before.buckets()
        assert len(p.recent_ids) <= window
        assert len(p.answers) <= window


@PROPS
@given(start=starts(), events=streams(), window=st.sampled_from([3, 200]))
def test_ats_is_never_negative(start, events, window):
    p = copy.deepcopy(start)
    for e in events:
        apply(p, e, window)
        assert p.ats >= 0
        assert p.view()["ats"] == p.ats


@PROPS
@given(start=starts(), events=streams())
def test_reserved_is_the_sum_of_open_unpicked_units(start, events):
    p = copy.deepcopy(start)
    for e in events:
        apply(p, e)
        assert p.reserved == sum(r.unpicked for r in p.reservations.values())


class Table(dict):
    """The positions table as a changelog would rebuild it: key -> bytes."""

    def write(self, plan: list) -> None:
        for key, value in plan:
            if value is None:
                self.pop(key, None)
            else:
                self[key] = value


KEY = b"SKU-1@WH1"


def engine_step(table: Table, event: dict, window: int, offset: int | None = None, cut: int | None = None):
    """As the location agent applies and stores an event (its first `cut` writes only: a crash)."""
    position = Position.from_bytes(table[KEY])
    rid = event.get("reservation_id")
    if rid and keys.reservation(KEY, rid) in table:
        position.reservations[rid] = Reservation.from_bytes(table[keys.reservation(KEY, rid)])
    position, outcome = apply(position, event, window, None if offset is None else (0, offset))
    plan = position_records.writes(KEY, position, outcome.touched is not None or outcome.status == REDELIVERED)
    table.write(plan[:cut])
    return position, outcome


def reservation_records(table: Table) -> dict[str, bytes]:
    prefix = keys.reservation(KEY, "")
    return {k[len(prefix):].decode(): v for k, v in table.items() if k.startswith(prefix)}


@PROPS
@given(start=starts(), events=streams(), window=st.sampled_from([3, 200]))
def test_storing_reservations_apart_after_every_step_changes_nothing(start, events, window):
    live = copy.deepcopy(start)
    table = Table({KEY: start.to_bytes()})
    for e in events:
        _, expected = apply(live, copy.deepcopy(e), window)
        _, got = engine_step(table, copy.deepcopy(e), window)
        assert got == expected
        assert table[KEY] == live.to_bytes()
        assert reservation_records(table) == {rid: orjson.dumps(r) for rid, r in live.reservations.items()}


@PROPS
@given(start=starts(), events=streams(), data=st.data())
def test_a_crash_anywhere_in_an_event_s_writes_is_repaired_by_the_redelivery(start, events, data):
    """Kafka redelivers from the last committed offset; the changelog kept a prefix of the
    writes. Replaying from there gives exactly the state of a run without a crash."""
    window = 200
    clean = Table({KEY: start.to_bytes()})
    for offset, e in enumerate(events):
        engine_step(clean, copy.deepcopy(e), window, offset)
    if not events:
        return
    crashed_at = data.draw(st.integers(0, len(events) - 1), label="crash at event")
    committed = data.draw(st.integers(0, crashed_at), label="committed offset")
    table = Table({KEY: start.to_bytes()})
    for offset, e in enumerate(events[:crashed_at]):
        engine_step(table, copy.deepcopy(e), window, offset)
    cut = data.draw(st.integers(0, 4), label="writes kept of the crashing event")
    engine_step(table, copy.deepcopy(events[crashed_at]), window, crashed_at, cut)
    for offset in range(committed, len(events)):  # the redelivery, then the rest
        engine_step(table, copy.deepcopy(events[offset]), window, offset)
    assert table == clean


@PROPS
@given(start=starts(), events=streams())
def test_reserve_requests_are_answered_consistently(start, events):
    """A reservation id keeps its first answer while it is remembered."""
    p = copy.deepcopy(start)
    first: dict[str, dict] = {}
    for e in events:
        _, out = apply(p, e)
        if e["type"] != "ReserveRequested":
            continue
        assert out.answer is not None
        assert out.answer["reservation_id"] == e["reservation_id"]
        first.setdefault(e["reservation_id"], out.answer)
        assert out.answer == first[e["reservation_id"]]
        if out.answer["decision"] == "rejected":
            assert out.answer["ats"] < out.answer["qty"]
