"""inventory.events folded by the DESIGN §3 reference (tests/reference/inventory.py): what every
SKU@LOCATION must hold after the records now on the log. Written from DESIGN §3 and the README
(not from tables/events.py or tables/model.py): the checks below are the design's, the units
are the item master's, and the engine's own records on the log are taken as the design says.

Records are folded per partition in offset order (a position's records are all on one
partition, and per-key order is the only order the design promises).

What the engine writes to the log itself:
- a TransferShipped's inbound half (TransferInbound, source `transfer:<origin>`, source_seq the
  shipment's offset, id `<shipment id>:inbound`) is folded where it stands on the log. The
  truth is one half per shipment the fold applied: a half the engine sent again after a crash
  (the same origin offset) is a copy and is not folded; a half whose shipment the fold did not
  apply is an orphan and is not folded; a shipment with no half on the log gets one at the end
  of its destination (where it lands does not change incoming: a receipt that overtakes its
  half is remembered). The half carries the shipment's quantity whatever the logged half says.
- reservation requests the API logs (source `api`), expiries and reconciliation Adjustments are
  events like any other: folded as they appear.

Not modelled: the engine's size limits (STOCKSTREAM_MAX_*), strict_catalog, and a catalog or
policies that change while the stream runs (the fold uses the ones in force when it reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

from tests.reference.inventory import APPLIED, TRANSFER_SOURCE, Reference, inbound_half

REQUIRED = {
    "Adjustment": ("reason",),
    "ReserveRequested": ("reservation_id", "channel", "order_id"),
    "ReservationReleased": ("reservation_id",),
    "ReservationExpired": ("reservation_id",),
    "ReturnReceived": ("disposition",),
    "DispositionChanged": ("from_disposition", "disposition"),
    "TransferShipped": ("to_location",),
    "TransferReceived": ("from_location",),
}
TYPES = frozenset(REQUIRED) | {"Receipt", "CycleCount", "PickConfirmed", "ShipmentPosted", "HoldPlaced",
                               "HoldReleased", "Snapshot", "TransferInbound"}
QTY_OPTIONAL = {"ReservationReleased", "ReservationExpired"}
QTY_ZERO_OR_MORE = {"CycleCount", "Snapshot"}
ON_HAND_DISPOSITIONS = {"restockable", "quarantine", "refurbish", "damaged"}  # scrapped has left
EACH = "EA"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)

Record = tuple[int, bytes | None, Mapping[str, Any] | None]  # offset, key, decoded value (None: undecodable)


class Refused(ValueError):
    """A record the design sends to the DLQ; the reason is the DLQ's label."""


def epoch_ms(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):  # JSON lines as people write them
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (value - EPOCH) // MILLISECOND  # whole numbers: float seconds * 1000 can lose one


def units(item: Mapping[str, Any] | None, uom: str) -> int:
    """Eaches in one uom: EA always 1, else the item master's factor (its base unit is 1)."""
    if uom == EACH or (item is not None and uom == item.get("base_uom", EACH)):
        return 1
    factor = (item or {}).get("uoms", {}).get(uom)
    if not isinstance(factor, int) or factor <= 0:
        raise Refused("invalid:uom")
    return factor


