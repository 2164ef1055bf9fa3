"""Deployment checks run the real tools (helm, a Compose implementation) that `make tools`
builds into .tools/bin. Without them the checks fail, never skip: `make test` builds them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing; build it with `make tools`")
    return path


@pytest.fixture(scope="session")
def helm() -> Path:
    return tool("helm")


@pytest.fixture(scope="session")
def compose_config() -> Path:
    return tool("compose-config")
