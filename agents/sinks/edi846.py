"""The EDI 846 sink: a file of X12 846 inventory advice per interval, in a directory a trading
partner's EDI software picks up (agents/sinks/x12.py writes the interchange).

The budget is one file per `every_seconds` (burst 1), so the runner hands over what changed
since the last file, most urgent first, up to batch_size lines. A file is written whole or not
at all (a temporary name, fsync, rename). Interchange control numbers increase across runs and
restarts: the next one is stored (written and renamed the same way) before the file that uses
it, so a crash may skip a number but never uses one twice.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from agents.sinks.backlog import Update
from agents.sinks.runner import Answer
from agents.sinks.x12 import Line, Party, inventory_advice

CONTROL_FILE = ".stockstream-846-control"


def write_whole(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class ControlNumbers:
    def __init__(self, directory: Path) -> None:
        self.file = directory / CONTROL_FILE

    def take(self) -> int:
        """The next interchange control number, stored as used before it is returned."""
        last = int(self.file.read_text().strip()) if self.file.exists() else 0
        number = last % 999_999_999 + 1
        write_whole(self.file, f"{number}\n")
        return number


class Edi846Channel:
    def __init__(self, directory: str, sender: Party, receiver: Party, items: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sender, self.receiver, self.items, self.clock = sender, receiver, items, clock
        self.control = ControlNumbers(self.directory)

    def cost(self, count: int) -> float:
        return 1  # a file, whatever it holds

    async def send(self, updates: list[Update]) -> Answer:
        known = [u for u in updates if u.sku in self.items]
        refused = [(u, f"no partner item number for {u.sku} (items)") for u in updates if u.sku not in self.items]
        if not known:
            return Answer(refused=refused, spent=0)
        number = self.control.take()
        at = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        lines = [Line(u.sku, self.items[u.sku], u.available) for u in known]
        text = inventory_advice(self.sender, self.receiver, number, at, lines)
        write_whole(self.directory / f"846-{at:%Y%m%d%H%M%S}-{number:09d}.x12", text)
        return Answer(acknowledged=known, refused=refused)

    async def close(self) -> None:
        pass
