"""The what-if (tables/whatif.py) on tiny histories whose answers are worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tables.events import normalize
from tables.policy import parse_policies
from tables.position import BUCKETS
from tables.whatif import by_sku, replay, replay_sku

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
T0_MS = 1_795_600_800_000
MINUTE = 60_000
SYNC = 15 * MINUTE
SHARED = parse_policies({"channels": {"web": {"locations": ["WH1"]}, "amazon": {"locations": ["WH1"]}}})
_ids = iter(range(10**9))


def ev(type_: str, minute: float, qty: int | None = 1, location: str = "WH1", sku: str = "S", **fields) -> dict:
    record = {"event_id": fields.pop("event_id", f"e{next(_ids)}"), "type": type_, "sku": sku,
              "location": location, "source": "wms", "occurred_at": T0 + timedelta(minutes=minute), "qty": qty}
    record.update(fields)
    return normalize(record, None)


def order(minute: float, qty: int, channel: str, rid: str, location: str = "WH1", **fields) -> dict:
    return ev("ReserveRequested", minute, qty, location, reservation_id=rid, channel=channel, order_id="o-" + rid,
              **fields)


def run(history: list[dict], sync_ms: int, policies=SHARED, end_minute: float | None = None):
    """One SKU's shelf after the history; the span ends at the last event, or at end_minute."""
    end = T0_MS + end_minute * MINUTE if end_minute is not None else max(e["occurred_at"] for e in history)
    return replay_sku(history, policies, sync_ms, T0_MS, int(end))


def counts(shelf, channel: str) -> tuple[int, int, int]:
    tally = shelf.tallies[channel]
    return tally.orders, tally.accepted, tally.oversold


def minutes(ms: int) -> float:
    return ms / MINUTE


# --- oversold, exposed, at zero ------------------------------------------------------------------

SELL_OUT = [
    ev("CycleCount", 0, 10),
    order(1, 10, "amazon", "a1"),  # amazon takes the lot
    order(6, 2, "web", "w1"),  # five minutes after the sell-out
]


def test_an_order_five_minutes_after_a_sell_out_oversells_under_a_15_minute_sync_only():
    batch, live = run(SELL_OUT, SYNC, end_minute=30), run(SELL_OUT, 0, end_minute=30)
    assert counts(batch, "web") == (1, 1, 1)  # web still showed 10: it took the order, nothing was there
    assert counts(live, "web") == (1, 0, 0)  # web showed 0 from the sell-out on
    assert counts(batch, "amazon") == counts(live, "amazon") == (1, 1, 0)
    assert batch.positions["WH1"].reserved == live.positions["WH1"].reserved == 10  # the oversold order holds nothing


def test_units_exposed_are_what_the_channel_shows_beyond_the_free_units_over_time():
    batch, live = run(SELL_OUT, SYNC, end_minute=30), run(SELL_OUT, 0, end_minute=30)
    # web: 10 shown over 0 free from minute 1 to 6, then 8 (its own sale counted down) to the sync at 15
    assert minutes(batch.tallies["web"].exposed_unit_ms) == 10 * 5 + 8 * 9
    assert batch.tallies["amazon"].exposed_unit_ms == 0  # it counted its own sale down to 0
    assert live.tallies["web"].exposed_unit_ms == live.tallies["amazon"].exposed_unit_ms == 0


def test_time_at_zero_is_how_long_the_channel_showed_zero():
    batch, live = run(SELL_OUT, SYNC, end_minute=30), run(SELL_OUT, 0, end_minute=30)
    assert minutes(batch.tallies["web"].at_zero_ms) == 15  # from the sync at 15
    assert minutes(live.tallies["web"].at_zero_ms) == 29  # from the sell-out at 1
    assert minutes(batch.tallies["amazon"].at_zero_ms) == 29  # its own count went to 0 at 1
    assert batch.tallies["web"].at_zero_with_stock_ms == live.tallies["web"].at_zero_with_stock_ms == 0


