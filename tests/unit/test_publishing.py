"""When channel deltas are published (DESIGN §4): decreases at once, increases coalesced."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import given, settings, strategies as st

from tables.policy import parse_policies
from tables.publishing import Cause, ChannelOutput, decide, flush
from tables.sku_state import SkuState, apply_location, cause_in, cause_of, current, due, recompute

CAUSE = Cause("e1", "c1")


def test_the_first_value_goes_out_at_once():
    out = ChannelOutput()
    delta = decide(out, "web", 10, now_ms=0, interval_ms=2000, cause=CAUSE)
    assert (delta.available, delta.previous, delta.version, delta.event_id) == (10, None, 1, "e1")


def test_a_decrease_goes_out_at_once_and_drops_a_pending_increase():
    out = ChannelOutput()
    decide(out, "web", 10, 0, 2000, CAUSE)
    assert decide(out, "web", 15, 100, 2000, CAUSE) is None and out.pending == 15
    delta = decide(out, "web", 7, 200, 2000, Cause("e3", None))
    assert (delta.available, delta.previous, delta.version) == (7, 10, 2)
    assert out.pending is None and out.due is None


def test_increases_wait_for_the_interval_and_the_latest_wins():
    out = ChannelOutput()
    decide(out, "web", 10, 0, 2000, CAUSE)
    assert decide(out, "web", 11, 100, 2000, Cause("e2", None)) is None
    assert decide(out, "web", 14, 900, 2000, Cause("e3", None)) is None
    assert out.due == 2100  # from the first increase, not pushed back by later ones
    assert flush(out, "web", 2099) is None
    delta = flush(out, "web", 2100)
    assert (delta.available, delta.previous, delta.version, delta.event_id) == (14, 10, 2, "e3")
    assert flush(out, "web", 9999) is None


def test_back_to_the_published_value_cancels_the_pending_increase():
    out = ChannelOutput()
    decide(out, "web", 10, 0, 2000, CAUSE)
    decide(out, "web", 12, 10, 2000, CAUSE)
    assert decide(out, "web", 10, 20, 2000, CAUSE) is None
    assert out.pending is None and flush(out, "web", 10_000) is None


def test_an_interval_of_zero_publishes_every_change():
    out = ChannelOutput()
    decide(out, "web", 10, 0, 0, CAUSE)
    assert decide(out, "web", 11, 1, 0, CAUSE).available == 11


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 500)), min_size=1, max_size=60))
def test_what_is_published_never_shows_more_than_the_truth_for_longer_than_an_interval(steps):
    """Every decrease is published at once: after each step the published value is at most the
    current value, unless an increase is pending (then it is below it). Versions step by one."""
    out, now, versions = ChannelOutput(), 0, []
    for value, gap in steps:
        now += gap
        for delta in filter(None, [flush(out, "web", now), decide(out, "web", value, now, 2000, CAUSE)]):
            versions.append(delta.version)
        assert out.published <= value or out.published is None
        assert out.pending is None or out.pending > out.published
    assert versions == list(range(1, len(versions) + 1))


POLICIES = parse_policies({"channels": {"web": {"locations": ["DC1"], "publish_interval": 2},
                                        "b2b": {"locations": ["DC1"], "ring_fence": 3}}})


def location(version: int, on_hand: int, reserved: int = 0) -> dict:
    return {"location": "DC1", "on_hand": on_hand, "quarantined": 0, "damaged": 0, "held": 0,
            "reserved": reserved, "picked": 0, "incoming": 0, "version": version,
            "event_id": f"e{version}", "correlation_id": None, "occurred_at": 1000 * version}


def test_sku_state_applies_newer_location_records_only_and_recomputes_every_channel():
    state = SkuState("SKU-1")
    assert apply_location(state, location(1, 10))
    values, deltas = recompute(state, POLICIES, None, now_ms=0, cause=Cause("e1", None))
    assert values == {"web": 7, "b2b": 10}  # web does not see b2b's 3 fenced units
    assert {d.channel: d.available for d in deltas} == {"web": 7, "b2b": 10}
    assert not apply_location(state, location(1, 99))  # a repeat
    assert apply_location(state, location(2, 20))
    values, deltas = recompute(state, POLICIES, None, now_ms=100, cause=Cause("e2", None))
    assert deltas == [] and state.next_due() == 100 + 2000  # both channels wait 2 s
    assert due(state, 2099) == []
    assert [d.available for d in due(state, 2100)] == [17, 20]
    assert state.next_due() is None
    assert {d.channel: (d.available, d.version) for d in current(state)} == {"web": (17, 2), "b2b": (20, 2)}


def test_sku_state_round_trips_through_bytes():
    state = SkuState("KIT-1", components={"A": {"web": 4}})
    apply_location(state, location(1, 10))
    recompute(state, POLICIES, [("A", 2)], 0, Cause("e1", None))
    assert SkuState.from_bytes(state.to_bytes()) == state
    assert state.outputs["web"].published == 2  # a kit: min over components of available // qty


def test_a_decrease_carries_the_times_of_the_change_behind_it():
    out = ChannelOutput()
    decide(out, "web", 10, 0, 2000, Cause("e1", None, 100, 150))
    delta = decide(out, "web", 4, 500, 2000, Cause("e2", None, 400, 450))
    assert (delta.occurred_at, delta.ingested_at) == (400, 450)


def test_a_coalesced_increase_is_timed_from_its_oldest_change():
    """The channel was behind since the first increase it has not been shown: its real lag."""
    out = ChannelOutput()
    decide(out, "web", 10, 0, 2000, CAUSE)
    decide(out, "web", 12, 100, 2000, Cause("e2", None, 90, 95))
    decide(out, "web", 15, 900, 2000, Cause("e3", None, 890, 895))
    delta = flush(out, "web", 2100)
    assert (delta.available, delta.event_id, delta.occurred_at, delta.ingested_at) == (15, "e3", 90, 95)
    assert out.pending_since is None


def test_an_increase_that_went_back_starts_its_times_again():
    out = ChannelOutput()
    decide(out, "web", 10, 0, 2000, CAUSE)
    decide(out, "web", 12, 100, 2000, Cause("e2", None, 90, 95))
    decide(out, "web", 10, 200, 2000, Cause("e3", None, 190, 195))  # back where it was
    assert out.pending_since is None
    decide(out, "web", 11, 300, 2000, Cause("e4", None, 290, 295))
    assert (flush(out, "web", 2300).occurred_at, out.pending_since) == (290, None)


def test_what_is_sent_again_or_made_by_a_policy_is_not_timed():
    state = SkuState("SKU-1")
    apply_location(state, {**location(1, 10), "ingested_at": 1500})
    _, deltas = recompute(state, POLICIES, None, 0, cause_of(state))
    assert deltas and all(d.occurred_at is None and d.ingested_at is None for d in deltas)
    assert all(d.occurred_at is None for d in current(state))


def test_a_location_record_s_times_become_its_cause_s_in_epoch_ms():
    at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    record = {**location(3, 10), "occurred_at": at, "ingested_at": at + timedelta(milliseconds=250)}
    ms = int(at.timestamp() * 1000)
    assert cause_in(record) == Cause("e3", None, ms, ms + 250)
    assert cause_in({**record, "ingested_at": None}).ingested_at is None  # written by an older worker


def test_a_pending_increase_keeps_its_times_through_bytes_and_old_records_load():
    state = SkuState("SKU-1")
    apply_location(state, location(1, 10))
    recompute(state, POLICIES, None, 0, CAUSE)
    apply_location(state, location(2, 20))
    recompute(state, POLICIES, None, 100, Cause("e2", None, 90, 95))
    again = SkuState.from_bytes(state.to_bytes())
    assert again.outputs["web"].pending_since == [90, 95]
    old = orjson.loads(state.to_bytes())
    for out in old["outputs"].values():
        del out["pending_since"]
    assert SkuState.from_bytes(orjson.dumps(old)).outputs["web"].pending_since is None
