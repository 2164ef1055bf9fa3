"""The Dockerfile, read by BuildKit's own parser and linted with the rules `docker build --check`
runs (compose-config dockerfile), and what the image's non-editable install needs from
pyproject.toml. No image is built here: the checks are on the instructions."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from streams.app.settings import PREFIX, Settings
from tests.deploy.conftest import ROOT
from tests.deploy.documented import documented_settings

SLIM = "python:3.11-slim"
VENV = "/opt/venv"
SECRETLIKE = re.compile(r"(?i)secret|password|passwd|token|api_?key|credential")


def check(tool: Path, dockerfile: Path) -> tuple[int, dict]:
    out = subprocess.run([str(tool), "dockerfile", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


@pytest.fixture(scope="module")
def report(compose_config) -> dict:
    returncode, found = check(compose_config, ROOT / "Dockerfile")
    assert returncode == 0, json.dumps(found["lint"], indent=2)
    return found


@pytest.fixture(scope="module")
def builder(report) -> dict:
    return report["stages"][0]


@pytest.fixture(scope="module")
def runtime(report) -> dict:
    return report["stages"][-1]


def commands(stage: dict, instruction: str) -> list[dict]:
    return [c["command"] for c in stage["commands"] if c["instruction"] == instruction]


def env(stage: dict) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for c in commands(stage, "ENV") for pair in c["Env"]}


def line_of(stage: dict, instruction: str) -> int:
    return next(c["line"] for c in stage["commands"] if c["instruction"] == instruction)


def test_buildkit_finds_nothing_to_warn_about(report):
    assert not report["lint"]["warnings"] and "buildError" not in report["lint"]


def test_the_linter_does_warn(compose_config, tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(f"FROM {SLIM}\nENV API_TOKEN=s3cret\nCMD stockstream worker\n")
    returncode, found = check(compose_config, bad)
    assert returncode == 1
    assert {w["ruleName"] for w in found["lint"]["warnings"]} == {"SecretsUsedInArgOrEnv", "JSONArgsRecommended"}


def test_two_stages_on_the_slim_python(report, builder):
    assert len(report["stages"]) == 2 and {s["base"] for s in report["stages"]} == {SLIM}
    assert builder["name"]


def test_the_builder_installs_the_project_not_editable_into_the_venv(builder):
    runs = " && ".join(line for c in commands(builder, "RUN") for line in c["CmdLine"])
    assert f"python -m venv {VENV}" in runs and "pip install --no-deps ." in runs
    assert " -e " not in runs and "--editable" not in runs
    assert env(builder)["PATH"].startswith(f"{VENV}/bin:")


def test_the_builder_copies_every_top_level_package_pyproject_installs(builder):
    packaging = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = {source for c in commands(builder, "COPY") for source in c["SourcePaths"]}
    assert {p.split(".")[0] for p in packaging["packages"]} | {"pyproject.toml", "README.md"} <= copied
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f".dockerignore drops {source}"


def test_the_runtime_stage_takes_only_the_venv_from_the_builder(builder, runtime):
    [copy] = commands(runtime, "COPY")
    assert copy["From"] == builder["name"] and copy["SourcePaths"] == [VENV] and copy["DestPath"] == VENV
    assert env(runtime)["PATH"].startswith(f"{VENV}/bin:")


def test_the_runtime_runs_as_a_fixed_non_root_uid(runtime):
    [user] = commands(runtime, "USER")
    uid = user["User"].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric: Kubernetes' runAsNonRoot can check it"
    assert line_of(runtime, "USER") < line_of(runtime, "ENTRYPOINT")
    data_dir = env(runtime)["STOCKSTREAM_DATA_DIR"]
    setup = " ".join(line for c in commands(runtime, "RUN") for line in c["CmdLine"])
    assert f"--uid {uid}" in setup and f"-o {uid}" in setup and data_dir in setup, "the state dir is the user's"
    assert commands(runtime, "WORKDIR")[0]["Path"] == data_dir


def test_the_container_settings_are_documented_and_hold_no_secret(builder, runtime):
    settings = {k: v for k, v in env(runtime).items() if k.startswith(PREFIX)}
    assert settings == {"STOCKSTREAM_WEB_BIND": "0.0.0.0", "STOCKSTREAM_DATA_DIR": "/var/lib/stockstream"}
    assert set(settings) <= documented_settings()
    for stage in (builder, runtime):
        names = set(env(stage)) | {arg["Key"] for c in commands(stage, "ARG") for arg in c["Args"]}
        assert not {n for n in names if SECRETLIKE.search(n)}


def test_it_serves_the_worker_on_its_port_and_checks_its_health(runtime):
    port = Settings().web_port
    assert commands(runtime, "EXPOSE")[0]["Ports"] == [str(port)]
    assert commands(runtime, "ENTRYPOINT")[0] == {"CmdLine": ["stockstream"], "Files": None, "PrependShell": False}
    assert commands(runtime, "CMD")[0]["CmdLine"] == ["worker"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "stockstream" in scripts
    [health] = commands(runtime, "HEALTHCHECK")
    test = health["Health"]["Test"]
    assert test[:2] == ["CMD", "python"] and "/health" in test[-1] and "STOCKSTREAM_WEB_PORT" in test[-1]


def test_a_non_editable_install_carries_the_schemas_and_every_package():
    """The image's `pip install .` must hold what the code reads beside its packages."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {".".join(p.relative_to(ROOT).parent.parts) for top in ("streams", "tables", "agents")
                for p in (ROOT / top).rglob("__init__.py")}
    assert packages <= set(setuptools["packages"])
    assert "schemas" in setuptools["packages"] and "*.avsc" in setuptools["package-data"]["schemas"]


def runtime_distributions() -> set[str]:
    """The project's dependencies and theirs (no extras), as installed in this environment."""
    seen, todo = set(), ["stockstream"]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for requirement in map(Requirement, metadata.requires(name) or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen - {"stockstream"}


def test_every_runtime_dependency_comes_as_a_manylinux_wheel_or_pure_python():
    """What makes a compiler-free slim image possible: a locally built wheel says linux_x86_64."""
    local = {}
    for name in runtime_distributions():
        wheel = metadata.distribution(name).read_text("WHEEL") or ""
        tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
        if not all(t.endswith("-none-any") or "manylinux" in t for t in tags):
            local[name] = tags
    assert "rocksdict" in runtime_distributions() and not local
