"""Reconciliation with a watermarked rebase (tables/reconcile.py, through tables.model.apply)."""

from __future__ import annotations

import itertools

import pytest

from tables.model import apply
from tables.position import Position
from tables.reconcile import ALERT, AUTO_CORRECT, correction, drift_record

T0 = 1_764_000_000_000
MINUTE = 60_000
_ids = itertools.count()


def ev(type_: str, qty: int, at: int, source: str = "wms", seq: int | None = None, **fields) -> dict:
    return {"event_id": f"e{next(_ids)}", "type": type_, "sku": "SKU-1", "location": "WH1", "qty": qty,
            "source": source, "source_seq": seq, "occurred_at": at, "correlation_id": None, **fields}


def stocked(on_hand: int = 100) -> Position:
    position = Position("SKU-1", "WH1")
    apply(position, ev("Receipt", on_hand, T0))
    return position


def test_a_snapshot_taken_before_a_burst_of_orders_shows_no_drift():
    position = stocked(100)
    for n in range(30):  # shipped after the ERP took its snapshot at T0 + 1 min, seen before it
        apply(position, ev("ShipmentPosted", 2, T0 + 2 * MINUTE + n))
    _, outcome = apply(position, ev("Snapshot", 100, T0 + MINUTE, source="erp"))
    assert position.on_hand == 40
    found = outcome.reconciliation
    assert (found.erp, found.engine_at_watermark, outcome.drift) == (100, 100, 0)
    assert found.complete and found.causes == ["rebased_movements:30"]


def test_stock_that_really_went_missing_is_drift():
    position = stocked(100)
    apply(position, ev("ShipmentPosted", 10, T0 + 2 * MINUTE))
    _, outcome = apply(position, ev("Snapshot", 93, T0 + MINUTE, source="erp"))
    assert outcome.drift == -7  # the ERP counts 7 fewer than the engine did at that time
    assert outcome.reconciliation.causes == ["erp_lower", "rebased_movements:1"]


def test_a_movement_at_the_watermark_is_part_of_the_snapshot():
    position = stocked(10)
    apply(position, ev("Receipt", 5, T0 + MINUTE))
    _, outcome = apply(position, ev("Snapshot", 15, T0 + MINUTE, source="erp"))
    assert outcome.drift == 0 and outcome.reconciliation.rebased == 0


def test_the_erp_s_own_sequence_places_its_movements_where_clocks_disagree():
    position = stocked(10)
    # the ERP's adjustment numbered 8 came after its snapshot numbered 7, though its clock says earlier
    apply(position, ev("Adjustment", -3, T0 + MINUTE, source="erp", seq=8, reason="recount"))
    _, outcome = apply(position, ev("Snapshot", 10, T0 + 2 * MINUTE, source="erp", seq=7))
    assert outcome.drift == 0 and outcome.reconciliation.rebased == 1


def test_a_count_after_the_watermark_is_rebased_too():
    position = stocked(10)
    apply(position, ev("CycleCount", 4, T0 + 3 * MINUTE, source="counts"))
    _, outcome = apply(position, ev("Snapshot", 10, T0 + MINUTE, source="erp"))
    assert outcome.drift == 0


def test_a_watermark_older_than_the_history_is_reported_not_guessed():
    position = Position("SKU-1", "WH1")
    for n in range(10):
        apply(position, ev("Receipt", 1, T0 + n * MINUTE), history=4)
    assert len(position.movements) == 4 and position.movements_floor == T0 + 5 * MINUTE
    _, outcome = apply(position, ev("Snapshot", 3, T0 + 2 * MINUTE, source="erp"), history=4)
    assert not outcome.reconciliation.complete and "history_incomplete" in outcome.reconciliation.causes
    _, outcome = apply(position, ev("Snapshot", 7, T0 + 6 * MINUTE, source="erp"), history=4)
    assert outcome.reconciliation.complete and outcome.drift == 0


def test_the_history_stays_bounded_and_drops_the_oldest_occurrence_first():
    position = Position("SKU-1", "WH1")
    for at in (5, 1, 4, 2, 3):  # out of order in time, as upstream systems deliver
        apply(position, ev("Receipt", 1, T0 + at * MINUTE), history=3)
    assert [m[0] for m in position.movements] == [T0 + 3 * MINUTE, T0 + 4 * MINUTE, T0 + 5 * MINUTE]
    assert position.movements_floor == T0 + 2 * MINUTE


def test_the_history_survives_the_record():
    position = stocked(5)
    assert Position.from_bytes(position.to_bytes()).movements == position.movements


@pytest.mark.parametrize("mode, drift, complete, expected", [
    (AUTO_CORRECT, -7, True, -7),
    (ALERT, -7, True, None),
    (AUTO_CORRECT, 0, True, None),
    (AUTO_CORRECT, 4, False, None),  # a rebase that could not reach back is never acted on
])
def test_a_correction_only_where_the_policy_says_and_the_rebase_was_exact(mode, drift, complete, expected):
    position = stocked(100)
    if not complete:
        position.movements_floor = T0 + 5 * MINUTE
    snapshot = ev("Snapshot", 100 + drift, T0 + MINUTE, source="erp")
    apply(position, snapshot)
    adjustment = correction(position, mode, now_ms=T0 + 9 * MINUTE)
    record = drift_record(position, adjustment is not None, T0 + 9 * MINUTE)
    assert (record["erp"], record["engine_at_watermark"], record["drift"]) == (100 + drift, 100, drift)
    assert record["complete"] is complete and record["event_id"] == snapshot["event_id"]
    if expected is None:
        assert adjustment is None and record["action"] == ("alert" if drift else "none")
        return
    assert record["action"] == "corrected"
    assert adjustment["type"] == "Adjustment" and adjustment["qty"] == expected
    assert adjustment["reason"] == "reconciliation" and adjustment["source"] == "reconciliation"
    assert adjustment["event_id"] == f"{snapshot['event_id']}:reconciliation"
    applied, _ = apply(position, adjustment)
    assert applied.on_hand == 100 + drift


def test_the_records_encode_as_their_schemas():
    from streams.wire.codec import AvroCodec

    position = stocked(100)
    snapshot = ev("Snapshot", 90, T0 + MINUTE, source="erp", seq=4)
    apply(position, snapshot)
    codec = AvroCodec()
    record = drift_record(position, False, T0 + 2 * MINUTE)
    assert codec.decode("DriftRecord", codec.encode("DriftRecord", record))["causes"] == ["erp_lower"]
    adjustment = correction(position, AUTO_CORRECT, T0 + 2 * MINUTE)
    assert codec.decode("InventoryEvent", codec.encode("InventoryEvent", adjustment))["qty"] == -10
