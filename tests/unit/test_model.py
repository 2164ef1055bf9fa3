"""The inventory model (DESIGN §3): what every event type does to one SKU@LOCATION position.

Events here are plain dicts shaped like tables.events.normalize's output: qty already in
eaches, occurred_at in epoch ms. `apply` mutates the position it is given.
"""

from __future__ import annotations

import copy
import itertools

import orjson
import pytest

from tables.model import (
    CLAMPED,
    DUPLICATE,
    REDELIVERED,
    NEGATIVE_ON_HAND,
    RECEIVED_AHEAD,
    REJECTED,
    STALE,
    UNKNOWN_RESERVATION,
    APPLIED,
    apply,
    follow_ups,
)
from tables.position import BUCKETS, Position, Reservation

T0 = 1_795_600_800_000  # 2026-11-25T10:00:00Z in epoch ms
_ids = itertools.count(1)


def ev(type_: str, qty: int | None = None, **fields) -> dict:
    """A normalized event with the common fields filled in; a fresh event_id unless given."""
    event = {
        "event_id": f"evt-{next(_ids)}",
        "type": type_,
        "sku": "SKU-1",
        "location": "WH1",
        "qty": qty,
        "source": "wms",
        "source_seq": None,
        "occurred_at": T0,
        "correlation_id": None,
    }
    event.update(fields)
    return event


def pos(**buckets) -> Position:
    return Position("SKU-1", "WH1", **buckets)


def run(position: Position, *events: dict, window: int = 200) -> Position:
    for event in events:
        apply(position, event, window)
    return position


def reserve(rid: str, qty: int, **fields) -> dict:
    fields.setdefault("channel", "web")
    fields.setdefault("order_id", f"order-{rid}")
    return ev("ReserveRequested", qty, reservation_id=rid, **fields)


def stocked(on_hand: int = 10, **buckets) -> Position:
    """A position with stock received through the model (version 1)."""
    p = pos(**buckets)
    apply(p, ev("Receipt", on_hand))
    return p


def assert_reservations_consistent(p: Position) -> None:
    assert p.reserved == sum(r.unpicked for r in p.reservations.values())


# --- ats ------------------------------------------------------------------------------------


def test_ats_subtracts_every_unavailable_part_and_safety_stock():
    p = pos(on_hand=100, quarantined=1, damaged=2, held=3, reserved=4, picked=5,
            incoming=50, safety_stock=6)
    assert p.ats == 100 - 1 - 2 - 3 - 4 - 5 - 6


def test_ats_is_clamped_at_zero():
    assert pos(on_hand=3, held=5).ats == 0
    assert pos(on_hand=-4).ats == 0
    assert pos(on_hand=2, safety_stock=3).ats == 0


# --- Receipt / Adjustment ---------------------------------------------------------------------


def test_receipt_adds_to_on_hand_and_records_the_change():
    p = pos()
    e = ev("Receipt", 7, correlation_id="po-1", occurred_at=T0 + 5)
    p2, out = apply(p, e)
    assert p2 is p  # in place
    assert p.on_hand == 7
    assert (out.status, out.changed, out.flags) == (APPLIED, True, [])
    assert p.version == 1
    assert p.last_event_id == e["event_id"]
    assert p.last_correlation_id == "po-1"
    assert p.updated_at == T0 + 5
    assert e["event_id"] in p.recent_ids


def test_receipt_touches_no_other_bucket():
    p = pos(quarantined=1, damaged=2, held=3, reserved=4, picked=5, incoming=6)
    apply(p, ev("Receipt", 10))
    assert (p.quarantined, p.damaged, p.held, p.reserved, p.picked, p.incoming) == (1, 2, 3, 4, 5, 6)


@pytest.mark.parametrize("qty", [5, -3])
def test_adjustment_is_signed(qty):
    p = stocked(10)
    _, out = apply(p, ev("Adjustment", qty, reason="recount"))
    assert p.on_hand == 10 + qty
    assert out.changed and out.flags == []


def test_adjustment_below_zero_is_applied_and_flagged():
    p = stocked(2)
    _, out = apply(p, ev("Adjustment", -5))
    assert p.on_hand == -3
    assert out.status == APPLIED and out.changed
    assert NEGATIVE_ON_HAND in out.flags
    assert p.ats == 0


# --- CycleCount ---------------------------------------------------------------------------------


def test_cycle_count_sets_on_hand():
    p = stocked(10)
    _, out = apply(p, ev("CycleCount", 4, source="erp", source_seq=1))
    assert p.on_hand == 4
    assert out.status == APPLIED and out.changed
    assert p.version == 2


def test_cycle_count_of_zero_is_applied():
    p = stocked(3)
    apply(p, ev("CycleCount", 0, source_seq=1))
    assert p.on_hand == 0


def test_cycle_count_fixes_negative_on_hand():
    p = pos(on_hand=-4)
    _, out = apply(p, ev("CycleCount", 6, source_seq=1))
    assert p.on_hand == 6
    assert NEGATIVE_ON_HAND not in out.flags


def test_cycle_count_equal_to_on_hand_changes_nothing():
    p = stocked(5)
    _, out = apply(p, ev("CycleCount", 5, source_seq=1))
    assert out.status == APPLIED and not out.changed
    assert p.version == 1


def test_cycle_count_leaves_other_buckets_alone():
    p = pos(on_hand=10, quarantined=1, damaged=2, held=3, reserved=4, picked=5, incoming=6)
    apply(p, ev("CycleCount", 20, source_seq=1))
    assert (p.quarantined, p.damaged, p.held, p.reserved, p.picked, p.incoming) == (1, 2, 3, 4, 5, 6)


