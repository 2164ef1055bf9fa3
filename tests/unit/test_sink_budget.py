"""agents/sinks/budget.py: a token bucket never lets more than capacity + rate × t through in
any window of t seconds, follows what the API reports, and pauses when told."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agents.sinks.budget import TokenBucket


def test_a_full_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket.full(rate=5, capacity=5, now=0)
    for _ in range(5):
        assert bucket.wait(1, 0) == 0
        bucket.spend(1, 0)
    assert bucket.wait(1, 0) == pytest.approx(0.2)
    assert bucket.wait(1, 0.2) == pytest.approx(0)


def test_the_api_s_own_figures_replace_ours():
    bucket = TokenBucket.full(rate=100, capacity=2000, now=0)
    bucket.observe(available=50, rate=100, capacity=2000, now=1)
    assert bucket.wait(150, 1) == pytest.approx(1.0)


def test_a_pause_waits_as_long_as_the_api_said_then_refills_from_empty():
    bucket = TokenBucket.full(rate=10, capacity=10, now=0)
    bucket.pause(2.0, now=0)
    assert bucket.wait(1, 0) == pytest.approx(2.1)
    assert bucket.wait(1, 2.1) == pytest.approx(0)


def test_nonsense_budgets_are_refused():
    with pytest.raises(ValueError):
        TokenBucket.full(rate=0, capacity=1, now=0)


@settings(max_examples=300, deadline=None)
@given(rate=st.floats(0.5, 50), capacity=st.integers(1, 40),
       gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=200), costs=st.integers(1, 3))
def test_a_sender_that_obeys_wait_never_exceeds_the_budget(rate, capacity, gaps, costs):
    assume(costs <= capacity)  # a request costing more than the bucket holds is the sender's bug
    bucket = TokenBucket.full(rate=rate, capacity=capacity, now=0)
    now, sent = 0.0, []
    for gap in gaps:
        now += gap
        now += bucket.wait(costs, now)
        bucket.spend(costs, now)
        sent.append((now, costs))
    for start, _ in sent:  # every window starting at a send
        for window in (0.5, 1.0, 3.0):
            used = sum(c for t, c in sent if start <= t < start + window)
            assert used <= capacity + rate * window + 1e-6
