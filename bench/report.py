"""What every benchmark does with its figures: print them, and keep them in bench/results/."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, result: dict[str, Any]) -> None:
    result = {**result, "machine": f"{os.cpu_count()} cores",
              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-{int(time.time())}.json").write_bytes(orjson.dumps(result))