RESTOCK = [
    ev("CycleCount", 0, 0),
    ev("Receipt", 2, 10, source="erp"),
    order(5, 1, "web", "w1"),
]


def test_after_a_receipt_the_batch_shows_zero_with_stock_until_it_syncs_and_loses_the_order():
    batch, live = run(RESTOCK, SYNC, end_minute=30), run(RESTOCK, 0, end_minute=30)
    assert minutes(batch.tallies["web"].at_zero_ms) == 15
    assert minutes(batch.tallies["web"].at_zero_with_stock_ms) == 13  # the receipt at 2 to the sync at 15
    assert minutes(live.tallies["web"].at_zero_ms) == 2
    assert live.tallies["web"].at_zero_with_stock_ms == 0
    assert counts(batch, "web") == (1, 0, 0) and counts(live, "web") == (1, 1, 0)


def test_before_the_first_sync_the_batch_shows_nothing():
    history = [ev("Receipt", 0, 1, location="ELSEWHERE"), ev("CycleCount", 1, 10), order(2, 1, "web", "w1")]
    batch = run(history, SYNC, end_minute=20)
    assert counts(batch, "web") == (1, 0, 0)
    assert minutes(batch.tallies["web"].at_zero_with_stock_ms) == 14  # from the count at 1 to the sync at 15
    assert batch.shown["web"] == 10


def test_a_sync_sees_the_events_stamped_at_or_before_it():
    history = [ev("CycleCount", 0, 10), order(15, 10, "amazon", "a1"), order(16, 1, "web", "w1")]
    assert counts(run(history, SYNC), "web") == (1, 0, 0)  # the sync at 15 saw amazon's order
    history = [ev("CycleCount", 0, 10), order(15.01, 10, "amazon", "a1"), order(16, 1, "web", "w1")]
    assert counts(run(history, SYNC), "web") == (1, 1, 1)  # it did not: web still shows 10


def test_syncs_follow_the_history_clock_from_its_first_event():
    history = [ev("CycleCount", 0, 10), ev("Adjustment", 31, -10, reason="count"), order(44, 1, "web", "w1")]
    assert counts(run(history, SYNC), "web") == (1, 1, 1)  # no sync between 30 and 45
    history[-1] = order(46, 1, "web", "w1")
    assert counts(run(history, SYNC), "web") == (1, 0, 0)  # the sync at 45 showed 0


def test_an_event_stamped_before_the_one_before_it_counts_at_that_ones_time():
    history = [ev("CycleCount", 0, 10), ev("Adjustment", 10, -10, reason="count"), ev("Receipt", 5, 10)]
    live = run(history, 0, end_minute=20)
    assert minutes(live.tallies["web"].at_zero_ms) == 0  # zero from 10 to 10, never backwards in time


# --- what the policies make of it ----------------------------------------------------------------


def test_the_channel_shows_the_engines_formula():
    policies = parse_policies({"locations": {"WH1": {"safety_stock": 1}},
                               "channels": {"web": {"locations": ["WH1"], "buffer": 1, "allocation_percent": 50}}})
    history = [ev("CycleCount", 0, 12), order(1, 6, "web", "w1"), order(2, 5, "web", "w2")]
    live = run(history, 0, policies)
    assert counts(live, "web") == (2, 1, 0)  # (12 - 1 - 1) x 50% = 5 shown: w1 (6) refused, w2 (5) taken
    assert live.shown["web"] == 2  # (7 - 2) x 50%, floored


def test_a_buffer_shows_zero_with_stock_free():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1"], "buffer": 3}}})
    live = run([ev("CycleCount", 0, 3)], 0, policies, end_minute=10)
    assert minutes(live.tallies["web"].at_zero_with_stock_ms) == 10


def test_free_units_count_no_safety_stock_so_an_order_that_takes_it_is_not_oversold():
    policies = parse_policies({"locations": {"WH1": {"safety_stock": 5}},
                               "channels": {"web": {"locations": ["WH1"]}, "amazon": {"locations": ["WH1"]}}})
    history = [ev("CycleCount", 0, 10), order(1, 5, "amazon", "a1"), order(2, 5, "web", "w1")]
    batch = run(history, SYNC, policies)
    assert counts(batch, "web") == (1, 1, 0)  # web still showed 5; the 5 kept as safety stock filled it
    assert batch.positions["WH1"].reserved == 10


