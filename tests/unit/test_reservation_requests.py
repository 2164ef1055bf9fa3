"""The reservation service's record (tables/reservation_requests.py): plan, asks, answers,
allocations, release; with the positions played by a small simulation."""

from __future__ import annotations

import copy

from hypothesis import given, settings, strategies as st

from tables.reservation_requests import (
    ACCEPTED, CLOSED, PENDING, REJECTED, Ask, Release, RequestRecord, conflicts, decision, on_allocation,
    on_answer, open_request, release, scoped, unscoped, view,
)

T0 = 1_795_600_800_000


def request(qty: int, partial: bool = False, location: str | None = None, **extra) -> dict:
    return {"sku": "SKU-1", "qty": qty, "channel": "web", "order_id": "o-1", "location": location,
            "ttl_seconds": None, "allow_partial": partial, **extra}


def answer(decision_: str, qty: int, ats: int = 0, offset: int = 1) -> dict:
    return {"decision": decision_, "qty": qty, "ats": ats, "offset": offset}


def test_ids_are_scoped_to_the_client_and_split_back():
    assert scoped("web", "r/1") == "web/r/1"
    assert unscoped("web/r/1") == ("web", "r/1")


def test_the_best_location_by_hint_is_asked_first_for_the_whole_quantity():
    record, commands = open_request("web", "r1", request(5), ["A", "B", "C"], {"A": 3, "B": 9, "C": 5}, T0, None)
    assert commands == [Ask("B", 5)] and record.state == PENDING and record.order == ["B", "C", "A"]
    assert decision(record) is None
    assert on_answer(record, "B", answer(ACCEPTED, 5), T0 + 1) == []
    assert record.state == ACCEPTED and record.decided_at == T0 + 1
    assert decision(record) == {"reservation_id": "r1", "reference": "web/r1", "status": ACCEPTED, "qty": 5,
                                "allocations": [{"location": "B", "qty": 5}]}


def test_a_rejection_moves_on_to_the_next_location_and_every_one_is_asked_before_a_rejection():
    record, _ = open_request("web", "r1", request(5), ["A", "B", "C"], {"A": 3, "B": 9, "C": 5}, T0, None)
    assert on_answer(record, "B", answer(REJECTED, 5, ats=2), T0) == [Ask("C", 5)]
    assert on_answer(record, "C", answer(REJECTED, 5, ats=4), T0) == [Ask("A", 5)]  # its hint may be old
    assert on_answer(record, "A", answer(REJECTED, 5, ats=3), T0) == []
    assert record.state == REJECTED and record.closed_at == T0
    assert decision(record)["available"] == {"B": 2, "C": 4, "A": 3}


def test_a_stale_hint_only_orders_the_locations():
    record, commands = open_request("web", "r1", request(5), ["A", "B"], {"A": 1, "B": 2}, T0, None)
    assert commands == [Ask("B", 5)]
    assert on_answer(record, "B", answer(ACCEPTED, 5), T0) == []  # stock arrived since the hint
    assert record.state == ACCEPTED


def test_unknown_hints_ask_every_location_in_the_channel_order():
    record, commands = open_request("web", "r1", request(5), ["A", "B"], {}, T0, None)
    assert commands == [Ask("A", 5)]
    assert on_answer(record, "A", answer(REJECTED, 5), T0) == [Ask("B", 5)]


def test_a_partial_request_is_split_by_the_hints_and_takes_what_the_positions_give():
    record, commands = open_request("web", "r1", request(10, partial=True), ["A", "B", "C"],
                                    {"A": 3, "B": 6, "C": 0}, T0, None)
    assert commands == [Ask("B", 6)]
    assert on_answer(record, "B", answer(ACCEPTED, 6), T0) == [Ask("A", 3)]
    assert on_answer(record, "A", answer(REJECTED, 3, ats=1), T0) == [Ask("C", 4)]  # C is asked for the rest
    assert on_answer(record, "C", answer(REJECTED, 4, ats=0), T0) == []
    assert record.state == ACCEPTED and decision(record)["qty"] == 6


def test_answers_that_repeat_or_belong_to_no_ask_change_nothing():
    record, _ = open_request("web", "r1", request(5), ["A", "B"], {}, T0, None)
    on_answer(record, "A", answer(REJECTED, 5), T0)
    before = copy.deepcopy(record)
    assert on_answer(record, "A", answer(ACCEPTED, 5), T0) == []  # a repeat of A, another story
    assert on_answer(record, "C", answer(ACCEPTED, 5), T0) == []  # never asked
    assert record == before