def test_older_count_by_source_seq_from_same_source_is_stale():
    p = pos()
    apply(p, ev("CycleCount", 10, source="erp", source_seq=5))
    _, out = apply(p, ev("CycleCount", 3, source="erp", source_seq=4, occurred_at=T0 + 999))
    assert out.status == STALE and not out.changed
    assert p.on_hand == 10
    assert p.version == 1


def test_older_count_from_another_source_is_applied():
    p = pos()
    apply(p, ev("CycleCount", 10, source="erp", source_seq=5))
    _, out = apply(p, ev("CycleCount", 3, source="wms", source_seq=1, occurred_at=T0 - 1000))
    assert out.status == APPLIED and out.changed
    assert p.on_hand == 3


def test_newer_and_equal_source_seq_counts_are_applied():
    p = pos()
    apply(p, ev("CycleCount", 10, source="erp", source_seq=5))
    _, out = apply(p, ev("CycleCount", 7, source="erp", source_seq=6, occurred_at=T0 - 5000))
    assert out.status == APPLIED and p.on_hand == 7  # the sequence wins over occurred_at
    _, out = apply(p, ev("CycleCount", 8, source="erp", source_seq=6))
    assert out.status == APPLIED and p.on_hand == 8  # not lower: not older
    _, out = apply(p, ev("CycleCount", 1, source="erp", source_seq=5))
    assert out.status == STALE and p.on_hand == 8


def test_count_order_without_sequence_numbers_uses_occurred_at():
    p = pos()
    apply(p, ev("CycleCount", 10, source="erp", occurred_at=T0))
    _, out = apply(p, ev("CycleCount", 3, source="erp", occurred_at=T0 - 1))
    assert out.status == STALE and p.on_hand == 10
    _, out = apply(p, ev("CycleCount", 4, source="erp", occurred_at=T0))
    assert out.status == APPLIED and p.on_hand == 4
    _, out = apply(p, ev("CycleCount", 5, source="erp", occurred_at=T0 + 1))
    assert out.status == APPLIED and p.on_hand == 5


def test_stale_count_does_not_move_the_source_mark():
    p = pos()
    apply(p, ev("CycleCount", 10, source="erp", source_seq=5))
    apply(p, ev("CycleCount", 3, source="erp", source_seq=2))  # stale
    _, out = apply(p, ev("CycleCount", 4, source="erp", source_seq=3))
    assert out.status == STALE and p.on_hand == 10


def test_stale_count_is_remembered_as_seen():
    p = pos()
    apply(p, ev("CycleCount", 10, source="erp", source_seq=5))
    stale = ev("CycleCount", 3, source="erp", source_seq=2)
    apply(p, stale)
    assert stale["event_id"] in p.recent_ids
    _, out = apply(p, stale)
    assert out.status == DUPLICATE


def test_counts_and_snapshots_share_the_per_source_order():
    p = stocked(10)
    apply(p, ev("Snapshot", 12, source="erp", source_seq=9))
    _, out = apply(p, ev("CycleCount", 1, source="erp", source_seq=8))
    assert out.status == STALE and p.on_hand == 10


# --- Snapshot -----------------------------------------------------------------------------------


def test_snapshot_records_drift_and_changes_no_bucket():
    p = pos(on_hand=10, quarantined=1, held=2, reserved=3, picked=1, incoming=4)
    before = p.buckets()
    e = ev("Snapshot", 13, source="erp", source_seq=1)
    _, out = apply(p, e)
    assert out.status == APPLIED and not out.changed
    assert out.drift == 3
    assert p.buckets() == before
    assert p.version == 0
    assert p.last_snapshot["drift"] == 3
    assert p.last_snapshot["qty"] == 13
    assert p.last_snapshot["source"] == "erp"
    assert p.last_snapshot["event_id"] == e["event_id"]


def test_snapshot_drift_is_negative_when_erp_has_less():
    p = stocked(10)
    _, out = apply(p, ev("Snapshot", 4, source="erp"))
    assert out.drift == -6 and p.on_hand == 10


def test_snapshot_of_zero_against_negative_on_hand():
    p = pos(on_hand=-2)
    _, out = apply(p, ev("Snapshot", 0, source="erp"))
    assert out.drift == 2 and p.on_hand == -2


def test_older_snapshot_from_same_source_is_stale():
    p = stocked(10)
    apply(p, ev("Snapshot", 11, source="erp", source_seq=4))
    first = copy.deepcopy(p.last_snapshot)
    _, out = apply(p, ev("Snapshot", 99, source="erp", source_seq=3))
    assert out.status == STALE and out.drift is None
    assert p.last_snapshot == first


def test_older_snapshot_from_other_source_is_applied():
    p = stocked(10)
    apply(p, ev("Snapshot", 11, source="erp", source_seq=4))
    _, out = apply(p, ev("Snapshot", 9, source="3pl", source_seq=1))
    assert out.status == APPLIED and out.drift == -1


# --- ReserveRequested ---------------------------------------------------------------------------


def test_reserve_accepted_when_ats_covers_it():
    p = stocked(10)
    _, out = apply(p, reserve("r1", 4, channel="amazon", order_id="o-1", expires_at=T0 + 60_000))
    assert out.status == APPLIED and out.changed
    assert out.answer == {"reservation_id": "r1", "decision": "accepted", "qty": 4}
    assert p.reserved == 4 and p.ats == 6 and p.on_hand == 10
    r = p.reservations["r1"]
    assert (r.qty, r.unpicked, r.picked) == (4, 4, 0)
    assert (r.channel, r.order_id, r.expires_at) == ("amazon", "o-1", T0 + 60_000)
    assert p.version == 2


def test_reserve_of_exactly_ats_is_accepted():
    p = stocked(5)
    _, out = apply(p, reserve("r1", 5))
    assert out.answer["decision"] == "accepted"
    assert p.ats == 0