def test_an_order_is_filled_across_the_channels_locations_and_what_follows_it_goes_there():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1", "WH2"]}}})
    history = [ev("CycleCount", 0, 2), ev("CycleCount", 0, 5, location="WH2"),
               order(1, 4, "web", "w1"),
               ev("PickConfirmed", 2, 4, reservation_id="w1"),
               ev("ShipmentPosted", 3, 4, reservation_id="w1")]
    picked = run(history[:4], 0, policies)
    assert (picked.positions["WH1"].picked, picked.positions["WH2"].picked) == (2, 2)
    assert picked.positions["WH1"].reserved == picked.positions["WH2"].reserved == 0
    shipped = run(history, 0, policies)
    assert (shipped.positions["WH1"].on_hand, shipped.positions["WH2"].on_hand) == (0, 3)
    assert shipped.positions["WH1"].picked == shipped.positions["WH2"].picked == 0


def test_an_order_is_filled_from_its_own_location_first_and_held_only_where_it_took_units():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1", "WH2", "WH3"]}}})
    history = [ev("CycleCount", 0, 5), ev("CycleCount", 0, 5, location="WH2"), ev("CycleCount", 0, 5, location="WH3"),
               order(1, 3, "web", "w1", location="WH2")]
    live = run(history, 0, policies)
    assert [live.positions[loc].reserved for loc in ("WH1", "WH2", "WH3")] == [0, 3, 0]
    assert "w1" not in live.positions["WH1"].reservations
    history[0] = ev("CycleCount", 0, 0)
    history[-1] = order(1, 3, "web", "w1")  # at WH1, which has nothing
    live = run(history, 0, policies)
    assert "w1" not in live.positions["WH1"].reservations
    assert [live.positions[loc].reserved for loc in ("WH1", "WH2", "WH3")] == [0, 3, 0]


def test_a_retried_pick_of_an_order_filled_in_two_places_picks_once():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1", "WH2"]}}})
    pick = ev("PickConfirmed", 2, 2, reservation_id="w1")
    history = [ev("CycleCount", 0, 2), ev("CycleCount", 0, 5, location="WH2"), order(1, 4, "web", "w1"), pick, pick]
    live = run(history, 0, policies)
    assert (live.positions["WH1"].picked, live.positions["WH2"].picked) == (2, 0)


def test_a_release_of_an_order_filled_in_two_places_frees_both():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1", "WH2"]}}})
    history = [ev("CycleCount", 0, 2), ev("CycleCount", 0, 5, location="WH2"), order(1, 4, "web", "w1"),
               ev("ReservationReleased", 2, None, reservation_id="w1")]
    live = run(history, 0, policies)
    assert live.positions["WH1"].reserved == live.positions["WH2"].reserved == 0
    history[-1] = ev("ReservationReleased", 2, 3, reservation_id="w1")
    live = run(history, 0, policies)
    assert live.positions["WH1"].reserved + live.positions["WH2"].reserved == 1


def test_an_expiry_of_an_order_filled_in_two_places_frees_both_whatever_its_qty():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1", "WH2"]}}})
    history = [ev("CycleCount", 0, 2), ev("CycleCount", 0, 5, location="WH2"), order(1, 4, "web", "w1"),
               ev("ReservationExpired", 2, 1, reservation_id="w1")]
    live = run(history, 0, policies)
    assert live.positions["WH1"].reserved == live.positions["WH2"].reserved == 0


def test_more_than_an_order_holds_goes_to_its_last_location_as_the_model_would_take_it():
    policies = parse_policies({"channels": {"web": {"locations": ["WH1", "WH2"]}}})
    history = [ev("CycleCount", 0, 2), ev("CycleCount", 0, 5, location="WH2"), order(1, 4, "web", "w1"),
               ev("ShipmentPosted", 2, 6, reservation_id="w1")]
    live = run(history, 0, policies)
    assert (live.positions["WH1"].on_hand, live.positions["WH2"].on_hand) == (0, 1)


