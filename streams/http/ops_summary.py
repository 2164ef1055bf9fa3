"""GET /ops/summary, assembled: pure functions over what Kafka and the workers' counters say
(offsets, record timestamps, dead letters, Prometheus samples), so what each number means is
unit-tested without a broker. Times are epoch milliseconds until they are shown.

Every number but the dead letters by reason comes from Kafka, so any worker gives the whole
deployment's view without asking the others: a topic's offsets count what was ever written to
it, a consumer group's committed offsets say what it has handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

from streams.wire import deadletters

TP = tuple[str, int]  # (topic, partition); aiokafka's TopicPartition is such a tuple

# A sink whose oldest unsent delta has waited this long is behind: a rate-limited channel takes
# seconds to drain a burst, not minutes.
BEHIND_SECONDS = 60.0
LATEST_LETTERS = 10  # dead letters shown, newest first
SINK_GROUP = "stockstream-sink-"  # after the topic prefix (agents/sinks/config.py Sink.group_id)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Offsets:
    """The first and next offsets of every partition of the topics asked about that exist."""

    starts: Mapping[TP, int]
    ends: Mapping[TP, int]

    def of(self, topic: str) -> list[TP]:
        return sorted(tp for tp in self.ends if tp[0] == topic)

    def written(self, topic: str) -> int:
        """Records ever written (compaction and retention keep the offsets counting)."""
        return sum(self.ends[tp] for tp in self.of(topic))

    def held(self, topic: str) -> int:
        """Records the topic holds now."""
        return sum(self.ends[tp] - self.starts[tp] for tp in self.of(topic))


def unhandled(offsets: Offsets, topics: Iterable[str], committed: Mapping[TP, int]) -> dict[TP, int]:
    """Per partition of topics where a group is behind: the first offset it has not committed.
    A partition it never committed is unhandled from its first record; a commit older than the
    first record still held (retention) from that record."""
    out = {}
    for topic in topics:
        for tp in offsets.of(topic):
            at = max(committed.get(tp, offsets.starts[tp]), offsets.starts[tp])
            if at < offsets.ends[tp]:
                out[tp] = at
    return out


def lag(offsets: Offsets, behind: Mapping[TP, int], stamps: Mapping[TP, int], now_ms: int) -> dict[str, Any]:
    """Records not handled yet, and how long the oldest of them has waited (its timestamp, read
    from Kafka: None when it could not be read in time)."""
    records = sum(offsets.ends[tp] - at for tp, at in behind.items())
    if not records:
        return {"lag_records": 0, "lag_seconds": 0.0}
    known = [stamps[tp] for tp in behind if tp in stamps]
    seconds = max(0.0, (now_ms - min(known)) / 1000) if len(known) == len(behind) else None
    return {"lag_records": records, "lag_seconds": seconds}


def channel_rows(channels: Mapping[str, float], topic_of: Mapping[str, str], offsets: Offsets,
                 newest: Mapping[TP, int], stage_lag: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per channel in force. The lag is the channel stage's: one stage computes every
    channel from the same records, so its backlog delays each channel alike (an increase then
    waits up to the channel's publish_interval more, by design)."""
    rows = []
    for name, interval in sorted(channels.items()):
        tps = offsets.of(topic_of[name])
        last = max((newest[tp] for tp in tps if tp in newest), default=None)
        rows.append({"channel": name, "publish_interval": interval, "published": offsets.written(topic_of[name]),
                     "last_published_at": iso(last), **stage_lag})
    return rows


def sink_status(row: Mapping[str, Any]) -> str:
    if row["lag_records"] is None:
        return "not started"  # no commit yet: it has acknowledged nothing so far
    if row["lag_records"] == 0:
        return "caught up"
    if row["lag_seconds"] is not None and row["lag_seconds"] < BEHIND_SECONDS:
        return "sending"
    return "behind"


def sink_rows(prefix: str, committed: Mapping[str, Mapping[TP, int]], offsets: Offsets,
              stamps: Mapping[str, Mapping[TP, int]], now_ms: int) -> list[dict[str, Any]]:
    """One row per sink consumer group (committed: group -> its commits; stamps: group -> the
    timestamps of its oldest unsent records). A sink commits only what its channel acknowledged,
    so its lag is what the channel has not taken yet."""
    rows = []
    channel_prefix = prefix + "availability."
    for group, commits in sorted(committed.items()):
        name = group[len(prefix + SINK_GROUP):]
        topics = sorted({tp[0] for tp in commits if tp[0].startswith(channel_prefix)})
        row: dict[str, Any] = {"sink": name, "group": group,
                               "channel": topics[0][len(channel_prefix):] if topics else None,
                               "lag_records": None, "lag_seconds": None,
                               "dlq_records": offsets.held(f"{prefix}sinks.{name}.dlq")}
        if topics:
            row.update(lag(offsets, unhandled(offsets, topics, commits), stamps.get(group, {}), now_ms))
        row["status"] = sink_status(row)
        rows.append(row)
    return rows


def letter(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]],
           timestamp_ms: int) -> dict[str, Any]:
    """A dead letter as the page lists it: why, where it came from, when (its record's time
    when the failed_at header is missing)."""
    read = deadletters.read(key, value, headers)  # holds only the headers it found
    failed_at = read.get("failed_at")
    failed_at = failed_at if isinstance(failed_at, int) else timestamp_ms
    return {"failed_at": iso(failed_at), "stage": read.get("stage") or None, "reason": read.get("reason") or "",
            "topic": read.get("topic") or None, "partition": _number(read.get("partition")),
            "offset": _number(read.get("offset")), "_ms": failed_at}


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None  # a header that said something else


def latest_letters(letters: Iterable[dict[str, Any]], count: int = LATEST_LETTERS) -> list[dict[str, Any]]:
    newest = sorted(letters, key=lambda one: one["_ms"], reverse=True)[:count]
    return [{k: v for k, v in one.items() if k != "_ms"} for one in newest]


Sample = tuple[Mapping[str, str], float]  # a counter's labels and value


def samples_in(text: str, family: str) -> list[Sample]:
    """A counter family's samples in a worker's /metrics text (family: its name without _total)."""
    return [(s.labels, s.value) for f in text_string_to_metric_families(text) if f.name == family
            for s in f.samples if s.name == family + "_total"]


def merged_counts(workers: Iterable[Iterable[Sample]]) -> list[dict[str, Any]]:
    """Each worker's counts since it started, summed per label set, largest first."""
    total: dict[tuple[tuple[str, str], ...], float] = {}
    for samples in workers:
        for labels, value in samples:
            key = tuple(sorted(labels.items()))
            total[key] = total.get(key, 0.0) + value
    rows = [{**dict(key), "count": int(value)} for key, value in total.items() if value]
    return sorted(rows, key=lambda row: (-row["count"], sorted(row.items())))
