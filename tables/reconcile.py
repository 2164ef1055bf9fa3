"""Reconciliation with the ERP: a Snapshot is the ERP's on_hand as of a watermark, compared with
the engine's on_hand at that same watermark (DESIGN §3). Pure: no Kafka, asyncio or I/O.

The ERP takes its snapshot at some moment, and the orders, receipts and counts that happened
after it reach the engine before the snapshot does. Comparing with the engine's on_hand now
would call all of them drift. So each position keeps its recent on_hand movements, and the
movements after the watermark are taken back out ("rebased") before comparing.

The watermark is the snapshot's occurred_at; when the snapshot carries a source_seq, a
movement from the same source with a sequence of its own is placed by sequence instead (the
ERP's own order is exact where clocks are not). A movement at the watermark is part of the
snapshot.

The history is bounded (constant-size record): the oldest movement goes first, and
`movements_floor` remembers when the newest dropped one occurred. A watermark older than that
cannot be rebased exactly: the drift is still reported, with cause `history_incomplete`, and
never corrected automatically.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Mapping

from tables.position import Position

HISTORY = 64  # on_hand movements kept per position
RECONCILIATION_SOURCE = "reconciliation"
ALERT, AUTO_CORRECT = "alert", "auto_correct"
MODES = (ALERT, AUTO_CORRECT)
CORRECTED, NONE = "corrected", "none"  # a drift record's action, besides alert

# Causes: what an operator needs to read a drift record.
ERP_LOWER = "erp_lower"  # the engine counts stock the ERP does not: shrink, unrecorded shipments
ERP_HIGHER = "erp_higher"  # the ERP counts stock the engine has not seen: unrecorded receipts
HISTORY_INCOMPLETE = "history_incomplete"
REBASED = "rebased_movements"  # rebased_movements:N, how many movements after the watermark


def record_movement(position: Position, event: Mapping[str, Any], delta: int, history: int = HISTORY) -> None:
    """One change of on_hand, as [occurred_at, delta] or [occurred_at, delta, source, seq].
    Kept in order of occurrence (upstream delivers late events too), so the one that goes when
    the history is full is the first: no search on every change of stock."""
    seq = event.get("source_seq")
    movement = [event["occurred_at"], delta] if seq is None else [event["occurred_at"], delta, event["source"], seq]
    insort(position.movements, movement, key=itemgetter(0))
    while len(position.movements) > history:
        dropped = position.movements.pop(0)
        position.movements_floor = max(position.movements_floor or dropped[0], dropped[0])


def after_watermark(movement: list[Any], watermark: int, source: str, seq: int | None) -> bool:
    if seq is not None and len(movement) == 4 and movement[2] == source:
        return movement[3] > seq
    return movement[0] > watermark


@dataclass(slots=True)
class Drift:
    erp: int
    engine_at_watermark: int
    watermark: int  # epoch ms: the snapshot's occurred_at
    watermark_seq: int | None
    complete: bool  # the history reached back to the watermark
    rebased: int  # movements after the watermark taken out
    causes: list[str] = field(default_factory=list)

    @property
    def drift(self) -> int:
        """The ERP's on_hand minus ours, both at the watermark."""
        return self.erp - self.engine_at_watermark


def reconcile(position: Position, snapshot: Mapping[str, Any]) -> Drift:
    watermark, source, seq = snapshot["occurred_at"], snapshot["source"], snapshot.get("source_seq")
    later = [m for m in position.movements if after_watermark(m, watermark, source, seq)]
    floor = position.movements_floor
    found = Drift(erp=snapshot["qty"], engine_at_watermark=position.on_hand - sum(m[1] for m in later),
                  watermark=watermark, watermark_seq=seq, complete=floor is None or floor <= watermark,
                  rebased=len(later))
    if found.drift < 0:
        found.causes.append(ERP_LOWER)
    elif found.drift > 0:
        found.causes.append(ERP_HIGHER)
    if later:
        found.causes.append(f"{REBASED}:{len(later)}")
    if not found.complete:
        found.causes.append(HISTORY_INCOMPLETE)
    return found


def correction(position: Position, mode: str, now_ms: int) -> dict[str, Any] | None:
    """The Adjustment that makes on_hand agree with the ERP after the last Snapshot, where the
    location's policy says auto_correct; None when there is nothing to correct or the rebase was
    not exact. Its id derives from the snapshot's, so a redelivered snapshot's is a duplicate."""
    mark = position.last_snapshot
    if mode != AUTO_CORRECT or not mark or mark["drift"] == 0 or not mark["complete"]:
        return None
    return {
        "event_id": f"{mark['event_id']}:reconciliation", "type": "Adjustment",
        "sku": position.sku, "location": position.location, "qty": mark["drift"],
        "uom": "EA", "source": RECONCILIATION_SOURCE, "source_seq": None, "reason": "reconciliation",
        "occurred_at": now_ms, "correlation_id": mark["correlation_id"] or mark["event_id"],
    }


def drift_record(position: Position, corrected: bool, now_ms: int) -> dict[str, Any]:
    """The last Snapshot's finding, as inventory.drift carries it (schemas/DriftRecord.avsc)."""
    mark = position.last_snapshot
    assert mark is not None
    return {
        "sku": position.sku, "location": position.location, "erp": mark["qty"],
        "engine_at_watermark": mark["engine_at_watermark"], "drift": mark["drift"],
        "watermark": mark["occurred_at"], "watermark_seq": mark["watermark_seq"], "causes": mark["causes"],
        "action": CORRECTED if corrected else ALERT if mark["drift"] else NONE,
        "complete": mark["complete"], "event_id": mark["event_id"], "source": mark["source"], "detected_at": now_ms,
    }