def test_reserve_rejected_when_ats_short_changes_nothing():
    p = stocked(5)
    apply(p, reserve("r1", 3))
    before = copy.deepcopy(p)
    _, out = apply(p, reserve("r2", 3))
    assert out.status == REJECTED and not out.changed
    assert out.answer == {"reservation_id": "r2", "decision": "rejected", "qty": 3, "ats": 2}
    assert p.buckets() == before.buckets()
    assert p.version == before.version
    assert "r2" not in p.reservations
    assert p.reserved == 3


def test_reserve_respects_safety_stock_and_unavailable_parts():
    p = pos(on_hand=10, quarantined=1, damaged=1, held=1, picked=1, safety_stock=2)  # ats 4
    _, out = apply(p, reserve("r1", 5))
    assert out.status == REJECTED and out.answer["ats"] == 4
    _, out = apply(p, reserve("r2", 4))
    assert out.answer["decision"] == "accepted"


def test_reserve_rejected_with_nothing_on_hand():
    p = pos()
    _, out = apply(p, reserve("r1", 1))
    assert out.status == REJECTED and out.answer["ats"] == 0
    assert p.version == 0


def test_reservation_seen_before_gets_first_accept_again():
    p = stocked(5)
    apply(p, reserve("r1", 5))
    snapshot = copy.deepcopy(p)
    again = reserve("r1", 2)  # new event id, different qty
    _, out = apply(p, again)
    assert out.status == DUPLICATE and not out.changed
    assert out.answer == {"reservation_id": "r1", "decision": "accepted", "qty": 5}
    assert p.buckets() == snapshot.buckets()
    assert p.reservations == snapshot.reservations
    assert p.version == snapshot.version
    assert again["event_id"] in p.recent_ids


def test_reservation_seen_before_gets_first_reject_again_even_with_stock_now():
    p = stocked(1)
    _, first = apply(p, reserve("r1", 3))
    assert first.status == REJECTED
    apply(p, ev("Receipt", 100))
    _, out = apply(p, reserve("r1", 3))
    assert out.status == DUPLICATE
    assert out.answer == first.answer == {
        "reservation_id": "r1", "decision": "rejected", "qty": 3, "ats": 1}
    assert p.reserved == 0 and "r1" not in p.reservations


def test_reservation_seen_before_and_closed_gets_first_accept_again():
    p = stocked(5)
    apply(p, reserve("r1", 3))
    apply(p, ev("ReservationReleased", reservation_id="r1"))
    assert "r1" not in p.reservations
    _, out = apply(p, reserve("r1", 3))
    assert out.status == DUPLICATE
    assert out.answer == {"reservation_id": "r1", "decision": "accepted", "qty": 3}
    assert p.reserved == 0 and "r1" not in p.reservations


def test_duplicate_reserve_event_id_repeats_answer():
    p = stocked(5)
    e = reserve("r1", 2)
    _, first = apply(p, e)
    _, out = apply(p, e)
    assert out.status == DUPLICATE and not out.changed
    assert out.answer == first.answer
    assert p.reserved == 2


# --- ReservationReleased / ReservationExpired ---------------------------------------------------


def test_release_without_qty_releases_all_unpicked():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    _, out = apply(p, ev("ReservationReleased", reservation_id="r1"))
    assert out.status == APPLIED and out.changed and out.flags == []
    assert p.reserved == 0 and p.ats == 10
    assert "r1" not in p.reservations
    assert p.answers["r1"][0] == "accepted"


def test_release_with_qty_releases_that_much():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    _, out = apply(p, ev("ReservationReleased", 3, reservation_id="r1"))
    assert out.flags == []
    assert p.reserved == 1 and p.reservations["r1"].unpicked == 1
    apply(p, ev("ReservationReleased", 1, reservation_id="r1"))
    assert p.reserved == 0 and "r1" not in p.reservations


def test_over_release_is_clamped_and_flagged():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    apply(p, reserve("r2", 2))
    _, out = apply(p, ev("ReservationReleased", 9, reservation_id="r1"))
    assert CLAMPED in out.flags
    assert p.reserved == 2  # r2 untouched
    assert "r1" not in p.reservations
    assert_reservations_consistent(p)


def test_release_leaves_picked_units_alone():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    apply(p, ev("PickConfirmed", 3, reservation_id="r1"))
    _, out = apply(p, ev("ReservationReleased", reservation_id="r1"))
    assert out.flags == []
    assert p.reserved == 0 and p.picked == 3
    assert p.reservations["r1"].picked == 3  # still open: its picked units are pending shipment


def test_release_of_unknown_reservation_changes_nothing_and_is_flagged():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    before = copy.deepcopy(p)
    _, out = apply(p, ev("ReservationReleased", 2, reservation_id="nope"))
    assert UNKNOWN_RESERVATION in out.flags
    assert not out.changed
    assert p.buckets() == before.buckets() and p.version == before.version


def test_release_after_full_release_is_a_no_op():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    apply(p, ev("ReservationReleased", reservation_id="r1"))
    _, out = apply(p, ev("ReservationReleased", reservation_id="r1"))
    assert not out.changed and p.reserved == 0


def test_expiry_releases_all_unpicked():
    p = stocked(10)
    apply(p, reserve("r1", 4, expires_at=T0 + 1))
    _, out = apply(p, ev("ReservationExpired", reservation_id="r1"))
    assert out.status == APPLIED and out.changed and out.flags == []
    assert p.reserved == 0 and "r1" not in p.reservations
    assert p.answers["r1"][:2] == ["accepted", 4]


