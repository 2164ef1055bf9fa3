"""The STOCKSTREAM_* settings the README documents, read from its tables: what a deployment file
may set. A row names one or more (`STOCKSTREAM_SASL_MECHANISM`, `_SASL_USERNAME`, ...: a name
starting with `_` continues the prefix)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

ROW = re.compile(r"^\|\s*`STOCKSTREAM_")
NAME = re.compile(r"`(STOCKSTREAM_[A-Z0-9_]+|_[A-Z0-9_]+)`")


def documented_settings() -> set[str]:
    names = set()
    for line in README.read_text().splitlines():
        if ROW.match(line):
            first_cell = line.split("|")[1]
            names.update(n if n.startswith("STOCKSTREAM_") else "STOCKSTREAM" + n for n in NAME.findall(first_cell))
    return names