# --- orders and what follows them ----------------------------------------------------------------


def test_what_follows_an_order_that_was_not_taken_never_happens():
    history = [ev("CycleCount", 0, 1), order(1, 2, "web", "w1"),
               ev("PickConfirmed", 2, 2, reservation_id="w1"), ev("ShipmentPosted", 3, 2, reservation_id="w1")]
    live = run(history, 0)
    assert counts(live, "web") == (1, 0, 0)
    assert (live.positions["WH1"].on_hand, live.positions["WH1"].picked) == (1, 0)


def test_what_follows_an_oversold_order_never_happens():
    history = SELL_OUT + [ev("ShipmentPosted", 7, 2, reservation_id="w1")]
    assert run(history, SYNC).positions["WH1"].on_hand == 10


def test_a_shipment_naming_no_order_of_the_history_is_stock_leaving():
    history = [ev("CycleCount", 0, 10), ev("ShipmentPosted", 1, 4, reservation_id="before-the-history"),
               ev("ShipmentPosted", 2, 1)]
    assert run(history, 0).positions["WH1"].on_hand == 5


def test_a_retried_order_and_a_repeated_event_count_once():
    history = [ev("CycleCount", 0, 10), order(1, 2, "web", "w1", event_id="x"), order(1, 2, "web", "w1"),
               order(2, 3, "web", "w2", event_id="y"), order(2, 3, "web", "w2", event_id="y"),
               ev("Receipt", 3, 5, event_id="z"), ev("Receipt", 3, 5, event_id="z")]
    live = run(history, 0)
    assert counts(live, "web") == (2, 2, 0)
    assert (live.positions["WH1"].on_hand, live.positions["WH1"].reserved) == (15, 5)


def test_orders_of_channels_without_a_policy_are_taken_as_they_happened_and_counted_apart():
    history = [ev("CycleCount", 0, 3), order(1, 2, "phone", "p1"), order(1, 2, "phone", "p1"),
               order(2, 2, "phone", "p2"), ev("PickConfirmed", 3, 2, reservation_id="p2")]
    live = run(history, 0)
    assert live.unlisted_orders == {"phone": 2}
    position = live.positions["WH1"]
    # p1 taken; p2 refused by the model, and its pick applied as it happened (picked without an order)
    assert (position.reserved, position.picked) == (2, 2)


def test_a_transfer_arrives_at_its_destination():
    policies = parse_policies({"channels": {"b2b": {"locations": ["WH2"]}}})
    history = [ev("CycleCount", 0, 10), ev("TransferShipped", 1, 4, to_location="WH2"),
               ev("TransferReceived", 5, 4, location="WH2", from_location="WH1")]
    live = run(history, 0, policies, end_minute=10)
    assert buckets(live.positions["WH2"]) == {**dict.fromkeys(BUCKETS, 0), "on_hand": 4}
    assert minutes(live.tallies["b2b"].at_zero_ms) == 5


def buckets(position) -> dict:
    return {name: getattr(position, name) for name in BUCKETS}


# --- over many SKUs ------------------------------------------------------------------------------


def test_skus_are_replayed_apart_and_summed():
    history = [ev("CycleCount", 0, 1, sku="A"), ev("CycleCount", 0, 1, sku="B"),
               order(1, 1, "web", "a", sku="A"), order(2, 1, "web", "b", sku="B"), order(3, 1, "web", "c", sku="B")]
    histories = by_sku(history)
    assert [e["sku"] for e in histories["B"]] == ["B", "B", "B"]
    totals = replay(histories.values(), SHARED, 0, T0_MS, T0_MS + 10 * MINUTE)
    web = totals.channels["web"]
    assert (web.orders, web.accepted, web.oversold) == (3, 2, 0)
    # A at zero from 1 to 10, B from 2 to 10
    assert minutes(web.at_zero_ms) == 9 + 8
