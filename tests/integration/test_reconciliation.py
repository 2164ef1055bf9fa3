"""Reconciliation with the ERP on the real broker: a snapshot taken before a burst of orders that
reached the engine first shows no drift once rebased to its watermark; stock that really went
missing shows as drift on inventory.drift, in GET /drift and in the metrics, and a location whose
policy says auto_correct gets an Adjustment (reason reconciliation) through the event log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.app import topics
from streams.testing.clients import apply_policies
from streams.testing.deployment import wait_for

POLICIES = """
locations:
  WH1: {}
  WH2: {reconciliation: auto_correct}
channels:
  web:
    locations: [WH1, WH2]
"""
NOW = datetime.now(timezone.utc)


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def event(n: str, kind: str, location: str, qty: int, minutes_ago: float, source: str = "wms", **extra) -> dict:
    return {"event_id": f"{location}-{n}", "type": kind, "sku": "SKU-D", "location": location, "qty": qty,
            "source": source, "occurred_at": at(minutes_ago), **extra}


def drift_records(deployment) -> dict[str, dict]:
    return {record["event_id"]: record for record in deployment.read(topics.DRIFT)}


def test_rebased_snapshots_show_only_the_stock_that_really_went_missing(deployment, tmp_path):
    apply_policies(deployment, tmp_path, POLICIES)
    worker = deployment.worker()
    # The ERP took its snapshots 30 minutes ago; the orders shipped since reach the engine first.
    deployment.produce([event("stock", "Receipt", location, 100, 60) for location in ("WH1", "WH2")])
    deployment.produce([event(f"ship-{n}", "ShipmentPosted", location, 2, 20 - n * 0.1)
                        for location in ("WH1", "WH2") for n in range(30)])
    deployment.produce([event("snap", "Snapshot", "WH1", 100, 30, source="erp"),   # agrees at its watermark
                        event("snap", "Snapshot", "WH2", 93, 30, source="erp")])   # 7 went missing before it

    wait_for(lambda: {"WH1-snap", "WH2-snap"} <= set(drift_records(deployment)), 60, "both drift records")
    found = drift_records(deployment)
    agreed, missing = found["WH1-snap"], found["WH2-snap"]
    assert (agreed["erp"], agreed["engine_at_watermark"], agreed["drift"], agreed["action"]) == (100, 100, 0, "none")
    assert agreed["causes"] == ["rebased_movements:30"] and agreed["complete"]
    assert (missing["engine_at_watermark"], missing["drift"], missing["action"]) == (100, -7, "corrected")
    assert missing["causes"] == ["erp_lower", "rebased_movements:30"]

    # WH2's policy corrects through the log; WH1 (alert, the default) is left as it was.
    wait_for(lambda: (worker.position("SKU-D", "WH2") or {}).get("on_hand") == 100 - 60 - 7, 60, "the correction")
    assert worker.position("SKU-D", "WH2")["event_id"] == "WH2-snap:reconciliation"
    assert worker.position("SKU-D", "WH1")["on_hand"] == 40

    # Then WH1's stock really goes missing: the next snapshot alerts, and changes nothing.
    deployment.produce([event("snap-2", "Snapshot", "WH1", 35, 1, source="erp")])
    wait_for(lambda: "WH1-snap-2" in drift_records(deployment), 60, "the second WH1 record")
    assert drift_records(deployment)["WH1-snap-2"]["drift"] == -5
    status, listed = worker.get("/drift")
    assert status == 200
    assert [(d["location"], d["drift"], d["action"]) for d in listed["drift"]] == [("WH1", -5, "alert"),
                                                                                   ("WH2", -7, "corrected")]
    assert worker.get("/drift?location=WH2")[1]["drift"][0]["event_id"] == "WH2-snap"
    assert worker.get("/drift?limit=0")[0] == 400
    assert worker.position("SKU-D", "WH1")["on_hand"] == 40

    metrics = worker.get("/metrics")[1]
    assert 'stockstream_drift_records_total{action="alert",location="WH1"} 1.0' in metrics
    assert 'stockstream_drift_records_total{action="corrected",location="WH2"} 1.0' in metrics
    assert 'stockstream_drift_units_total{direction="missing",location="WH1"} 5.0' in metrics
