"""`stockstream simulate`: the random scenario (--out) as before, and the what-if
(--events FILE --policies FILE, streams/cli/whatif.py), with its answers to bad input."""

from __future__ import annotations

import os

import orjson
import pytest

from streams import cli

POLICIES = "channels:\n  web: {locations: [WH1]}\n  amazon: {locations: [WH1]}\n"
SELL_OUT = [
    {"type": "CycleCount", "minute": 0, "qty": 10},
    {"type": "ReserveRequested", "minute": 1, "qty": 10, "channel": "amazon", "reservation_id": "a1"},
    {"type": "ReserveRequested", "minute": 6, "qty": 2, "channel": "web", "reservation_id": "w1"},
    {"type": "Receipt", "minute": 30, "qty": 1, "location": "WH9"},
]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No .env from the checkout, no broker: simulate needs neither."""
    for name in list(os.environ):
        if name.startswith("STOCKSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STOCKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.chdir(tmp_path)


def record(n: int, spec: dict) -> dict:
    spec = dict(spec)
    minute = spec.pop("minute")
    out = {"event_id": f"e{n}", "sku": "SKU-1", "location": "WH1", "source": "wms",
           "occurred_at": f"2026-11-25T10:{minute:02d}:00Z", **spec}
    if out["type"] == "ReserveRequested":
        out["order_id"] = "o-" + out["reservation_id"]
    return out


def files(tmp_path, specs=SELL_OUT, policies=POLICIES, raw: str | None = None) -> tuple[str, str]:
    events = tmp_path / "events.jsonl"
    events.write_text(raw if raw is not None else "".join(orjson.dumps(record(n, s)).decode() + "\n"
                                                         for n, s in enumerate(specs)))
    rules = tmp_path / "policies.yaml"
    rules.write_text(policies)
    return str(events), str(rules)


def simulate(*args: str) -> int:
    return cli.main(["simulate", *args])


# --- what-if -------------------------------------------------------------------------------------


def test_the_what_if_prints_both_columns_per_channel(tmp_path, capsys):
    events, rules = files(tmp_path)
    assert simulate("--events", events, "--policies", rules) == 0
    out = capsys.readouterr().out
    assert "What-if over 4 events for 1 SKUs, 2026-11-25T10:00:00Z to 2026-11-25T10:30:00Z (0.5 h)" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("channel"))
    assert header.split()[-5:] == ["batch", "every", "15", "min", "stockstream"]
    web = lines.index(next(line for line in lines if line.startswith("web")))
    assert lines[web].split()[-2:] == ["1", "1"]  # orders
    assert lines[web + 1].split()[-2:] == ["1", "0"]  # accepted
    assert lines[web + 2].split()[-2:] == ["1", "0"]  # oversold
    assert lines[web + 3].split()[-2:] == ["2.0", "0.0"]  # (10 x 5 + 8 x 9) unit-minutes: 2.03 unit-hours


def test_json_for_machines(tmp_path, capsys):
    events, rules = files(tmp_path)
    assert simulate("--events", events, "--policies", rules, "--baseline-sync-minutes", "5", "--json") == 0
    result = orjson.loads(capsys.readouterr().out)
    assert result["baseline_sync_minutes"] == 5 and result["hours"] == 0.5
    web = result["channels"]["web"]
    # With a 5-minute sync web learns of the sell-out at 5: its order at 6 is refused.
    assert web["batch"] == {"orders": 1, "accepted": 0, "oversold": 0,
                            "units_exposed_unit_hours": 0.67,  # 10 units from minute 1 to 5
                            "time_at_zero_sku_hours": 0.42,  # from 5 to 30
                            "time_at_zero_with_stock_sku_hours": 0}
    assert web["stockstream"] == {"orders": 1, "accepted": 0, "oversold": 0, "units_exposed_unit_hours": 0,
                                  "time_at_zero_sku_hours": 0.48,  # from 1 to 30
                                  "time_at_zero_with_stock_sku_hours": 0}
    assert result["unlisted_orders"] == {}


def test_units_other_than_each_need_the_catalog(tmp_path, capsys):
    specs = [{"type": "Receipt", "minute": 0, "qty": 2, "uom": "CS"},
             {"type": "ReserveRequested", "minute": 1, "qty": 13, "channel": "web", "reservation_id": "w1"}]
    events, rules = files(tmp_path, specs)
    assert simulate("--events", events, "--policies", rules) == 1
    assert "events.jsonl: line 1: uom: " in capsys.readouterr().err
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text('{"sku": "SKU-1", "uoms": {"CS": 12}}\n')
    assert simulate("--events", events, "--policies", rules, "--catalog", str(catalog), "--json") == 0
    web = orjson.loads(capsys.readouterr().out)["channels"]["web"]["stockstream"]
    assert (web["orders"], web["accepted"]) == (1, 1)  # 2 cases of 12 show 24


def test_orders_of_channels_without_a_policy_are_reported(tmp_path, capsys):
    specs = SELL_OUT + [{"type": "ReserveRequested", "minute": 2, "qty": 1, "channel": "phone",
                         "reservation_id": "p1"}]
    events, rules = files(tmp_path, specs)
    assert simulate("--events", events, "--policies", rules) == 0
    assert "orders from channels without a policy, taken as they happened: phone 1" in capsys.readouterr().out


def test_a_bad_line_is_reported_with_its_number_and_field_and_nothing_is_simulated(tmp_path, capsys):
    specs = [SELL_OUT[0], {"type": "Receipt", "minute": 1, "qty": 0}, SELL_OUT[1]]
    events, rules = files(tmp_path, specs)
    assert simulate("--events", events, "--policies", rules) == 1
    captured = capsys.readouterr()
    assert f"{events}: line 2: qty: must be positive for Receipt, got 0" in captured.err
    assert "1 bad line(s); nothing was simulated" in captured.err
    assert captured.out == ""


def test_at_most_twenty_bad_lines_are_shown(tmp_path, capsys):
    events, rules = files(tmp_path, [{"type": "Receipt", "minute": 1, "qty": 0}] * 25)
    assert simulate("--events", events, "--policies", rules) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 21 and err[-1] == "25 bad line(s) (5 not shown); nothing was simulated"


def test_lines_that_are_not_events(tmp_path, capsys):
    events, rules = files(tmp_path, raw='{"event_id": "x"\n\n{"event_id": "y", "colour": "red"}\n')
    assert simulate("--events", events, "--policies", rules) == 1
    err = capsys.readouterr().err
    assert f"{events}: line 1: not JSON" in err
    assert f"{events}: line 3: colour: is not a field of InventoryEvent" in err
    assert "2 bad line(s)" in err


def test_a_file_that_is_not_text(tmp_path, capsys):
    events, rules = files(tmp_path)
    with open(events, "ab") as handle:
        handle.write(b"\xff\xfe\n")
    assert simulate("--events", events, "--policies", rules) == 1
    assert f"{events}: is not UTF-8 text" in capsys.readouterr().err


def test_an_empty_history(tmp_path, capsys):
    events, rules = files(tmp_path, raw="\n")
    assert simulate("--events", events, "--policies", rules) == 1
    assert "holds no events: there is nothing to simulate" in capsys.readouterr().err


def test_a_policies_file_error_names_the_file_and_the_path(tmp_path, capsys):
    events, rules = files(tmp_path, policies="channels:\n  web: {locations: [WH1], alocation_percent: 5}\n")
    assert simulate("--events", events, "--policies", rules) == 1
    assert f"{rules}: channels.web.alocation_percent: is not a field here" in capsys.readouterr().err


def test_policies_without_a_channel(tmp_path, capsys):
    events, rules = files(tmp_path, policies="locations:\n  WH1: {safety_stock: 1}\n")
    assert simulate("--events", events, "--policies", rules) == 1
    assert f"{rules}: names no channel: there is nothing to simulate" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["events", "policies", "catalog"])
def test_a_missing_file(tmp_path, capsys, missing):
    events, rules = files(tmp_path)
    paths = {"events": events, "policies": rules, "catalog": None}
    paths[missing] = str(tmp_path / "nowhere.jsonl")
    args = ["--events", paths["events"], "--policies", paths["policies"]]
    if paths["catalog"]:
        args += ["--catalog", paths["catalog"]]
    assert simulate(*args) == 2
    err = capsys.readouterr().err
    assert "nowhere.jsonl" in err and "No such file" in err


def test_a_bad_catalog_line(tmp_path, capsys):
    events, rules = files(tmp_path)
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text('{"sku": "SKU-1", "uoms": {"CS": 0}}\n')
    assert simulate("--events", events, "--policies", rules, "--catalog", str(catalog)) == 1
    assert f"{catalog}: line 1: uoms.CS:" in capsys.readouterr().err


# --- which half, and the options of each -----------------------------------------------------------


def test_the_random_scenario_works_as_before(tmp_path, capsys):
    assert simulate("--out", str(tmp_path / "s"), "--events", "40", "--seed", "3", "--skus", "2") == 0
    assert capsys.readouterr().out == f"wrote {tmp_path}/s/catalog.jsonl, events.jsonl (40 events) and expected.json\n"
    written = (tmp_path / "s" / "events.jsonl").read_text().splitlines()
    assert len(written) == 40 and {orjson.loads(line)["sku"] for line in written} <= {"SKU-0", "SKU-1"}
    assert simulate("--out", str(tmp_path / "d")) == 0
    assert "(5000 events)" in capsys.readouterr().out


def test_a_random_scenario_is_a_what_if_history(tmp_path, capsys):
    assert simulate("--out", str(tmp_path), "--events", "300", "--seed", "4") == 0
    capsys.readouterr()
    rules = tmp_path / "policies.yaml"
    rules.write_text("channels:\n  web: {locations: [WH0, WH1]}\n")
    assert simulate("--events", str(tmp_path / "events.jsonl"), "--catalog", str(tmp_path / "catalog.jsonl"),
                    "--policies", str(rules), "--json") == 0
    result = orjson.loads(capsys.readouterr().out)
    assert result["events"] == 300 and set(result["unlisted_orders"]) == {"amazon", "b2b"}


@pytest.mark.parametrize("args, message", [
    ([], "give --out DIR for a random scenario, or --events FILE --policies FILE for a what-if"),
    (["--out", "x", "--policies", "p.yaml"], "give --out DIR for a random scenario, or"),
    (["--policies", "p.yaml"], "--events FILE is required with --policies"),
    (["--out", "x", "--events", "e.jsonl"], "--events: with --out it is how many events to write, got 'e.jsonl'"),
    (["--out", "x", "--json"], "--json is for a what-if (--policies), not for a random scenario"),
    (["--out", "x", "--baseline-sync-minutes", "5"], "--baseline-sync-minutes is for a what-if"),
    (["--events", "e.jsonl", "--policies", "p.yaml", "--seed", "2"], "--seed is for a random scenario (--out)"),
    (["--events", "e.jsonl", "--policies", "p.yaml", "--baseline-sync-minutes", "-1"],
     "--baseline-sync-minutes: must be from 0 (every event) to 10080, got -1"),
    (["--events", "e.jsonl", "--policies", "p.yaml", "--baseline-sync-minutes", "nan"],
     "--baseline-sync-minutes: must be from 0"),
])
def test_options_that_do_not_go_together(capsys, args, message):
    assert simulate(*args) == 2
    assert f"stockstream simulate: {message}" in capsys.readouterr().err