def test_expiry_keeps_picked_units():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    apply(p, ev("PickConfirmed", 1, reservation_id="r1"))
    apply(p, ev("ReservationExpired", reservation_id="r1"))
    assert p.reserved == 0 and p.picked == 1
    assert p.reservations["r1"].unpicked == 0 and p.reservations["r1"].picked == 1


def test_expiry_of_unknown_reservation_is_flagged():
    p = stocked(10)
    _, out = apply(p, ev("ReservationExpired", reservation_id="ghost"))
    assert UNKNOWN_RESERVATION in out.flags and not out.changed


# --- PickConfirmed ------------------------------------------------------------------------------


def test_pick_without_reservation_adds_to_picked():
    p = stocked(10)
    _, out = apply(p, ev("PickConfirmed", 3))
    assert p.picked == 3 and p.reserved == 0 and p.on_hand == 10 and p.ats == 7
    assert out.flags == [] and out.changed


def test_pick_with_reservation_moves_units_from_reserved_to_picked():
    p = stocked(10)
    apply(p, reserve("r1", 4))
    _, out = apply(p, ev("PickConfirmed", 3, reservation_id="r1"))
    assert out.flags == []
    assert p.picked == 3 and p.reserved == 1 and p.on_hand == 10
    r = p.reservations["r1"]
    assert (r.unpicked, r.picked) == (1, 3)
    assert p.ats == 6  # a pick of reserved units does not change ats


def test_pick_larger_than_reservation_is_clamped_and_flagged():
    p = stocked(10)
    apply(p, reserve("r1", 2))
    _, out = apply(p, ev("PickConfirmed", 5, reservation_id="r1"))
    assert CLAMPED in out.flags
    assert p.picked == 5  # picked += qty
    assert p.reserved == 0  # min(qty, unpicked) = 2 left reserved
    r = p.reservations["r1"]
    assert (r.unpicked, r.picked) == (0, 2)
    assert_reservations_consistent(p)


def test_pick_with_unknown_reservation_still_picks_and_is_flagged():
    p = stocked(10)
    _, out = apply(p, ev("PickConfirmed", 2, reservation_id="ghost"))
    assert UNKNOWN_RESERVATION in out.flags
    assert p.picked == 2 and p.reserved == 0


# --- ShipmentPosted -----------------------------------------------------------------------------


def test_shipment_with_reservation_takes_picked_first_then_unpicked():
    p = stocked(10)
    apply(p, reserve("r1", 5))
    apply(p, ev("PickConfirmed", 2, reservation_id="r1"))  # r1: picked 2, unpicked 3
    _, out = apply(p, ev("ShipmentPosted", 4, reservation_id="r1"))
    assert out.flags == [] and out.changed
    assert p.on_hand == 6
    assert p.picked == 0  # its 2 picked units left picked
    assert p.reserved == 1  # then 2 of its 3 unpicked left reserved
    r = p.reservations["r1"]
    assert (r.picked, r.unpicked) == (0, 1)
    assert_reservations_consistent(p)


def test_shipment_of_whole_reservation_closes_it():
    p = stocked(10)
    apply(p, reserve("r1", 3))
    apply(p, ev("PickConfirmed", 3, reservation_id="r1"))
    apply(p, ev("ShipmentPosted", 3, reservation_id="r1"))
    assert (p.on_hand, p.picked, p.reserved) == (7, 0, 0)
    assert "r1" not in p.reservations
    assert p.answers["r1"][:2] == ["accepted", 3]
    assert p.ats == 7


def test_shipment_with_reservation_leaves_other_reservations_alone():
    p = stocked(10)
    apply(p, reserve("r1", 2))
    apply(p, reserve("r2", 3))
    apply(p, ev("PickConfirmed", 2, reservation_id="r1"))
    apply(p, ev("PickConfirmed", 1, reservation_id="r2"))
    apply(p, ev("ShipmentPosted", 2, reservation_id="r1"))
    assert p.picked == 1 and p.reserved == 2
    r2 = p.reservations["r2"]
    assert (r2.picked, r2.unpicked) == (1, 2)
    assert "r1" not in p.reservations


def test_shipment_without_reservation_takes_from_picked():
    p = stocked(10)
    apply(p, ev("PickConfirmed", 3))
    apply(p, ev("ShipmentPosted", 2))
    assert (p.on_hand, p.picked) == (8, 1)


def test_shipment_without_reservation_takes_at_most_what_is_picked():
    p = stocked(10)
    apply(p, ev("PickConfirmed", 2))
    _, out = apply(p, ev("ShipmentPosted", 5))
    assert (p.on_hand, p.picked) == (5, 0)
    assert NEGATIVE_ON_HAND not in out.flags


def test_shipment_without_reservation_and_nothing_picked():
    p = stocked(10)
    apply(p, reserve("r1", 3))
    apply(p, ev("ShipmentPosted", 4))
    assert (p.on_hand, p.picked, p.reserved) == (6, 0, 3)


def test_shipment_beyond_on_hand_is_applied_and_flagged():
    p = stocked(2)
    _, out = apply(p, ev("ShipmentPosted", 5))
    assert out.status == APPLIED and out.changed
    assert NEGATIVE_ON_HAND in out.flags
    assert p.on_hand == -3 and p.ats == 0
    assert p.picked == 0


def test_negative_on_hand_stays_visible_until_a_count():
    p = pos()
    apply(p, ev("ShipmentPosted", 1))
    _, out = apply(p, ev("CycleCount", 4, source_seq=1))
    assert out.flags == [] and p.on_hand == 4


