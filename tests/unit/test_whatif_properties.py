"""Property tests of the what-if (tables/whatif.py): random histories of one SKU at three
locations (every event type, a few reservation ids, orders from channels with and without a
policy) under random policies. Only what holds by construction is asserted.
"""

from __future__ import annotations

from itertools import permutations

from hypothesis import given, settings, strategies as st

from tables.events import normalize
from tables.policy import parse_policies
from tables.position import BUCKETS
from tables.replay import fold
from tables.whatif import TALLY_FIELDS, replay_sku

T0 = 1_795_600_800_000
MINUTE = 60_000
LOCATIONS = ["WH1", "WH2", "WH3"]
CHANNELS = ["web", "amazon", "b2b"]
PROPS = settings(max_examples=300, deadline=None)

qty = st.integers(1, 6)
rid = st.sampled_from(["r1", "r2", "r3", "r4", "r5"])
location = st.sampled_from(LOCATIONS)


def kind(type_: str, **fields) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"type": st.just(type_), "location": location, **fields})


ORDER = kind("ReserveRequested", qty=qty, reservation_id=rid, channel=st.sampled_from(CHANNELS + ["phone"]),
             order_id=st.just("o"))
EVENT = st.one_of(
    kind("CycleCount", qty=st.integers(0, 20)),
    kind("Receipt", qty=st.integers(1, 12)),
    ORDER, ORDER, ORDER,
    kind("PickConfirmed", qty=qty, reservation_id=st.one_of(st.none(), rid)),
    kind("ShipmentPosted", qty=qty, reservation_id=st.one_of(st.none(), rid)),
    kind("ReservationReleased", qty=st.one_of(st.none(), qty), reservation_id=rid),
    kind("ReservationExpired", qty=st.none(), reservation_id=rid),
    kind("Adjustment", qty=st.integers(-4, 4).filter(bool), reason=st.just("count")),
    kind("HoldPlaced", qty=qty),
    kind("HoldReleased", qty=qty),
    kind("ReturnReceived", qty=qty, disposition=st.sampled_from(["restockable", "quarantine", "damaged"])),
    kind("DispositionChanged", qty=qty, from_disposition=st.just("quarantine"),
         disposition=st.sampled_from(["restockable", "damaged", "scrapped"])),
    kind("TransferShipped", qty=qty, to_location=location),
    kind("TransferReceived", qty=qty, from_location=location),
)


@st.composite
def histories(draw, distinct_minutes: bool = False) -> tuple[list[dict], list[dict]]:
    """(records as `produce` reads them, the same normalized); times in whole minutes, with
    repeats and, unless distinct_minutes, out of order now and then; some events sent twice."""
    shapes = draw(st.lists(EVENT, min_size=1, max_size=40))
    gaps = draw(st.lists(st.integers(1 if distinct_minutes else -2, 20), min_size=len(shapes), max_size=len(shapes)))
    records, minute = [], 0
    for n, (shape, gap) in enumerate(zip(shapes, gaps)):
        if shape["type"] == "TransferShipped" and shape["to_location"] == shape["location"]:
            shape = {**shape, "to_location": LOCATIONS[LOCATIONS.index(shape["location"]) - 1]}
        minute = max(0, minute + gap) if distinct_minutes or n else 0
        record = {"event_id": f"e{n}", "sku": "S", "source": "wms", "occurred_at": T0 + minute * MINUTE,
                  **{k: v for k, v in shape.items() if v is not None}}
        records.append(record)
        if not distinct_minutes and draw(st.integers(0, 9)) == 0:
            records.append(dict(record))  # an upstream retry: same event id
    return records, [normalize(r, None) for r in records]


@st.composite
def policies(draw):
    """Channels over ordered subsets of the locations, every rule but include_incoming."""
    groups = [p for k in (1, 2, 3) for p in permutations(LOCATIONS, k)]
    channels = {}
    for name in draw(st.lists(st.sampled_from(CHANNELS), min_size=1, unique=True)):
        spec = {"locations": list(draw(st.sampled_from(groups)))}
        spec.update(draw(st.fixed_dictionaries({}, optional={
            "buffer": st.integers(0, 4), "allocation_percent": st.sampled_from([0, 33.3, 50, 80, 100]),
            "max_qty": st.integers(0, 15), "floor": st.integers(0, 4), "ring_fence": st.integers(0, 4)})))
        channels[name] = spec
    locations = {loc: {"safety_stock": draw(st.integers(0, 3))} for loc in LOCATIONS}
    return parse_policies({"channels": channels, "locations": locations})


def span(events: list[dict]) -> tuple[int, int]:
    times = [e["occurred_at"] for e in events]
    return min(times), max(times)


def tallies(shelf) -> dict:
    return {name: tuple(getattr(t, f) for f in TALLY_FIELDS) for name, t in shelf.tallies.items()}


@PROPS
@given(histories(), policies())
def test_stockstream_never_oversells_nor_shows_units_that_are_not_there(history, rules):
    # It shows the formula, never more than the free units at the channel's locations, at
    # every moment: an order it takes is always filled.
    shelf = replay_sku(history[1], rules, 0, *span(history[1]))
    for tally in shelf.tallies.values():
        assert tally.oversold == 0
        assert tally.exposed_unit_ms == 0


@PROPS
@given(histories(), policies(), st.sampled_from([1, 5, 15, 60, 24 * 60]))
def test_the_counts_add_up_whatever_the_sync(history, rules, sync_minutes):
    start, end = span(history[1])
    batch = replay_sku(history[1], rules, sync_minutes * MINUTE, start, end)
    live = replay_sku(history[1], rules, 0, start, end)
    for name in rules.channels:
        for tally in (batch.tallies[name], live.tallies[name]):
            assert tally.orders >= tally.accepted >= tally.oversold >= 0
            assert 0 <= tally.at_zero_with_stock_ms <= tally.at_zero_ms <= end - start
            assert tally.exposed_unit_ms >= 0
        assert batch.tallies[name].orders == live.tallies[name].orders  # the history's, whatever it was shown
    assert batch.unlisted_orders == live.unlisted_orders


@PROPS
@given(histories(distinct_minutes=True), policies())
def test_a_batch_that_syncs_between_any_two_events_is_stockstream(history, rules):
    start, end = span(history[1])
    batch = replay_sku(history[1], rules, MINUTE, start, end)
    live = replay_sku(history[1], rules, 0, start, end)
    assert tallies(batch) == tallies(live)
    assert {loc: p.buckets() for loc, p in batch.positions.items()} == \
        {loc: p.buckets() for loc, p in live.positions.items()}


@PROPS
@given(histories())
def test_with_no_policy_for_its_channels_the_history_is_replayed_as_the_engine_folds_it(history):
    rules = parse_policies({"channels": {"elsewhere": {"locations": ["WH9"]}}})
    shelf = replay_sku(history[1], rules, 15 * MINUTE, *span(history[1]))
    folded = fold(history[0], {})
    for key, position in folded.items():
        ours = shelf.positions[position.location]
        assert [getattr(ours, b) for b in BUCKETS] == [getattr(position, b) for b in BUCKETS], key
