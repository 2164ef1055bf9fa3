"""A worker's tables on disk are kept only across a clean stop.

Faust writes a table change to RocksDB at once and to its changelog a moment later. A worker
killed in between leaves local records the changelog never got; at its next start Faust
replays the changelog over them only from the last offset it saw delivered, so some records
come back older than the others (a position without the reservation its lost change made, the
reservation with it). Such a mix must never be read. A clean stop, after Faust has flushed the
producer, leaves a mark; a start without the mark rebuilds every table from its changelog, as
a worker on a new disk would.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)
CLEAN = "stopped-cleanly"


def prepare(tabledir: Path) -> bool:
    """Before the tables open: keep them after a clean stop, else remove them. True if kept."""
    mark = tabledir / CLEAN
    if mark.exists():
        mark.unlink()
        return True
    if tabledir.is_dir() and any(tabledir.iterdir()):
        log.warning("%s: the last stop was not clean; rebuilding the tables from their changelogs", tabledir)
        shutil.rmtree(tabledir)
    return False


def mark_clean(tabledir: Path) -> None:
    """After a stop that flushed every change to its changelog."""
    if tabledir.is_dir():
        (tabledir / CLEAN).touch()
