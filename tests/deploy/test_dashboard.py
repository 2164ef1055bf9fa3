"""helm/stockstream/dashboards/stockstream.json (the chart ships it, docker-compose.yml mounts it):
every query asks for series the engine exposes, with labels those series have. The names and
labels come from the metric definitions themselves (streams/app/metrics.py,
agents/sinks/metrics.py); prometheus_client's default collectors (process_*) are served at the
same /metrics."""

from __future__ import annotations

import ast
import json
import re

import prometheus_client
import pytest

from tests.deploy.conftest import ROOT

DASHBOARD = ROOT / "helm" / "stockstream" / "dashboards" / "stockstream.json"
METRIC_MODULES = (ROOT / "streams" / "app" / "metrics.py", ROOT / "agents" / "sinks" / "metrics.py")
# The series a metric type exposes, by the suffix prometheus_client gives its samples (a
# GaugeMetricFamily: a gauge worked out when scraped, streams/app/metrics.py ConsumerLag).
SUFFIXES = {"Counter": ("_total",), "Gauge": ("",), "Histogram": ("_bucket", "_sum", "_count"),
            "Summary": ("_sum", "_count"), "GaugeMetricFamily": ("",)}
TARGET_LABELS = {"instance", "job"}  # what Prometheus adds to every scraped series
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
SERIES = re.compile(r"\b((?:stockstream|process|python)_[a-z0-9_]+)\b")
MATCHERS = re.compile(r"\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def defined_series() -> dict[str, set[str]]:
    """series name -> its labels, from the Counter/Gauge/Histogram calls of the metrics modules."""
    series: dict[str, set[str]] = {}
    for module in METRIC_MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in SUFFIXES:
                name = node.args[0].value
                labels = node.args[2] if len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg in ("labelnames", "labels")), ast.List(elts=[]))
                label_names = {element.value for element in labels.elts}
                base = name.removesuffix("_total") if node.func.id == "Counter" else name
                for suffix in SUFFIXES[node.func.id]:
                    series[base + suffix] = label_names | ({"le"} if suffix == "_bucket" else set())
    for family in prometheus_client.REGISTRY.collect():
        for sample in family.samples:
            if sample.name.startswith(("process_", "python_")):
                series.setdefault(sample.name, set()).update(sample.labels)
    return series


def queries() -> dict[str, str]:
    """'panel title/refId' -> its PromQL"""
    dashboard = json.loads(DASHBOARD.read_text())
    return {f"{p['title']}/{t['refId']}": t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])}


def test_the_series_definitions_are_read():
    series = defined_series()
    assert series["stockstream_events_total"] == {"stage", "type", "outcome"}
    assert series["stockstream_sink_send_seconds_bucket"] == {"sink", "le"}
    assert series["stockstream_event_to_delta_seconds_bucket"] == {"channel", "since", "le"}
    assert series["stockstream_consumer_lag_records"] == {"topic", "partition"}
    assert series["stockstream_rebalances_total"] == set()
    assert "stockstream_sink_backlog_skus" in series


@pytest.mark.parametrize("expr", queries().values(), ids=queries().keys())
def test_a_query_asks_for_series_the_engine_exposes_by_their_labels(expr):
    series = defined_series()
    bare = QUOTED.sub('""', expr)
    names = set(SERIES.findall(MATCHERS.sub("", bare)))
    assert names, f"no stockstream metric in {expr}"
    assert names <= set(series), f"not exposed: {sorted(names - set(series))}"
    labels = set().union(*(series[n] for n in names)) | TARGET_LABELS
    used = {m.split("=")[0].strip(" !~") for group in MATCHERS.findall(bare) for m in group.split(",") if m.strip()}
    used |= {label.strip() for group in GROUPING.findall(bare) for label in group.split(",") if label.strip()}
    assert used <= labels, f"labels these series do not have: {sorted(used - labels)}"


def test_the_dashboard_is_provisionable_with_any_prometheus_data_source():
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["uid"] == "stockstream"
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in [panel, *panel.get("targets", [])]:
            if "datasource" in target:
                assert target["datasource"]["uid"] == "${" + variable["name"] + "}"


def test_the_dashboard_covers_the_engine_and_the_sinks():
    used = {name for expr in queries().values() for name in SERIES.findall(expr)}
    assert {"stockstream_events_total", "stockstream_dead_letters_total", "stockstream_deltas_total",
            "stockstream_sink_send_seconds_bucket", "stockstream_sink_budget_used_total",
            "stockstream_sink_lag_records"} <= used


def test_the_dashboard_shows_the_business_kpis():
    """Sync lag by channel, reservation acceptance and oversell rejections, exception volume,
    drift by location, recovery time."""
    exprs = queries().values()
    assert any("stockstream_event_to_delta_seconds_bucket" in e and "channel" in e for e in exprs)
    assert any('stockstream_reservations_total{decision="accepted"}' in e for e in exprs)
    assert any('stockstream_reservations_total{decision="rejected"}' in e for e in exprs)
    assert any({"stockstream_dead_letters_total", "stockstream_flags_total", "stockstream_sink_dead_letters_total"}
               <= set(SERIES.findall(e)) for e in exprs)
    assert any("stockstream_drift_units_total" in e and "location" in e for e in exprs)
    assert any("stockstream_recovery_seconds" in e for e in exprs)