# --- ReturnReceived -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "disposition, bucket",
    [("quarantine", "quarantined"), ("refurbish", "quarantined"), ("damaged", "damaged"),
     ("restockable", None)],
)
def test_return_per_disposition(disposition, bucket):
    p = stocked(10)
    _, out = apply(p, ev("ReturnReceived", 3, disposition=disposition))
    assert out.status == APPLIED and out.changed
    assert p.on_hand == 13
    for name in ("quarantined", "damaged", "held", "reserved", "picked", "incoming"):
        assert getattr(p, name) == (3 if name == bucket else 0), name
    assert p.ats == (13 if bucket is None else 10)


# --- DispositionChanged -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src, dst, expected",
    [
        # from, to -> (on_hand, quarantined, damaged) starting at (20, 5, 4)
        ("quarantine", "restockable", (20, 3, 4)),
        ("refurbish", "restockable", (20, 3, 4)),
        ("quarantine", "damaged", (20, 3, 6)),
        ("damaged", "quarantine", (20, 7, 2)),
        ("damaged", "refurbish", (20, 7, 2)),
        ("damaged", "restockable", (20, 5, 2)),
        ("restockable", "damaged", (20, 5, 6)),
        ("restockable", "quarantine", (20, 7, 4)),
        ("quarantine", "scrapped", (18, 3, 4)),
        ("damaged", "scrapped", (18, 5, 2)),
        ("restockable", "scrapped", (18, 5, 4)),
    ],
)
def test_disposition_changed_moves_units(src, dst, expected):
    p = pos(on_hand=20, quarantined=5, damaged=4)
    _, out = apply(p, ev("DispositionChanged", 2, from_disposition=src, disposition=dst))
    assert (p.on_hand, p.quarantined, p.damaged) == expected
    assert out.flags == [] and out.changed
    assert p.version == 1


def test_disposition_changed_within_quarantine_changes_no_bucket():
    p = pos(on_hand=20, quarantined=5)
    _, out = apply(p, ev("DispositionChanged", 2, from_disposition="quarantine",
                         disposition="refurbish"))
    assert (p.on_hand, p.quarantined) == (20, 5)
    assert not out.changed and p.version == 0


def test_disposition_changed_from_short_bucket_is_clamped():
    p = pos(on_hand=10, quarantined=2)
    _, out = apply(p, ev("DispositionChanged", 5, from_disposition="quarantine",
                         disposition="damaged"))
    assert CLAMPED in out.flags
    assert (p.on_hand, p.quarantined, p.damaged) == (10, 0, 2)


def test_scrapping_more_than_the_bucket_holds_only_scraps_what_is_there():
    p = pos(on_hand=10, damaged=1)
    _, out = apply(p, ev("DispositionChanged", 4, from_disposition="damaged",
                         disposition="scrapped"))
    assert CLAMPED in out.flags
    assert (p.on_hand, p.damaged) == (9, 0)


def test_scrapping_from_an_empty_bucket_changes_nothing():
    p = pos(on_hand=10)
    _, out = apply(p, ev("DispositionChanged", 4, from_disposition="quarantine",
                         disposition="scrapped"))
    assert CLAMPED in out.flags and not out.changed
    assert p.on_hand == 10


def test_return_then_inspection_then_scrap_round_trip():
    p = stocked(10)
    run(p,
        ev("ReturnReceived", 4, disposition="quarantine"),
        ev("DispositionChanged", 3, from_disposition="quarantine", disposition="restockable"),
        ev("DispositionChanged", 1, from_disposition="quarantine", disposition="scrapped"))
    assert (p.on_hand, p.quarantined, p.damaged) == (13, 0, 0)
    assert p.ats == 13


# --- Holds --------------------------------------------------------------------------------------


def test_hold_placed_and_released():
    p = stocked(10)
    _, out = apply(p, ev("HoldPlaced", 4))
    assert p.held == 4 and p.ats == 6 and p.on_hand == 10 and out.changed
    _, out = apply(p, ev("HoldReleased", 3))
    assert p.held == 1 and p.ats == 9 and out.flags == []


def test_hold_over_release_is_clamped_and_flagged():
    p = stocked(10)
    apply(p, ev("HoldPlaced", 2))
    _, out = apply(p, ev("HoldReleased", 5))
    assert CLAMPED in out.flags
    assert p.held == 0 and p.ats == 10


def test_hold_release_with_nothing_held_changes_nothing():
    p = stocked(10)
    _, out = apply(p, ev("HoldReleased", 1))
    assert CLAMPED in out.flags and not out.changed
    assert p.held == 0 and p.version == 1


# --- Transfers ----------------------------------------------------------------------------------


def test_transfer_shipped_leaves_on_hand_here():
    p = stocked(10)
    _, out = apply(p, ev("TransferShipped", 4, to_location="WH2"))
    assert p.on_hand == 6 and p.incoming == 0 and out.changed


def test_transfer_shipped_beyond_on_hand_is_flagged():
    p = stocked(1)
    _, out = apply(p, ev("TransferShipped", 3, to_location="WH2"))
    assert p.on_hand == -2 and NEGATIVE_ON_HAND in out.flags


def test_transfer_inbound_adds_incoming():
    p = Position("SKU-1", "WH2")
    _, out = apply(p, ev("TransferInbound", 4, location="WH2", from_location="WH1"))
    assert p.incoming == 4 and p.on_hand == 0 and p.ats == 0
    assert out.changed and p.version == 1


def test_transfer_received_moves_incoming_to_on_hand():
    p = pos(incoming=6)
    _, out = apply(p, ev("TransferReceived", 4, from_location="WH0"))
    assert (p.incoming, p.on_hand) == (2, 4)
    assert out.flags == []


