"""The business case: the generated day (streams/testing/demand_day.py), and bench/business_case.py
end to end at a tiny size (generator, files, what-if, table and chart)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from streams.testing.demand_day import DAY_START, POLICIES, day
from streams.wire.codec import load_schemas
from streams.wire.records import from_json
from tables.events import normalize
from tables.policy import parse_policies

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return day(300, seed=7)


def test_the_day_is_seeded(events):
    assert day(300, seed=7) == events
    assert day(300, seed=8) != events


def test_every_event_is_valid_unique_and_in_time_order(events):
    schema = load_schemas()["InventoryEvent"]  # as `stockstream produce` and `simulate` read them
    normalized = [normalize(from_json(schema, e), None) for e in events]
    times = [e["occurred_at"] for e in normalized]
    assert times == sorted(times)
    assert DAY_START.timestamp() * 1000 <= times[0] and times[-1] < DAY_START.timestamp() * 1000 + 86_400_000
    assert len({e["event_id"] for e in events}) == len(events)
    parse_policies(POLICIES)


def test_the_day_holds_every_kind_of_event_for_every_channel(events):
    kinds = Counter(e["type"] for e in events)
    assert kinds["CycleCount"] == 300 * 3  # every position is counted at the start
    for kind in ("ReserveRequested", "PickConfirmed", "ShipmentPosted", "ReservationReleased", "ReservationExpired",
                 "Receipt", "ReturnReceived", "DispositionChanged", "TransferShipped", "TransferReceived", "Adjustment"):
        assert kinds[kind] > 0, kind
    assert {e["channel"] for e in events if e["type"] == "ReserveRequested"} == set(POLICIES["channels"])
    returns = [e for e in events if e["type"] == "ReturnReceived"]
    assert {e["disposition"] for e in returns} == {"quarantine"}
    released = {e["disposition"] for e in events if e["type"] == "DispositionChanged"}
    assert "restockable" in released and released <= {"restockable", "damaged", "scrapped"}


def test_what_follows_an_order_comes_after_it_and_names_it(events):
    ordered = {e["reservation_id"]: e for e in events if e["type"] == "ReserveRequested"}
    seen = set()
    for event in events:
        rid = event.get("reservation_id")
        if event["type"] == "ReserveRequested":
            seen.add(rid)
        elif rid is not None:
            assert rid in seen and (event["sku"], event["location"]) == (ordered[rid]["sku"], ordered[rid]["location"])


def test_popularity_is_skewed(events):
    per_sku = Counter(e["sku"] for e in events if e["type"] == "ReserveRequested")
    top = sum(count for _, count in per_sku.most_common(15))  # the best 5%
    assert top > 0.2 * sum(per_sku.values())


def test_the_business_case_runs_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "business_case.py"), "--skus", "40",
                          "--data", str(tmp_path / "data"), "--docs", str(tmp_path / "docs")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "events for 40 SKUs generated" in out.stdout
    assert (tmp_path / "data" / "events.jsonl").stat().st_size > 0
    assert parse_policies(yaml.safe_load((tmp_path / "data" / "policies.yaml").read_text())).channels
    page = (tmp_path / "docs" / "business-case.md").read_text()
    assert "| channel | measure | batch every 15 min | stockstream |" in page
    for channel in ("web", "amazon", "edi", "b2b", "all"):
        assert f"| {channel} | orders |" in page
    assert ".venv/bin/python bench/business_case.py --skus 40" in page
    assert (tmp_path / "docs" / "business-case.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
