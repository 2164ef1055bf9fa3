"""Seeded streams as upstream systems really send them: the simulator's random events, with
producer redeliveries, and with absolute counts (CycleCount, Snapshot) from two sources
arriving late and out of order."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from streams.cli import simulate

# Sources of their own: the simulator's wms and erp number their counts differently.
SOURCES = ("handhelds", "erp-counts")


def events(count: int, skus: int, locations: int, seed: int) -> list[dict[str, Any]]:
    return list(simulate.events(seed=seed, count=count, skus=skus, locations=locations))


def redelivered(records: Sequence[dict[str, Any]], ratio: float, seed: int) -> list[dict[str, Any]]:
    """Each record, and for `ratio` of them a second copy a few records later: a producer that
    lost the broker's acknowledgement and sent the batch again."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    due: list[tuple[int, dict[str, Any]]] = []  # (at which output length, copy)
    for record in records:
        out.append(record)
        if rng.random() < ratio:
            due.append((len(out) + rng.randint(0, 20), dict(record)))
        while due and due[0][0] <= len(out):
            out.append(due.pop(0)[1])
        due.sort(key=lambda pair: pair[0])
    out.extend(copy for _, copy in due)
    return out


def with_stale_counts(records: Sequence[dict[str, Any]], ratio: float, skus: int, locations: int,
                      seed: int) -> list[dict[str, Any]]:
    """The records with absolute counts between them: after `ratio` of the records, a count of
    a random position from one of two sources. Each source numbers its counts (source_seq),
    but they arrive in shuffled runs of four, and a fifth of them carry no number at all, only
    an occurred_at that is as shuffled: the newest count must win, a late older one change
    nothing, per source."""
    rng = random.Random(seed)
    seq = {source: 0 for source in SOURCES}
    pending: dict[str, list[dict[str, Any]]] = {source: [] for source in SOURCES}
    out: list[dict[str, Any]] = []
    for n, record in enumerate(records):
        out.append(record)
        if rng.random() >= ratio:
            continue
        source = rng.choice(SOURCES)
        seq[source] += 1
        pending[source].append(_count(rng, n, source, seq[source], skus, locations, record["occurred_at"]))
        if len(pending[source]) == 4:
            rng.shuffle(pending[source])
            out.extend(pending[source])
            pending[source] = []
    for source in SOURCES:
        out.extend(pending[source])
    return out


def _count(rng: random.Random, n: int, source: str, seq: int, skus: int, locations: int,
           now: str) -> dict[str, Any]:
    at = datetime.fromisoformat(now.replace("Z", "+00:00")) - timedelta(seconds=rng.randint(0, 30))
    count = {
        "event_id": f"count-{source}-{seq}", "type": rng.choice(["CycleCount", "CycleCount", "Snapshot"]),
        "sku": f"SKU-{rng.randrange(skus)}", "location": f"WH{rng.randrange(locations)}", "source": source,
        "qty": rng.randint(0, 60), "occurred_at": at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
    }
    if rng.random() >= 0.2:
        count["source_seq"] = seq
    return count