def normalize(key: bytes | None, record: Mapping[str, Any] | None, item: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event in eaches and epoch ms, or Refused with the DLQ reason DESIGN §3 and the
    README's dead-letter table give."""
    if record is None:
        raise Refused("decode")
    for name in ("event_id", "sku", "location", "source"):
        if not record.get(name):
            raise Refused(f"invalid:{name}")
    if record.get("occurred_at") is None:
        raise Refused("invalid:occurred_at")
    kind = record.get("type")
    if kind not in TYPES:
        raise Refused("invalid:type")
    if "@" in record["location"]:
        raise Refused("invalid:location")
    if key != f"{record['sku']}@{record['location']}".encode():
        raise Refused("key")
    for name in REQUIRED.get(kind, ()):
        if not record.get(name):
            raise Refused(f"invalid:{name}")
    _check_qty(kind, record.get("qty"))
    if kind == "ReturnReceived" and record["disposition"] not in ON_HAND_DISPOSITIONS:
        raise Refused("invalid:disposition")
    if kind == "DispositionChanged" and record["from_disposition"] not in ON_HAND_DISPOSITIONS:
        raise Refused("invalid:from_disposition")
    if kind == "TransferShipped" and record["to_location"] == record["location"]:
        raise Refused("invalid:to_location")
    event = dict(record)
    factor = units(item, record.get("uom") or EACH)
    if event.get("qty") is not None:
        event["qty"] *= factor
    event["occurred_at"] = epoch_ms(event["occurred_at"])
    event["expires_at"] = epoch_ms(event.get("expires_at"))
    return event


def _check_qty(kind: str, qty: Any) -> None:
    if qty is None:
        if kind not in QTY_OPTIONAL:
            raise Refused("invalid:qty")
        return
    if not isinstance(qty, int) or isinstance(qty, bool):
        raise Refused("invalid:qty")
    if kind == "Adjustment":
        ok = qty != 0
    elif kind in QTY_ZERO_OR_MORE:
        ok = qty >= 0
    else:
        ok = qty > 0
    if not ok:
        raise Refused("invalid:qty")


@dataclass
class Step:
    """One event of a position's history as the log holds it."""

    event: dict[str, Any]
    offset: int | None  # None: an inbound half the log lacks, added by the fold
    truth: bool = True  # False: on the log, but not part of the truth (a copy or an orphan half)


def replay(steps: Sequence[Step], safety_stock: int, dedupe_window: int) -> tuple[Reference, list[Step]]:
    """The position the truth steps make, and the shipments among them that it applied."""
    position = Reference(safety_stock=safety_stock, dedupe_window=dedupe_window)
    shipped = []
    for step in steps:
        if step.truth:
            result = position.apply(step.event, step.offset)
            if step.event["type"] == "TransferShipped" and result.status == APPLIED:
                shipped.append(step)
    return position, shipped


def origin_of(event: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """(sku, origin location, origin offset) of an inbound half the engine wrote; None for
    any other event (an ASN's TransferInbound is an upstream event like the rest)."""
    source = event["source"]
    if event["type"] != "TransferInbound" or not source.startswith(TRANSFER_SOURCE) or event.get("source_seq") is None:
        return None
    return event["sku"], source[len(TRANSFER_SOURCE):], event["source_seq"]


@dataclass
class LogFold:
    safety_stock: Callable[[str, str], int]
    dedupe_window: int
    steps: dict[str, list[Step]] = field(default_factory=dict)  # SKU@LOCATION -> its history
    positions: dict[str, Reference] = field(default_factory=dict)
    records: int = 0
    refused: list[tuple[int, int, str]] = field(default_factory=list)  # partition, offset, reason
    lost_halves: list[str] = field(default_factory=list)  # shipments applied, no half on the log
    orphan_halves: list[str] = field(default_factory=list)  # halves on the log whose shipment was not applied

    def replay(self, key: str, steps: Sequence[Step] | None = None) -> tuple[Reference, list[Step]]:
        sku, location = key.split("@", 1)
        return replay(self.steps[key] if steps is None else steps, self.safety_stock(location, sku),
                      self.dedupe_window)


def fold_log(partitions: Mapping[int, Sequence[Record]], catalog: Mapping[str, Mapping[str, Any]],
             safety_stock: Callable[[str, str], int] = lambda location, sku: 0,
             dedupe_window: int = 200) -> LogFold:
    """partitions: partition -> its records in offset order."""
    fold = LogFold(safety_stock, dedupe_window)
    halves: dict[tuple[str, str, int], tuple[str, Step]] = {}  # origin -> the first half logged
    for partition in sorted(partitions):
        for offset, key, record in partitions[partition]:
            fold.records += 1
            try:
                event = normalize(key, record, catalog.get(record.get("sku")) if record else None)
            except Refused as refused:
                fold.refused.append((partition, offset, str(refused)))
                continue
            position = f"{event['sku']}@{event['location']}"
            step = Step(event, offset)
            if (origin := origin_of(event)) is not None:
                if origin in halves:
                    step.truth = False  # the engine sent it again: one shipment, one half
                else:
                    halves[origin] = (position, step)
            fold.steps.setdefault(position, []).append(step)
    shipped = {}
    for position in fold.steps:
        fold.positions[position], applied = fold.replay(position)
        shipped.update({(s.event["sku"], s.event["location"], s.offset): s for s in applied})
    for position in _match_halves(fold, halves, shipped):
        fold.positions[position] = fold.replay(position)[0]
    return fold


def _match_halves(fold: LogFold, halves: dict[tuple[str, str, int], tuple[str, Step]],
                  shipped: dict[tuple[str, str, int], Step]) -> set[str]:
    """One half per applied shipment, with its quantity; the positions that changed."""
    changed = set()
    for origin, (position, half) in halves.items():
        shipment = shipped.pop(origin, None)
        if shipment is None:
            half.truth = False
            fold.orphan_halves.append(_orphan(fold, origin, half, position))
            changed.add(position)
        elif half.event["qty"] != shipment.event["qty"]:
            half.event = {**half.event, "qty": shipment.event["qty"]}
            changed.add(position)
    for shipment in shipped.values():
        half = inbound_half(shipment.event, shipment.offset)
        position = f"{half['sku']}@{half['location']}"
        fold.steps.setdefault(position, []).append(Step(half, None))
        fold.lost_halves.append(half["event_id"])
        changed.add(position)
    return changed


def _orphan(fold: LogFold, origin: tuple[str, str, int], half: Step, position: str) -> str:
    """What an orphan half is the half of."""
    sku, location, offset = origin
    record = next((s for s in fold.steps.get(f"{sku}@{location}", ()) if s.offset == offset), None)
    if record is None or record.event["type"] != "TransferShipped":
        what = "no TransferShipped"
    else:
        what = f"a repeat of {record.event['event_id']} the fold did not apply (an upstream retry)"
    return (f"{half.event['event_id']} at {position} (offset {half.offset}) names offset {offset} of "
            f"{sku}@{location}: {what}")