def test_transfer_received_before_its_inbound_is_absorbed_later():
    p = pos(incoming=1)
    _, out = apply(p, ev("TransferReceived", 4, from_location="WH0"))
    assert RECEIVED_AHEAD in out.flags
    assert (p.incoming, p.on_hand, p.received_ahead) == (0, 4, 3)
    _, out = apply(p, ev("TransferInbound", 5, from_location="WH0"))
    assert (p.incoming, p.received_ahead) == (2, 0)  # 3 absorbed, 2 still in transit
    assert out.changed


def test_transfer_inbound_fully_absorbed_changes_no_bucket():
    p = pos(on_hand=4, received_ahead=4)
    _, out = apply(p, ev("TransferInbound", 3, from_location="WH0"))
    assert (p.incoming, p.received_ahead) == (0, 1)
    assert not out.changed and p.version == 0


def test_transfer_end_to_end_via_follow_up():
    origin, dest = stocked(10), Position("SKU-1", "WH2")
    shipped = ev("TransferShipped", 4, to_location="WH2", correlation_id="to-1")
    apply(origin, shipped)
    (inbound,) = follow_ups(shipped)
    apply(dest, inbound)
    assert origin.on_hand == 6 and dest.incoming == 4
    apply(dest, ev("TransferReceived", 4, location="WH2", from_location="WH1"))
    assert (dest.incoming, dest.on_hand, dest.received_ahead) == (0, 4, 0)
    _, out = apply(dest, inbound)  # redelivered follow-up
    assert out.status == DUPLICATE and dest.incoming == 0


def test_transfer_end_to_end_when_receipt_beats_the_notice():
    dest = Position("SKU-1", "WH2")
    shipped = ev("TransferShipped", 4, to_location="WH2")
    apply(dest, ev("TransferReceived", 4, location="WH2", from_location="WH1"))
    (inbound,) = follow_ups(shipped)
    apply(dest, inbound)
    assert (dest.incoming, dest.on_hand, dest.received_ahead) == (0, 4, 0)


# --- follow_ups ---------------------------------------------------------------------------------


def test_follow_up_of_transfer_shipped_is_inbound_at_destination():
    shipped = ev("TransferShipped", 24, to_location="WH2", correlation_id="to-9",
                 event_id="wms-1", source_seq=7)
    ups = follow_ups(shipped)
    assert len(ups) == 1
    inbound = ups[0]
    assert inbound["type"] == "TransferInbound"
    assert inbound["location"] == "WH2"
    assert inbound["from_location"] == "WH1"
    assert inbound["sku"] == "SKU-1"
    assert inbound["qty"] == 24
    assert inbound["uom"] == "EA"
    assert inbound["correlation_id"] == "to-9"
    assert inbound["event_id"] != shipped["event_id"]
    assert follow_ups(dict(shipped)) == ups  # deterministic: same id on redelivery
    assert shipped["type"] == "TransferShipped" and shipped["location"] == "WH1"  # not mutated


def test_follow_up_ids_differ_per_shipment():
    a = follow_ups(ev("TransferShipped", 1, to_location="WH2", event_id="a"))
    b = follow_ups(ev("TransferShipped", 1, to_location="WH2", event_id="b"))
    assert a[0]["event_id"] != b[0]["event_id"]


@pytest.mark.parametrize("type_", [
    "Receipt", "Adjustment", "CycleCount", "Snapshot", "ReserveRequested", "ReservationReleased",
    "ReservationExpired", "PickConfirmed", "ShipmentPosted", "ReturnReceived",
    "DispositionChanged", "HoldPlaced", "HoldReleased", "TransferReceived", "TransferInbound",
])
def test_no_follow_ups_for_other_types(type_):
    assert follow_ups(ev(type_, 1)) == []


# --- idempotency ----------------------------------------------------------------------------------


def _setup_for_duplicates() -> Position:
    p = pos(on_hand=50, quarantined=5, damaged=5, held=5, incoming=10)
    apply(p, reserve("r1", 6))
    apply(p, reserve("r2", 6))
    apply(p, ev("PickConfirmed", 2, reservation_id="r1"))
    return p


DUPLICABLE = [
    lambda: ev("Receipt", 3),
    lambda: ev("Adjustment", -2),
    lambda: ev("CycleCount", 7, source_seq=3),
    lambda: ev("Snapshot", 9, source="erp"),
    lambda: reserve("r9", 2),
    lambda: reserve("r9x", 999),  # rejected
    lambda: ev("ReservationReleased", 1, reservation_id="r2"),
    lambda: ev("ReservationReleased", reservation_id="r2"),
    lambda: ev("ReservationExpired", reservation_id="r2"),
    lambda: ev("PickConfirmed", 2, reservation_id="r1"),
    lambda: ev("PickConfirmed", 1),
    lambda: ev("ShipmentPosted", 3, reservation_id="r1"),
    lambda: ev("ShipmentPosted", 1),
    lambda: ev("ReturnReceived", 2, disposition="quarantine"),
    lambda: ev("ReturnReceived", 2, disposition="restockable"),
    lambda: ev("DispositionChanged", 1, from_disposition="damaged", disposition="scrapped"),
    lambda: ev("HoldPlaced", 2),
    lambda: ev("HoldReleased", 2),
    lambda: ev("TransferShipped", 2, to_location="WH2"),
    lambda: ev("TransferInbound", 2, from_location="WH2"),
    lambda: ev("TransferReceived", 2, from_location="WH2"),
]


@pytest.mark.parametrize("make", DUPLICABLE, ids=lambda m: m()["type"])
def test_duplicate_event_id_changes_nothing(make):
    p = _setup_for_duplicates()
    e = make()
    _, first = apply(p, e)
    after_first = copy.deepcopy(p)
    for _ in range(3):
        _, out = apply(p, copy.deepcopy(e))
        assert out.status == DUPLICATE
        assert not out.changed and out.flags == [] and out.drift is None
    assert p == after_first


