"""`stockstream demo`: a short story of one SKU at two warehouses, sent through a running
worker, with the position and ATS read back after every step (GET /positions)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson

from streams.app import topics
from streams.cli.kafka import encode_lines, send
from streams.app.settings import Settings

SKU = "DEMO"
STORY: list[tuple[str, list[dict[str, Any]]]] = [
    ("ERP receives 10 cases (12 each) at DC1", [{"type": "Receipt", "qty": 10, "uom": "CS"}]),
    ("web store reserves 30 for order o-1", [{"type": "ReserveRequested", "qty": 30, "reservation_id": "r1",
                                                "channel": "web", "order_id": "o-1"}]),
    ("the same reservation retried (no change)", [{"type": "ReserveRequested", "qty": 30, "reservation_id": "r1",
                                                     "channel": "web", "order_id": "o-1", "same_id": True}]),
    ("QC places a hold on 6", [{"type": "HoldPlaced", "qty": 6}]),
    ("WMS picks o-1", [{"type": "PickConfirmed", "qty": 30, "reservation_id": "r1"}]),
    ("o-1 ships", [{"type": "ShipmentPosted", "qty": 30, "reservation_id": "r1"}]),
    ("4 returned, to quarantine", [{"type": "ReturnReceived", "qty": 4, "disposition": "quarantine"}]),
    ("inspection passes 3, scraps 1", [
        {"type": "DispositionChanged", "qty": 3, "from_disposition": "quarantine", "disposition": "restockable"},
        {"type": "DispositionChanged", "qty": 1, "from_disposition": "quarantine", "disposition": "scrapped"}]),
    ("24 transferred to DC2", [{"type": "TransferShipped", "qty": 24, "to_location": "DC2"}]),
    ("cycle count finds 60", [{"type": "CycleCount", "qty": 60}]),
]
COLUMNS = ("on_hand", "quarantined", "held", "reserved", "picked", "incoming", "ats")
CHANNELS = ("web", "amazon")
POLICIES = """\
locations:
  DC1: {safety_stock: 4}
channels:
  web:
    locations: [DC1, DC2]
    publish_interval: 0.5
  amazon:
    locations: [DC1]
    buffer: 10
    allocation_percent: 50
    floor: 5
    publish_interval: 0.5
"""


def run(settings: Settings) -> int:
    global SKU
    run_id = uuid.uuid4().hex[:6]
    SKU = f"DEMO-{run_id}"  # a SKU of its own: every run starts from nothing
    base = f"http://{settings.web_host}:{settings.web_port}"
    if not _wait_healthy(base):
        print(f"no healthy worker at {base}: start one with `stockstream worker`")
        return 1
    _send(settings, topics.CATALOG, [{"sku": SKU, "uoms": {"CS": 12}}])
    _apply_policies(settings)
    print(f"{'step':<44}{'loc':<5}" + "".join(f"{c:>12}" for c in COLUMNS) + "".join(f"{c:>9}" for c in CHANNELS))
    seq = 0
    for title, events in STORY:
        before = {loc: _position(base, loc) for loc in ("DC1", "DC2")}
        records = []
        for event in events:
            seq += 1 if not event.get("same_id") else 0
            records.append(_event(run_id, seq, event))
        _send(settings, topics.EVENTS, records)
        time.sleep(0.3)
        after = {loc: _wait_change(base, loc, before[loc]) for loc in ("DC1", "DC2")}
        time.sleep(0.8)  # increases reach the channels after their 0.5 s interval
        shown = _channels(base)
        for loc, position in after.items():
            if position and (position != before[loc] or loc == "DC1"):
                channels = "".join(f"{shown.get(c, '-'):>9}" for c in CHANNELS) if loc == "DC1" else ""
                print(f"{title if loc == 'DC1' else '':<44}{loc:<5}" + "".join(f"{position[c]:>12}" for c in COLUMNS) + channels)
                title = ""
    print(f"\npositions from GET {base}/positions/{SKU}/<location>; web and amazon from the deltas the")
    print(f"channel stage published (GET {base}/availability/{SKU}); why amazon shows what it shows:")
    print(f"GET {base}/availability/{SKU}/explain?channel=amazon")
    return 0


def _apply_policies(settings: Settings) -> None:
    import contextlib
    import io
    import tempfile

    from streams.cli.policies import apply

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(POLICIES)
        handle.flush()
        with contextlib.redirect_stdout(io.StringIO()):
            if apply(settings, handle.name):
                raise SystemExit("could not apply the demo policies")


def _channels(base: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{base}/availability/{SKU}", timeout=5) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError):
        return {}
    return {name: c["available"] for name, c in body["channels"].items()}


def _event(run_id: str, seq: int, spec: dict[str, Any]) -> dict[str, Any]:
    event = {k: v for k, v in spec.items() if k != "same_id"}
    event.update(event_id=f"demo-{run_id}-{seq}", sku=SKU, location="DC1", source="demo", source_seq=seq,
                 occurred_at=datetime.now(timezone.utc).isoformat())
    if event["type"] == "Adjustment":
        event.setdefault("reason", "demo")
    return event


def _send(settings: Settings, logical: str, records: list[dict[str, Any]]) -> None:
    encoded, errors = encode_lines([(i, orjson.dumps(r).decode()) for i, r in enumerate(records, 1)], logical)
    if errors or send(settings, settings.topic(logical), encoded):
        raise SystemExit(f"could not send demo records: {errors}")


def _position(base: str, location: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{base}/positions/{SKU}/{location}", timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError):
        return None


def _wait_change(base: str, location: str, before: dict[str, Any] | None, timeout: float = 5) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _position(base, location)
        if now != before:
            return now
        time.sleep(0.1)
    return before


def _wait_healthy(base: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    return False
