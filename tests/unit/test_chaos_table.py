"""bench/chaos_table.py: one row per fault, anomalies summed from the verifier's counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson

SPEC = importlib.util.spec_from_file_location("chaos_table", Path(__file__).resolve().parents[2] / "bench" / "chaos_table.py")
chaos_table = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(chaos_table)

CLEAN = {"differences": 0, "lost_writes": 0, "duplicates_applied": 0, "diverged": 0,
         "non_monotonic": {"availability.web": 0, "availability.locations": 0}}


def test_a_row_per_fault_and_the_anomalies_summed(tmp_path, monkeypatch):
    results = [
        {"fault": "SIGKILL x3", "events": 100000, "injected": ["a", "b", "c"], "seconds_to_health": [7.9, 8.0],
         "seconds_last_fault_to_lag_0": 10.9, "runtime_seconds": 300.5, "verdict": CLEAN},
        {"fault": "storm", "requests": 1000, "injected": ["kill"], "seconds_to_health": [7.0], "storm_seconds": 14.4,
         "verdict": {**CLEAN, "lost_writes": 2, "non_monotonic": {"availability.web": 1}, "differences": 2}},
    ]
    source = tmp_path / "chaos.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in results))
    monkeypatch.setattr(chaos_table, "RESULTS", tmp_path / "out")
    assert chaos_table.main([str(source)]) == 0
    text = next((tmp_path / "out").glob("chaos-*.md")).read_text()
    assert "| SIGKILL x3 | 100,000 | 3 | 0 | 0 | 0 | 0 | 0 | 7.9, 8 | 10.9 | 300.5 |" in text
    assert "| storm | 1,000 requests | 1 | 3 | 2 | 0 | 1 | 2 | 7 | - | 14.4 |" in text
    assert "2 faults, 3 anomalies found by the independent verifier in the 2 it judged" in text


def test_a_fault_judged_by_its_own_test_shows_no_verifier_counts():
    row = chaos_table.row({"fault": "sink stalled", "events": 3000, "injected": ["SIGSTOP"],
                           "seconds_resume_to_receiver_match_and_lag_0": 6.2, "runtime_seconds": 30})
    assert row == ["sink stalled", "3,000", "1", "-", "-", "-", "-", "-", "-", "6.2", "30"]


def test_no_results_is_an_error_not_an_empty_table(tmp_path, capsys):
    assert chaos_table.main([str(tmp_path / "missing.jsonl")]) == 1
    assert "no results" in capsys.readouterr().err