def test_duplicate_with_different_payload_is_still_ignored():
    p = stocked(10)
    e = ev("Receipt", 3)
    apply(p, e)
    _, out = apply(p, dict(e, qty=100))
    assert out.status == DUPLICATE and p.on_hand == 13


def test_a_duplicate_does_not_refresh_its_place_in_the_window():
    # Another id after it, so a repeat moved to the end (refreshed) would change the order.
    p = pos()
    first, second = ev("Receipt", 1), ev("Receipt", 1)
    apply(p, first, 3)
    apply(p, second, 3)
    apply(p, first, 3)
    assert p.recent_ids == [first["event_id"], second["event_id"]]


# --- dedupe window --------------------------------------------------------------------------------


def test_dedupe_window_is_bounded():
    p = pos()
    events = [ev("Receipt", 1) for _ in range(10)]
    run(p, *events, window=4)
    assert p.recent_ids == [e["event_id"] for e in events[-4:]]
    # Inside the window: still a duplicate.
    _, out = apply(p, events[-4], 4)
    assert out.status == DUPLICATE
    # Out of the window: forgotten, applied again (the window is the bound).
    _, out = apply(p, events[0], 4)
    assert out.status == APPLIED and p.on_hand == 11
    assert len(p.recent_ids) == 4


def test_dedupe_window_default_is_used_without_argument():
    from tables.model import DEDUPE_WINDOW
    p = pos()
    for _ in range(DEDUPE_WINDOW + 5):
        apply(p, ev("Receipt", 1))
    assert len(p.recent_ids) == DEDUPE_WINDOW


def test_answers_of_closed_reservations_are_bounded_by_the_window():
    p = stocked(100)
    for i in range(6):
        apply(p, reserve(f"r{i}", 1), 3)
        apply(p, ev("ReservationReleased", reservation_id=f"r{i}"), 3)
    assert list(p.answers) == ["r3", "r4", "r5"]


def test_open_reservations_are_never_trimmed():
    p = stocked(100)
    for i in range(6):
        apply(p, reserve(f"r{i}", 1), 2)
    assert set(p.reservations) == {f"r{i}" for i in range(6)}
    assert p.reserved == 6


# --- version --------------------------------------------------------------------------------------


def test_version_grows_by_one_only_when_a_bucket_changes():
    p = stocked(10)
    steps = [
        (ev("Receipt", 1), True),
        (ev("Snapshot", 3, source="erp", source_seq=2), False),
        (ev("CycleCount", 11, source="erp", source_seq=3), False),  # equal: no change
        (ev("CycleCount", 9, source="erp", source_seq=4), True),
        (ev("CycleCount", 1, source="erp", source_seq=1), False),  # stale
        (reserve("r1", 2), True),
        (reserve("r1", 2), False),  # seen before
        (reserve("r2", 50), False),  # rejected
        (ev("ReservationReleased", reservation_id="nope"), False),
        (ev("HoldReleased", 1), False),  # nothing held
        (ev("PickConfirmed", 2, reservation_id="r1"), True),
        (ev("ShipmentPosted", 2, reservation_id="r1"), True),
    ]
    for event, changes in steps:
        v = p.version
        last = p.last_event_id
        _, out = apply(p, event)
        assert out.changed is changes, event
        assert p.version == v + (1 if changes else 0), event
        assert p.last_event_id == (event["event_id"] if changes else last)
    apply(p, steps[0][0])  # duplicate
    assert p.version == 1 + sum(c for _, c in steps)


# --- serialization --------------------------------------------------------------------------------


def test_position_round_trips_through_bytes():
    p = pos(on_hand=5, safety_stock=2, incoming=3, received_ahead=1)
    run(p,
        ev("Receipt", 20, correlation_id="po-1"),
        reserve("r1", 4, expires_at=T0 + 1000),
        reserve("r2", 2),
        reserve("r3", 999),  # rejected: an answer
        ev("PickConfirmed", 1, reservation_id="r1"),
        ev("ReservationReleased", reservation_id="r2"),  # closed: an answer
        ev("CycleCount", 30, source="erp", source_seq=12),
        ev("Snapshot", 28, source="3pl", occurred_at=T0 + 7),
        ev("HoldPlaced", 2),
        ev("ReturnReceived", 1, disposition="damaged"))
    raw = p.to_bytes()
    assert isinstance(raw, bytes)
    back = Position.from_bytes(raw)
    assert back.reservations == {}  # open reservations are records of their own
    back.reservations = p.reservations
    assert back == p
    assert list(back.answers) == list(p.answers)
    assert back.ats == p.ats
    assert back.to_bytes() == raw


def test_a_reservation_round_trips_through_its_own_record():
    p = stocked(10)
    apply(p, reserve("r1", 4, expires_at=T0 + 1000))
    raw = orjson.dumps(p.reservations["r1"])
    assert Reservation.from_bytes(raw) == p.reservations["r1"]
    assert p.last_reservation == {"id": "r1", "record": orjson.loads(raw), "expires_at": T0 + 1000}


def test_a_record_from_before_reservations_had_their_own_brings_them_along():
    old = {"sku": "SKU-1", "location": "WH1", "on_hand": 5, "reserved": 2,
           "reservations": {"r1": {"qty": 2, "unpicked": 2, "picked": 0, "channel": "web", "order_id": "o",
                                   "expires_at": None}}}
    p = Position.from_bytes(orjson.dumps(old))
    assert p.legacy and p.reservations["r1"] == Reservation(2, 2, 0, "web", "o", None)
    assert b"reservations" not in p.to_bytes() and not Position.from_bytes(p.to_bytes()).legacy


