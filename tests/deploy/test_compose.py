"""docker-compose.yml as Compose itself renders it (compose-config: compose-go's loader, schema
validation, interpolation, normalization, consistency checks, as `docker compose config`), and
the files it mounts. No Docker engine runs here: these are the checks that need none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from streams.app.settings import PREFIX, Settings
from streams.cli import policies, sinks
from tests.deploy.conftest import ROOT
from tests.deploy.documented import documented_settings

WORKERS = ("worker-1", "worker-2")
APP = ("init", *WORKERS, "sink-web")  # the services that read STOCKSTREAM_* settings
# What every process of one deployment must agree on.
SHARED = ("STOCKSTREAM_KAFKA_BOOTSTRAP", "STOCKSTREAM_TOPIC_PREFIX", "STOCKSTREAM_PARTITIONS",
          "STOCKSTREAM_REPLICATION_FACTOR", "STOCKSTREAM_API_TOKENS")
# Variables the file interpolates: unset, so the rendering shows the file's own defaults.
INTERPOLATED = ("STOCKSTREAM_API_TOKENS", "WEBHOOK_SECRET", "GRAFANA_ADMIN_PASSWORD")


def render(tool: Path, project: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in INTERPOLATED and not k.startswith("COMPOSE_")}
    return subprocess.run([str(tool), "--format", "json", "--project-directory", str(project),
                           str(project / "docker-compose.yml")], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def project(compose_config) -> dict:
    out = render(compose_config, ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def services(project) -> dict:
    return project["services"]


def kafka_env(services) -> dict[str, str]:
    return services["kafka"]["environment"]


def listeners(value: str) -> dict[str, str]:
    """'NAME://host:port,...' -> {NAME: 'host:port'}"""
    return dict(entry.split("://", 1) for entry in value.split(","))


def mount(service: dict, target: str) -> dict:
    found = [v for v in service.get("volumes", []) if v["target"] == target]
    assert found, f"nothing is mounted at {target}"
    return found[0]


def depends(service: dict) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def command_line(service: dict) -> str:
    return " ".join((service.get("entrypoint") or []) + (service.get("command") or []))


def health_command(service: dict) -> str:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "exec form: no shell needed in the container"
    return " ".join(test[1:])


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# Kafka


def test_kafka_is_the_official_image_as_one_kraft_node(services):
    env = kafka_env(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    node, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == env["KAFKA_NODE_ID"]
    assert voter == "kafka:" + listeners(env["KAFKA_LISTENERS"])[controller].rsplit(":", 1)[1]
    assert env["CLUSTER_ID"], "KRaft formats its storage with a fixed cluster id"
    assert mount(services["kafka"], env["KAFKA_LOG_DIRS"])["type"] == "volume"


def test_kafka_advertises_one_listener_to_the_containers_and_one_to_the_host(services):
    env = kafka_env(services)
    bound, advertised = listeners(env["KAFKA_LISTENERS"]), listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(bound) <= set(protocols)
    internal = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert advertised[internal] == "kafka:" + bound[internal].rsplit(":", 1)[1]
    [host_listener] = set(advertised) - {internal}
    host, port = advertised[host_listener].rsplit(":", 1)
    assert host == "localhost" and bound[host_listener].endswith(":" + port)
    published = {(p["host_ip"], p["published"], p["target"]) for p in services["kafka"]["ports"]}
    assert published == {("127.0.0.1", port, int(port))}, "the host's listener, on the host's loopback only"
    for name in APP:
        assert services[name]["environment"]["STOCKSTREAM_KAFKA_BOOTSTRAP"] == advertised[internal]


def test_kafka_is_healthy_only_when_it_answers_a_request(services):
    check = services["kafka"]["healthcheck"]["test"]
    assert check[0] == "CMD"
    assert check[1].endswith(("kafka-broker-api-versions.sh", "kafka-topics.sh"))
    internal = kafka_env(services)["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert option(check, "--bootstrap-server") == listeners(kafka_env(services)["KAFKA_ADVERTISED_LISTENERS"])[internal]


# init, workers


def test_init_creates_the_topics_then_applies_the_policies_once_kafka_is_healthy(services):
    init = services["init"]
    assert depends(init) == {"kafka": "service_healthy"}
    line = command_line(init)
    assert "stockstream topics create && stockstream policies apply /config/policies.yaml" in line
    policies_file = mount(init, "/config/policies.yaml")
    assert Path(policies_file["source"]) == ROOT / "deploy" / "policies.yaml" and policies_file["read_only"]
    assert init["restart"] == "no", "a one-shot: Compose waits for it to complete"


def test_the_policies_file_passes_the_check_policies_apply_makes():
    applied = policies.load(str(ROOT / "deploy" / "policies.yaml"))
    assert "web" in applied.channels and set(applied.channels["web"].locations) <= set(applied.locations)


@pytest.mark.parametrize("name", WORKERS)
def test_a_worker_is_built_here_and_starts_once_init_has_completed(services, name):
    worker = services[name]
    assert worker["build"] == {"context": str(ROOT), "dockerfile": "Dockerfile"}
    assert worker["command"] == ["worker"]
    assert depends(worker) == {"kafka": "service_healthy", "init": "service_completed_successfully"}
    settings = Settings.from_env(worker["environment"], dotenv=None)
    assert settings.web_host == name, "requests are forwarded to a partition's owner by this name"
    assert f"127.0.0.1:{settings.web_port}/health" in health_command(worker)
    assert [p["target"] for p in worker["ports"]] == [settings.web_port]
    state = mount(worker, settings.data_dir)
    assert state["type"] == "volume" and state["source"] in {"worker-1-state", "worker-2-state"}


def test_the_workers_share_the_deployment_s_settings_and_nothing_that_must_differ(services):
    envs = {name: services[name]["environment"] for name in APP}
    for variable in SHARED:
        assert len({env.get(variable) for env in envs.values()}) == 1, variable
    workers = [services[name] for name in WORKERS]
    for distinct in ("STOCKSTREAM_WEB_HOST", "STOCKSTREAM_GROUP_INSTANCE_ID"):
        assert len({w["environment"][distinct] for w in workers}) == len(workers), distinct
    assert len({w["volumes"][0]["source"] for w in workers}) == len(workers), "one RocksDB state per worker"
    assert len({p["published"] for w in workers for p in w["ports"]}) == len(workers)


@pytest.mark.parametrize("name", APP)
def test_a_service_s_settings_are_valid(services, name):
    Settings.from_env(services[name]["environment"], dotenv=None)


def test_every_setting_the_file_uses_is_documented_in_the_readme(services):
    used = {k for s in services.values() for k in (s.get("environment") or {}) if k.startswith(PREFIX)}
    assert used and not used - documented_settings()


def test_the_readme_documents_exactly_the_settings_there_are():
    assert documented_settings() == {PREFIX + f.name.upper() for f in fields(Settings)}


def test_named_volumes_hold_kafka_and_each_worker_s_state(project):
    assert {"kafka-data", "worker-1-state", "worker-2-state"} <= set(project["volumes"])


def test_every_port_is_published_on_the_host_s_loopback_only(services):
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published and {p["host_ip"] for p in published} == {"127.0.0.1"}


# the sink and its fake channel


def test_the_sink_runs_the_web_channel_against_the_fake_receiver(services):
    sink, fake = services["sink-web"], services["fake-webhook"]
    argv = sink["command"]
    assert argv[:2] == ["sink", "run"]
    config = mount(sink, option(argv, "--config"))
    assert Path(config["source"]) == ROOT / "deploy" / "sinks.yaml" and config["read_only"]
    spec = sinks.load(str(ROOT / "deploy" / "sinks.yaml"))[argv[2]]
    assert spec.kind == "webhook" and spec.channel in policies.load(str(ROOT / "deploy" / "policies.yaml")).channels
    url = urlsplit(spec.options["url"])
    assert url.hostname == "fake-webhook" and str(url.port) == option(fake["command"], "--port")
    assert command_line(fake).startswith("python -m streams.testing.fakes.webhook")
    secret = spec.options["secret_env"]
    assert secret == option(fake["command"], "--secret-env")
    assert sink["environment"][secret] == fake["environment"][secret] != ""
    assert depends(sink) == {"kafka": "service_healthy", "init": "service_completed_successfully",
                             "fake-webhook": "service_healthy"}
    assert "/stock" in health_command(fake)
    assert option(argv, "--metrics").endswith(":9100") and "9100/metrics" in health_command(sink)


# Prometheus, Grafana


def test_prometheus_scrapes_both_workers_and_the_sink(services):
    prometheus = services["prometheus"]
    config_file = mount(prometheus, "/etc/prometheus/prometheus.yml")
    assert Path(config_file["source"]) == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(Path(config_file["source"]).read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    paths = {job.get("metrics_path", "/metrics") for job in config["scrape_configs"]}
    expected = {f"{name}:{Settings.from_env(services[name]['environment'], dotenv=None).web_port}" for name in WORKERS}
    expected.add("sink-web:" + option(services["sink-web"]["command"], "--metrics").rsplit(":", 1)[1])
    assert targets == expected and paths == {"/metrics"}
    assert "/-/ready" in health_command(prometheus)


def test_grafana_is_provisioned_with_prometheus_and_the_chart_s_dashboard(services):
    grafana = services["grafana"]
    datasources = mount(grafana, "/etc/grafana/provisioning/datasources")
    [source] = yaml.safe_load((Path(datasources["source"]) / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert any(p["target"] == 9090 for p in services["prometheus"]["ports"])
    providers = mount(grafana, "/etc/grafana/provisioning/dashboards")
    [provider] = yaml.safe_load((Path(providers["source"]) / "stockstream.yml").read_text())["providers"]
    dashboards = mount(grafana, provider["options"]["path"])
    assert Path(dashboards["source"]) == ROOT / "helm" / "stockstream" / "dashboards"
    assert (Path(dashboards["source"]) / "stockstream.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/stockstream.json"
    assert depends(grafana) == {"prometheus": "service_healthy"}


# the tool validates


@pytest.mark.parametrize("original, broken, complaint", [
    ("condition: service_completed_successfully", "condition: service_done", "condition"),  # the schema
    ("  init:\n    condition: service_completed_successfully",
     "  init-typo:\n    condition: service_completed_successfully", "init-typo"),  # consistency
    ("    stop_grace_period: 30s", "    stop_grace_period: 30s\n    helthcheck: {}", "helthcheck"),  # the schema
])
def test_compose_config_refuses_an_invalid_file(compose_config, tmp_path, original, broken, complaint):
    text = (ROOT / "docker-compose.yml").read_text()
    assert original in text
    (tmp_path / "docker-compose.yml").write_text(text.replace(original, broken, 1))
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    out = render(compose_config, tmp_path)
    assert out.returncode != 0 and complaint in out.stderr, out.stderr
