"""Imports point one way (DESIGN §1, README "Layout"): the pure model imports nothing of ours
but itself, nor Faust, Kafka or I/O; table declarations import the model, the app and the wire
format; agents import tables; HTTP and the CLI sit on top. A worker never loads the CLI's Kafka
admin client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KAFKA = ("faust", "aiokafka", "confluent_kafka", "mode", "aiohttp", "rocksdict")

# package -> the packages of ours it may import (None: any)
ALLOWED = {
    "tables": {"tables"},  # but tables/store.py: the Faust table declarations
    "tables.store": {"tables", "streams.app", "streams.wire"},
    "streams.app": {"streams.app", "streams.wire", "tables"},  # the pure model, not tables.store
    "streams.wire": {"streams.wire", "streams.app.settings"},
    "agents": {"agents", "tables", "streams.app", "streams.wire"},
    "streams.http": {"streams.http", "agents", "tables", "streams.app", "streams.wire"},
    "streams.cli": None,
    "streams.testing": None,  # for tests and benchmarks: on top of everything
}


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("tables", "agents", "streams"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found.append((name, path))
    return found


def layer(module: str) -> str | None:
    if module == "tables.store":
        return "tables.store"
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return None  # streams.worker: the assembly of all of it


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module, path", modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_point_one_way(module, path):
    allowed = ALLOWED.get(layer(module) or "", None)
    ours = {name for name in imported(path) if name.split(".")[0] in ("tables", "agents", "streams")}
    if layer(module) == "tables":
        assert not {name for name in imported(path) if name.split(".")[0] in KAFKA}, "the pure model imports no I/O"
    if allowed is None:
        return
    wrong = {name for name in ours if not any(name == a or name.startswith(a + ".") for a in allowed)}
    if layer(module) in ("tables", "streams.app", "streams.wire"):
        wrong |= {name for name in ours if name == "tables.store"}
    assert not wrong, f"{module} imports {sorted(wrong)}"


def test_a_worker_never_loads_the_cli_or_its_kafka_admin_client():
    code = ("import sys, streams.worker; "
            "print(sorted(m for m in sys.modules if m.startswith(('confluent_kafka', 'streams.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