def test_allocations_follow_picks_and_closes_and_the_reservation_closes_with_the_last():
    record, _ = open_request("web", "r1", request(7, partial=True), ["A", "B"], {"A": 5, "B": 2}, T0, None)
    on_answer(record, "A", answer(ACCEPTED, 5, offset=10), T0)
    on_answer(record, "B", answer(ACCEPTED, 2, offset=3), T0)
    assert on_allocation(record, "A", {"offset": 11, "unpicked": 2, "picked": 3, "open": True}, T0)
    assert not on_allocation(record, "A", {"offset": 9, "unpicked": 5, "picked": 0, "open": True}, T0)  # older
    assert not on_allocation(record, "C", {"offset": 99, "unpicked": 0, "picked": 0, "open": False}, T0)
    assert release(record) == [Release("A"), Release("B")] and record.releasing  # unpicked units only
    on_allocation(record, "B", {"offset": 4, "unpicked": 0, "picked": 0, "open": False}, T0 + 5)
    assert record.state == ACCEPTED and release(record) == [Release("A")]
    on_allocation(record, "A", {"offset": 12, "unpicked": 0, "picked": 3, "open": True}, T0 + 7)
    assert record.state == ACCEPTED and release(record) == []  # picked units stay until shipped
    on_allocation(record, "A", {"offset": 13, "unpicked": 0, "picked": 0, "open": False}, T0 + 9)
    assert record.state == CLOSED and record.closed_at == T0 + 9
    assert release(record) == []
    shown = view(record)
    assert shown["state"] == CLOSED and shown["qty"] == 7
    assert [(a["location"], a["state"]) for a in shown["allocations"]] == [("A", "closed"), ("B", "closed")]


def test_nothing_is_released_while_pending_and_a_rejected_request_holds_nothing():
    record, _ = open_request("web", "r1", request(5), ["A"], {}, T0, None)
    assert release(record) == [] and not record.releasing
    on_answer(record, "A", answer(REJECTED, 5), T0)
    assert release(record) == [] and view(record)["state"] == REJECTED


def test_a_retry_must_repeat_the_request():
    record, _ = open_request("web", "r1", request(5), ["A"], {}, T0, None)
    assert conflicts(record, request(5)) == []
    assert conflicts(record, request(6, location="A")) == ["qty", "location"]


def test_the_record_round_trips_through_bytes():
    record, _ = open_request("web", "r1", request(5, partial=True), ["A", "B"], {"A": 2}, T0, T0 + 60_000)
    on_answer(record, "A", answer(ACCEPTED, 2), T0)
    assert RequestRecord.from_bytes(record.to_bytes()) == record


# --- properties: the positions played by a simulation ------------------------------------------

LOCATIONS = ["A", "B", "C", "D"]


@st.composite
def cases(draw):
    stock = {loc: draw(st.integers(0, 8)) for loc in LOCATIONS}
    hints = {}
    for loc in LOCATIONS:
        kind = draw(st.sampled_from(["true", "wrong", "missing"]))
        if kind == "true":
            hints[loc] = stock[loc]
        elif kind == "wrong":
            hints[loc] = draw(st.integers(0, 8))
    return stock, hints, draw(st.integers(1, 12)), draw(st.booleans())


def play(stock: dict[str, int], hints: dict[str, int], qty: int, partial: bool, repeat: bool):
    """Run a request to its decision; each position accepts what its stock covers. With
    repeat, every answer is delivered twice (a redelivery)."""
    stock = dict(stock)
    record, commands = open_request("web", "r1", request(qty, partial), LOCATIONS, hints, T0, None)
    asked = []
    offset = 0
    while commands:
        (ask,) = commands
        assert isinstance(ask, Ask) and ask.location not in asked
        asked.append(ask.location)
        offset += 1
        if stock[ask.location] >= ask.qty:
            stock[ask.location] -= ask.qty
            reply = answer(ACCEPTED, ask.qty, offset=offset)
        else:
            reply = answer(REJECTED, ask.qty, ats=stock[ask.location], offset=offset)
        commands = on_answer(record, ask.location, reply, T0)
        if repeat:
            assert on_answer(record, ask.location, reply, T0) == []
    return record, asked


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_a_request_is_decided_asking_each_location_at_most_once_and_never_over(case):
    stock, hints, qty, partial = case
    record, asked = play(stock, hints, qty, partial, repeat=False)
    assert record.state in (ACCEPTED, REJECTED) and record.asking is None and asked
    held = {loc: h["qty"] for loc, h in record.held.items()}
    assert all(held[loc] <= stock[loc] for loc in held)
    total = sum(held.values())
    if partial:
        assert total <= qty
    else:
        assert total in (0, qty) and len(held) <= 1
    assert (record.state == ACCEPTED) == (total > 0)
    assert play(stock, hints, qty, partial, repeat=True)[0] == record  # redelivered answers change nothing


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_with_true_hints_a_request_gets_all_it_can(case):
    stock, _, qty, partial = case
    record, asked = play(stock, dict(stock), qty, partial, repeat=False)
    total = sum(h["qty"] for h in record.held.values())
    if partial:
        assert total == min(qty, sum(stock.values()))
    else:
        assert (total == qty) == any(s >= qty for s in stock.values())
        if total:
            assert len(asked) == 1  # the best location, which holds it all if any does


def test_an_answer_and_the_state_reported_with_it_at_the_same_offset_are_both_taken():
    record, _ = open_request("web", "r1", request(2), ["A"], {}, T0, None)
    on_answer(record, "A", answer(ACCEPTED, 2, offset=7), T0)
    # Redelivered after the reservation shipped: the answer is a repeat, its state is news.
    assert on_allocation(record, "A", {"offset": 7, "unpicked": 0, "picked": 0, "open": False}, T0 + 1)
    assert record.state == CLOSED