def test_the_position_record_does_not_grow_with_open_reservations():
    p = stocked(100_000)
    sizes = []
    for n in range(2000):
        apply(p, reserve(f"r{n}", 1, order_id="order-000000000000"), 20)
        sizes.append(len(p.to_bytes()))
    assert max(sizes[100:]) - min(sizes[100:]) < 64 and len(p.reservations) == 2000


def test_empty_position_round_trips():
    p = Position("SKU-É", "WH1")
    assert Position.from_bytes(p.to_bytes()) == p


def test_round_tripped_position_behaves_the_same():
    p = stocked(10)
    run(p, reserve("r1", 3), ev("CycleCount", 9, source="erp", source_seq=5))
    back = Position.from_bytes(p.to_bytes())
    back.reservations = copy.deepcopy(p.reservations)  # loaded from their own records
    redelivered = ev("Receipt", 1, event_id=p.recent_ids[0])
    for event in (reserve("r1", 1), ev("CycleCount", 1, source="erp", source_seq=4),
                  ev("ShipmentPosted", 2, reservation_id="r1"), redelivered):
        _, o1 = apply(p, copy.deepcopy(event))
        _, o2 = apply(back, copy.deepcopy(event))
        assert o1 == o2
        assert back == p


def test_view_shows_every_bucket_and_ats():
    p = stocked(10)
    apply(p, reserve("r1", 3))
    view = p.view()
    for name in BUCKETS:
        assert view[name] == getattr(p, name)
    assert view["ats"] == 7 and view["version"] == 2


# --- redelivery by offset and repeated inbound halves -------------------------------------------


def test_a_record_at_or_below_the_last_offset_is_a_redelivery_however_far_back():
    p = pos()
    receipt = ev("Receipt", 5)
    apply(p, receipt, 3, offset=(2, 10))
    for n in range(11, 20):  # more events than the dedupe window remembers
        apply(p, ev("Receipt", 1), 3, offset=(2, n))
    _, outcome = apply(p, receipt, 3, offset=(2, 10))
    assert outcome.status == REDELIVERED and not outcome.changed
    assert p.on_hand == 14
    assert p.offset == [2, 19]


def test_a_redelivered_reservation_keeps_its_answer():
    p = stocked(10)
    request = reserve("r1", 4)
    apply(p, request, offset=(0, 5))
    _, outcome = apply(p, request, offset=(0, 5))
    assert outcome.status == REDELIVERED
    assert outcome.answer == {"reservation_id": "r1", "decision": "accepted", "qty": 4}
    assert p.reserved == 4


def test_an_offset_from_another_partition_is_not_compared():
    p = pos()
    apply(p, ev("Receipt", 5), offset=(1, 100))
    _, outcome = apply(p, ev("Receipt", 1), offset=(3, 7))  # the topic was repartitioned
    assert outcome.status == APPLIED and p.on_hand == 6


def test_an_upstream_retry_with_a_new_offset_is_a_duplicate():
    p = pos()
    receipt = ev("Receipt", 5)
    apply(p, receipt, offset=(0, 1))
    _, outcome = apply(p, dict(receipt), offset=(0, 2))
    assert outcome.status == DUPLICATE and p.on_hand == 5 and p.offset == [0, 2]


def test_an_inbound_half_re_emitted_after_a_crash_is_dropped_by_its_origin_offset():
    shipped = ev("TransferShipped", 4, to_location="WH2")
    (inbound,) = follow_ups(shipped, origin_offset=41)
    assert inbound["source"] == "transfer:WH1" and inbound["source_seq"] == 41
    destination = Position("SKU-1", "WH2")
    apply(destination, inbound, 3)
    for _ in range(10):  # pushes the inbound's id out of a small dedupe window
        apply(destination, ev("Receipt", 1, location="WH2"), 3)
    _, outcome = apply(destination, dict(inbound), 3)
    assert outcome.status == DUPLICATE
    assert destination.incoming == 4
    (later,) = follow_ups(ev("TransferShipped", 2, to_location="WH2"), origin_offset=42)
    apply(destination, later, 3)
    assert destination.incoming == 6


def test_a_redelivered_upstream_retry_causes_nothing_its_first_delivery_did_not():
    """A TransferShipped sent twice by upstream (offsets 152 and 160): the second copy is a
    duplicate and sends no inbound half. Redelivered after a crash, it still sends none, while
    the copy that was applied (152) sends its half again, with the same origin offset."""
    ship = ev("TransferShipped", 8, event_id="t-1", to_location="WH2")
    p = Position("SKU-1", "WH1")
    apply(p, ship, offset=(1, 152))
    _, retry = apply(p, ship, offset=(1, 160))
    assert retry.status == DUPLICATE
    _, again = apply(p, ship, offset=(1, 160))
    assert again.status == REDELIVERED and not again.applied_here
    _, first = apply(p, ship, offset=(1, 152))
    assert first.status == REDELIVERED and first.applied_here


def test_only_shipments_keep_their_offsets_and_the_window_bounds_them():
    p = Position("SKU-1", "WH1")
    for n in range(5):
        apply(p, ev("Receipt", 1, event_id=f"r{n}"), dedupe_window=3, offset=(0, n))
    assert p.shipped_at is None  # a position that never shipped pays nothing
    for n in range(5, 10):
        apply(p, ev("TransferShipped", 1, event_id=f"t{n}", to_location="WH2"), dedupe_window=3, offset=(0, n))
    assert p.shipped_at == [7, 8, 9]
    assert Position.from_bytes(p.to_bytes()).shipped_at == [7, 8, 9]
    _, other = apply(p, ev("Receipt", 1, event_id="r4"), dedupe_window=3, offset=(0, 4))
    assert other.status == REDELIVERED and other.applied_here  # only shipments are told apart
