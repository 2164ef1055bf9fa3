"""The operations summary's arithmetic (streams/http/ops_summary.py) and the page's files: what
each number means, from offsets, timestamps, dead letters and counters, without a broker."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from streams.http import ops_summary as summary
from streams.http.ops_summary import Offsets

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_100_000  # ms
P = "dep."  # a topic prefix


def offsets(**topics: list[tuple[int, int]]) -> Offsets:
    """topic (dots as __) -> [(start, end)] per partition."""
    starts, ends = {}, {}
    for topic, partitions in topics.items():
        for partition, (start, end) in enumerate(partitions):
            starts[(topic.replace("__", "."), partition)] = start
            ends[(topic.replace("__", "."), partition)] = end
    return Offsets(starts, ends)


def test_a_topic_counts_what_was_ever_written_and_what_it_holds():
    o = offsets(a=[(0, 10), (4, 6)], b=[(0, 0)])
    assert o.of("a") == [("a", 0), ("a", 1)]
    assert (o.written("a"), o.held("a")) == (16, 12)
    assert (o.written("missing"), o.held("missing"), o.of("missing")) == (0, 0, [])


def test_unhandled_starts_at_the_commit_or_the_first_record_held():
    o = offsets(t=[(0, 10), (0, 10), (5, 10), (0, 10)])
    committed = {("t", 0): 10, ("t", 2): 3, ("t", 3): 7}  # partition 1 never committed
    assert summary.unhandled(o, ["t"], committed) == {("t", 1): 0, ("t", 2): 5, ("t", 3): 7}
    assert summary.unhandled(o, ["other"], committed) == {}


def test_lag_is_the_records_behind_and_the_age_of_the_oldest():
    o = offsets(t=[(0, 10), (0, 10)])
    behind = {("t", 0): 7, ("t", 1): 9}
    stamps = {("t", 0): NOW - 4_000, ("t", 1): NOW - 1_500}
    assert summary.lag(o, behind, stamps, NOW) == {"lag_records": 4, "lag_seconds": 4.0}
    # The oldest could not be read in time: unknown, not a guess from the others.
    assert summary.lag(o, behind, {("t", 1): NOW - 1_500}, NOW) == {"lag_records": 4, "lag_seconds": None}
    assert summary.lag(o, {}, {}, NOW) == {"lag_records": 0, "lag_seconds": 0.0}
    # A producer's clock ahead of ours is no negative wait.
    assert summary.lag(o, {("t", 0): 9}, {("t", 0): NOW + 500}, NOW)["lag_seconds"] == 0.0


def test_each_channel_shows_its_topic_and_the_stage_lag():
    o = offsets(dep__availability__web=[(0, 3), (0, 2)], dep__availability__amazon=[(0, 0)])
    topic_of = {name: f"{P}availability.{name}" for name in ("web", "amazon", "b2b")}
    newest = {(f"{P}availability.web", 0): NOW - 9_000, (f"{P}availability.web", 1): NOW - 2_000}
    stage = {"lag_records": 2, "lag_seconds": 1.5}
    rows = summary.channel_rows({"web": 2.0, "b2b": 0.5, "amazon": 2.0}, topic_of, o, newest, stage)
    assert [r["channel"] for r in rows] == ["amazon", "b2b", "web"]
    web = rows[2]
    assert (web["published"], web["last_published_at"], web["publish_interval"]) == (5, summary.iso(NOW - 2_000), 2.0)
    assert (web["lag_records"], web["lag_seconds"]) == (2, 1.5)
    # Nothing published yet (an empty topic), or no topic yet (policies applied, topics not created).
    assert [(r["published"], r["last_published_at"]) for r in rows[:2]] == [(0, None), (0, None)]


def test_a_sink_is_judged_by_what_its_channel_has_not_acknowledged():
    web = f"{P}availability.web"
    o = offsets(dep__availability__web=[(0, 10), (0, 4)], dep__sinks__shop__dlq=[(2, 5)])
    group = f"{P}stockstream-sink-"
    committed = {
        group + "shop": {(web, 0): 10, (web, 1): 4},  # caught up
        group + "hook": {(web, 0): 9, (web, 1): 4},  # one waiting 5 s
        group + "slow": {(web, 0): 2},  # partition 1 never committed: all of it waits
        group + "new": {},  # acknowledged nothing yet
    }
    stamps = {group + "hook": {(web, 0): NOW - 5_000},
              group + "slow": {(web, 0): NOW - 600_000, (web, 1): NOW - 90_000}}
    rows = {r["sink"]: r for r in summary.sink_rows(P, committed, o, stamps, NOW)}
    assert rows["shop"] == {"sink": "shop", "group": group + "shop", "channel": "web", "lag_records": 0,
                            "lag_seconds": 0.0, "dlq_records": 3, "status": "caught up"}
    assert (rows["hook"]["lag_records"], rows["hook"]["lag_seconds"], rows["hook"]["status"]) == (1, 5.0, "sending")
    assert (rows["slow"]["lag_records"], rows["slow"]["lag_seconds"], rows["slow"]["status"]) == (12, 600.0, "behind")
    assert (rows["new"]["channel"], rows["new"]["lag_records"], rows["new"]["status"]) == (None, None, "not started")
    assert rows["new"]["dlq_records"] == 0


def test_a_sink_with_an_unknown_wait_is_behind():
    assert summary.sink_status({"lag_records": 3, "lag_seconds": None}) == "behind"
    assert summary.sink_status({"lag_records": 3, "lag_seconds": summary.BEHIND_SECONDS}) == "behind"


def dlq_headers(reason: str, failed_at: str = "1700000000000", partition: str = "3") -> list[tuple[str, bytes]]:
    fields = {"reason": reason, "stage": "locations", "topic": "dep.inventory.events", "partition": partition,
              "offset": "42", "failed_at": failed_at}
    return [("origin", b"erp")] + [(f"stockstream.dlq.{k}", v.encode()) for k, v in fields.items()]


def test_dead_letters_are_listed_newest_first_with_why_and_where():
    letters = [summary.letter(b"k", b"v", dlq_headers(f"reason {n}", str(1_700_000_000_000 + n)), 0) for n in range(15)]
    latest = summary.latest_letters(letters)
    assert len(latest) == summary.LATEST_LETTERS
    assert [one["reason"] for one in latest[:2]] == ["reason 14", "reason 13"]
    assert latest[0] == {"failed_at": summary.iso(1_700_000_000_014), "stage": "locations", "reason": "reason 14",
                         "topic": "dep.inventory.events", "partition": 3, "offset": 42}


def test_a_dead_letter_without_our_headers_still_shows():
    # Written by hand, or cut short: the record's own time, and no made-up origin.
    one = summary.letter(None, b"v", [("stockstream.dlq.partition", b"x")], 1_700_000_000_500)
    assert one["failed_at"] == summary.iso(1_700_000_000_500)
    assert (one["reason"], one["stage"], one["topic"], one["partition"], one["offset"]) == ("", None, None, None, None)


METRICS = """# HELP stockstream_dead_letters_total Records sent to the DLQ
# TYPE stockstream_dead_letters_total counter
stockstream_dead_letters_total{reason="decode",stage="locations"} %s
stockstream_dead_letters_total{reason="invalid:uom",stage="locations"} %s
# HELP stockstream_dead_letters_created Records sent to the DLQ
# TYPE stockstream_dead_letters_created gauge
stockstream_dead_letters_created{reason="decode",stage="locations"} 1.7e+09
# HELP stockstream_events_total Records a stage processed
# TYPE stockstream_events_total counter
stockstream_events_total{outcome="applied",stage="locations"} 99.0
"""


def test_dead_letter_counts_are_summed_over_the_workers():
    family = "stockstream_dead_letters"
    workers = [summary.samples_in(METRICS % (2.0, 0.0), family), summary.samples_in(METRICS % (1.0, 5.0), family)]
    assert summary.merged_counts(workers) == [
        {"reason": "invalid:uom", "stage": "locations", "count": 5},
        {"reason": "decode", "stage": "locations", "count": 3},
    ]
    assert summary.merged_counts([summary.samples_in(METRICS % (0.0, 0.0), family)]) == []


def test_every_file_of_the_page_ships_and_is_served_from_the_worker():
    from streams.http.ops import ASSETS, STATIC

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["streams.http"]
    files = sorted(p.relative_to(STATIC.parent).as_posix() for p in STATIC.iterdir())
    assert files and all(any(fnmatch.fnmatch(f, pattern) for pattern in data) for f in files), (files, data)
    assert sorted(f"static/{name}" for name, _ in ASSETS.values()) == files
    # No CDN, no other host: the page loads only what the worker serves.
    page = (STATIC / "index.html").read_text()
    loaded = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert loaded and all(url.startswith(("/ui", "data:")) for url in loaded), loaded
    script = (STATIC / "app.js").read_text()
    assert set(re.findall(r'getJSON\(`?"?(/[a-z]+)', script)) == {"/ops", "/drift", "/availability"}
    assert "innerHTML" not in script  # the engine's texts (SKUs, reasons) go in as text
