"""helm/stockstream, rendered by the pinned helm (`make tools`) across a matrix of values: each
render lints, every object passes its Kubernetes schema offline (kubernetes-validate; the custom
resources against tests/deploy/crd_schemas.py), and the properties an SRE relies on hold on the
rendered objects. Values the chart must refuse fail `helm template` with the values' names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams.app.settings import PREFIX, Settings
from tests.deploy.conftest import ROOT, tool
from tests.deploy.crd_schemas import SCHEMAS

CHART = ROOT / "helm" / "stockstream"
RELEASE, NAMESPACE = "inv", "shop"
FULLNAME = f"{RELEASE}-stockstream"
WORKER, PEERS = f"{FULLNAME}-worker", f"{FULLNAME}-worker-peers"
# Chart.yaml's kubeVersion floor, and the Kubernetes the pinned helm's client speaks.
KUBE_VERSIONS = ("1.29", "1.37")

SASL_TLS = {
    "kafka": {
        "securityProtocol": "SASL_SSL",
        "sasl": {"mechanism": "SCRAM-SHA-512", "username": "stockstream",
                 "passwordSecret": {"name": "kafka-user", "key": "password"}},
        "tls": {"caSecret": {"name": "kafka-cluster-ca", "key": "ca.crt"},
                "clientCertSecret": {"name": "kafka-user-cert", "certKey": "user.crt", "keyKey": "user.key"}},
    },
    "api": {"tokensSecret": {"name": "stockstream-api", "key": "tokens"}},
    # KEDA queries the lag with the workers' credentials; the sinks and the init Job use them too.
    "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 8},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "policies": {"channels": {"web": {"locations": ["DC1", "DC2"], "allocation_percent": 90}}},
    "sinks": {
        "shop": {
            "config": {"kind": "shopify", "channel": "web", "shop_url": "https://acme.myshopify.com",
                       "api_version": "2026-01", "token_env": "SHOPIFY_TOKEN", "plan": "standard",
                       "items_file": "items.csv", "location": "gid://shopify/Location/1"},
            "secretEnv": {"SHOPIFY_TOKEN": {"name": "shop-secrets", "key": "token"}},
            "files": {"items.csv": "SKU-1,gid://shopify/InventoryItem/1\n"},
        },
        "retailer": {
            "config": {"kind": "edi846", "channel": "edi", "directory": "/var/spool/stockstream/846",
                       "sender_id": "ACME", "receiver_id": "NO", "every_seconds": 900,
                       "items_file": "items.csv"},
            "storage": {"size": "1Gi"},
            "files": {"items.csv": "SKU-1,4711\n"},
        },
    },
}
MATRIX: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sasl-tls": SASL_TLS,
    "autoscaling": {"kafka": {"topicPrefix": "acme-", "partitions": 12},
                    "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12,
                                    # Helm reads numbers as floats: 2000000 must not become "2e+06".
                                    "lagThreshold": 2000000},
                    "grafanaDashboard": {"enabled": True}},
    "persistence-off": {"persistence": {"enabled": False}, "init": {"enabled": False}},
}


def helm(*args: str, values: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("helm")), *args, "--values", "-"], input=json.dumps(values or {}),
                          capture_output=True, text=True, timeout=60, check=False)


def template(values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, values=values)


@cache
def rendered(entry: str) -> list[dict[str, Any]]:
    result = template(MATRIX[entry])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(entry: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(entry) if o["kind"] == kind}


def one(entry: str, kind: str, name: str) -> dict[str, Any]:
    found = objects(entry, kind)
    assert name in found, f"no {kind} {name} in {entry}: {sorted(found)}"
    return found[name]


def pod_specs(entry: str) -> dict[str, dict[str, Any]]:
    """(kind/name) -> pod spec, for every object that runs pods."""
    specs = {}
    for o in rendered(entry):
        if o["kind"] == "Pod":
            specs[f"Pod/{o['metadata']['name']}"] = o["spec"]
        elif o["kind"] in ("StatefulSet", "Deployment", "Job"):
            specs[f"{o['kind']}/{o['metadata']['name']}"] = o["spec"]["template"]["spec"]
    return specs


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def worker_container(entry: str) -> dict[str, Any]:
    (container,) = one(entry, "StatefulSet", WORKER)["spec"]["template"]["spec"]["containers"]
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("entry", MATRIX)
def test_lint_is_clean(entry: str) -> None:
    result = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, values=MATRIX[entry])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def violations(o: dict[str, Any]) -> list[str]:
    """What the Kubernetes schemas (or a custom resource's, crd_schemas.py) refuse in an object."""
    crd = SCHEMAS.get((o["apiVersion"], o["kind"]))
    found = []
    for version in [None] if crd else KUBE_VERSIONS:
        try:
            if crd:
                jsonschema.validate(o, crd)
            else:
                kubernetes_validate.validate(o, version, strict=True)
        except jsonschema.ValidationError as err:  # kubernetes_validate's error is one too
            against = f"Kubernetes {version}" if version else "CRD"
            found.append(f"{o['kind']}/{o['metadata']['name']} ({against}): {err.message}"
                         f" at {'.'.join(map(str, err.path))}")
    return found


@pytest.mark.parametrize("entry", MATRIX)
def test_every_object_passes_its_schema(entry: str) -> None:
    errors = [error for o in rendered(entry) for error in violations(o)]
    assert not errors, "\n".join(errors)


def test_the_schema_checks_are_not_vacuous() -> None:
    statefulset = json.loads(json.dumps(one("defaults", "StatefulSet", WORKER)))
    statefulset["spec"]["podManagementPolicies"] = "Parallel"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBE_VERSIONS[0], strict=True)
    scaled = json.loads(json.dumps(one("autoscaling", "ScaledObject", WORKER)))
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 2000000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])


def test_the_chart_sets_only_settings_the_engine_reads() -> None:
    known = {PREFIX + f.name.upper() for f in fields(Settings)}
    for entry in MATRIX:
        for where, spec in pod_specs(entry).items():
            for container in containers(spec):
                unknown = {n for n in env(container) if n.startswith(PREFIX)} - known
                assert not unknown, f"{entry} {where}: {unknown}"


def test_workers_are_a_parallel_statefulset_behind_a_headless_service() -> None:
    statefulset = one("defaults", "StatefulSet", WORKER)
    spec = statefulset["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["replicas"] == 3
    assert spec["serviceName"] == PEERS
    peers = one("defaults", "Service", PEERS)["spec"]
    assert peers["clusterIP"] == "None"
    assert peers["publishNotReadyAddresses"] is True  # a forward during a rebalance still resolves
    pod_labels = spec["template"]["metadata"]["labels"]
    assert selects(peers["selector"], pod_labels)
    assert selects(spec["selector"]["matchLabels"], pod_labels)
    api = one("defaults", "Service", FULLNAME)["spec"]
    assert selects(api["selector"], pod_labels) and "clusterIP" not in api


def test_state_lives_on_a_volume_claim_at_the_data_dir() -> None:
    spec = one("defaults", "StatefulSet", WORKER)["spec"]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    container = worker_container("defaults")
    data_dir = env(container)["STOCKSTREAM_DATA_DIR"]["value"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == data_dir
    assert claim["metadata"]["name"] not in {v["name"] for v in spec["template"]["spec"]["volumes"]}


def test_without_persistence_the_state_is_an_empty_dir() -> None:
    spec = one("persistence-off", "StatefulSet", WORKER)["spec"]
    assert "volumeClaimTemplates" not in spec
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    container = worker_container("persistence-off")
    data_dir = env(container)["STOCKSTREAM_DATA_DIR"]["value"]
    (state,) = [m["name"] for m in container["volumeMounts"] if m["mountPath"] == data_dir]
    assert volumes[state] == {"name": state, "emptyDir": {}}
    assert not objects("persistence-off", "Job")  # init.enabled false


def test_each_worker_is_reachable_by_its_pod_name_and_rejoins_as_itself() -> None:
    names = [e["name"] for e in worker_container("defaults")["env"]]
    variables = env(worker_container("defaults"))
    from_pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
    assert variables["STOCKSTREAM_GROUP_INSTANCE_ID"]["valueFrom"] == from_pod_name
    assert variables["POD_NAME"]["valueFrom"] == from_pod_name
    host = variables["STOCKSTREAM_WEB_HOST"]["value"]
    assert host == f"$(POD_NAME).{PEERS}.$(POD_NAMESPACE).svc.cluster.local"
    # $(VAR) only expands variables defined earlier in the list.
    assert names.index("POD_NAME") < names.index("STOCKSTREAM_WEB_HOST")
    assert names.index("POD_NAMESPACE") < names.index("STOCKSTREAM_WEB_HOST")
    assert variables["STOCKSTREAM_WEB_BIND"]["value"] == "0.0.0.0"
    assert variables["STOCKSTREAM_SESSION_TIMEOUT"]["value"] == "60"


def test_readiness_is_health_and_liveness_survives_a_long_recovery() -> None:
    container = worker_container("defaults")
    (port,) = container["ports"]
    assert str(port["containerPort"]) == env(container)["STOCKSTREAM_WEB_PORT"]["value"]
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness == {"path": "/health", "port": port["name"]}
    # /health is 503 while tables recover: liveness and startup must not hang on it.
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] != "/health"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_termination_grace_leaves_time_to_commit() -> None:
    spec = one("defaults", "StatefulSet", WORKER)["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 90


def test_rocksdb_settings_reach_the_worker_and_the_chart_counts_every_table() -> None:
    variables = env(worker_container("defaults"))
    assert variables["STOCKSTREAM_ROCKSDB_BLOCK_CACHE_MB"]["value"] == "8"
    assert variables["STOCKSTREAM_ROCKSDB_WRITE_BUFFER_MB"]["value"] == "4"
    # The memory check's table count follows tables/store.py's partitioned tables.
    tables = len(re.findall(r"^\w+ = partitioned_table\(", (ROOT / "tables" / "store.py").read_text(), re.MULTILINE))
    counted = re.search(r"\$tables := (\d+)", (CHART / "templates" / "_checks.tpl").read_text())
    assert counted and int(counted[1]) == tables


def test_the_memory_request_must_fit_the_rocksdb_settings() -> None:
    # Defaults: 8 partitions, 3 workers, one away: 8 held x 3 tables x (8 + 2 x 4) + 256 = 640 MiB.
    fits = template({"worker": {"resources": {"requests": {"memory": "640Mi"}, "limits": {"memory": "640Mi"}}}})
    assert fits.returncode == 0, fits.stderr
    short = template({"worker": {"resources": {"requests": {"memory": "639Mi"}, "limits": {"memory": "1Gi"}}}})
    assert short.returncode != 0
    assert "worker.resources.requests.memory (639Mi) is below the 640Mi" in short.stderr
    bigger = template({"worker": {"rocksdb": {"blockCacheMB": 64}}})
    assert bigger.returncode != 0 and "worker.rocksdb.blockCacheMB 64" in bigger.stderr


def test_a_drain_takes_one_worker_at_a_time() -> None:
    pdb = one("defaults", "PodDisruptionBudget", WORKER)["spec"]
    assert pdb["maxUnavailable"] == 1
    workers = one("sasl-tls", "StatefulSet", WORKER)["spec"]["template"]["metadata"]["labels"]
    pdb = one("sasl-tls", "PodDisruptionBudget", WORKER)["spec"]
    assert selects(pdb["selector"]["matchLabels"], workers)
    for name, deployment in objects("sasl-tls", "Deployment").items():
        assert not selects(pdb["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]), name


def test_keda_scales_the_workers_on_their_lag_up_to_the_partitions() -> None:
    statefulset = one("autoscaling", "StatefulSet", WORKER)
    assert "replicas" not in statefulset["spec"]  # KEDA owns it; an upgrade must not reset it
    scaled = one("autoscaling", "ScaledObject", WORKER)["spec"]
    assert scaled["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": WORKER,
                                        "envSourceContainerName": "worker"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (3, 12)
    partitions = int(env(worker_container("autoscaling"))["STOCKSTREAM_PARTITIONS"]["value"])
    assert scaled["maxReplicaCount"] <= partitions
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "acme-stockstream"
    assert trigger["metadata"]["topic"] == "acme-inventory.events"
    assert trigger["metadata"]["lagThreshold"] == "2000000"
    assert trigger["metadata"]["bootstrapServers"] == env(worker_container("autoscaling"))[
        "STOCKSTREAM_KAFKA_BOOTSTRAP"]["value"]
    assert trigger["metadata"]["tls"] == "disable" and "authenticationRef" not in trigger
    assert not objects("autoscaling", "TriggerAuthentication")
    assert not objects("defaults", "ScaledObject")


def test_keda_queries_the_lag_with_the_workers_credentials() -> None:
    (trigger,) = one("sasl-tls", "ScaledObject", WORKER)["spec"]["triggers"]
    assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
    auth = one("sasl-tls", "TriggerAuthentication", trigger["authenticationRef"]["name"])["spec"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["secretTargetRef"]}
    assert refs == {"password": ("kafka-user", "password"), "ca": ("kafka-cluster-ca", "ca.crt"),
                    "cert": ("kafka-user-cert", "user.crt"), "key": ("kafka-user-cert", "user.key")}
    assert auth["env"] == [{"parameter": "username", "name": "STOCKSTREAM_SASL_USERNAME", "containerName": "worker"}]


@pytest.mark.parametrize(("values", "named"), [
    ({"worker": {"replicaCount": 9}}, "worker.replicaCount (9) exceeds kafka.partitions (8)"),
    ({"autoscaling": {"enabled": True, "maxReplicas": 9}}, "autoscaling.maxReplicas (9) exceeds kafka.partitions (8)"),
    ({"kafka": {"partitions": 4}, "worker": {"replicaCount": 5}},
     "worker.replicaCount (5) exceeds kafka.partitions (4)"),
])
def test_more_workers_than_partitions_is_refused(values: dict[str, Any], named: str) -> None:
    result = template(values)
    assert result.returncode != 0
    assert named in result.stderr


@pytest.mark.parametrize(("values", "named"), [
    ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
    ({"kafka": {"sasl": {"password": "hunter2"}}}, "'password' not allowed"),  # secrets only from Secrets
    ({"worker": {"replicas": 3}}, "'replicas' not allowed"),
    ({"kafka": {"partitions": 0}}, "/kafka/partitions"),
    ({"sinks": {"Shop": {"config": {"kind": "shopify", "channel": "web"}}}}, "'Shop' not allowed"),
    ({"sinks": {"shop": {"config": {"kind": "magento", "channel": "web"}}}}, "/sinks/shop/config/kind"),
    ({"worker": {"resources": {"requests": {"memory": "lots"}}}}, "/worker/resources"),
])
def test_the_values_schema_refuses_mistakes(values: dict[str, Any], named: str) -> None:
    result = template(values)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr and named in result.stderr


@pytest.mark.parametrize(("values", "named"), [
    ({"kafka": {"securityProtocol": "SASL_SSL"}}, "kafka.sasl.username and kafka.sasl.passwordSecret.name"),
    ({"sinks": {"hook": {"config": {"kind": "webhook", "channel": "web", "secret_env": "HOOK_SECRET"}}}},
     "sinks.hook.config.secret_env names HOOK_SECRET"),
    ({"sinks": {"edi": {"config": {"kind": "edi846", "channel": "edi", "directory": "/var/spool/stockstream/x"}}}},
     "give sinks.edi.storage"),
    ({"sinks": {"edi": {"config": {"kind": "edi846", "channel": "edi", "directory": "out"},
                        "storage": {"size": "1Gi"}}}},
     "sinks.edi.config.directory must lie under /var/spool/stockstream"),
])
def test_incomplete_settings_are_refused_by_name(values: dict[str, Any], named: str) -> None:
    result = template(values)
    assert result.returncode != 0
    assert named in result.stderr


def test_secrets_come_from_secret_refs_and_never_appear_in_the_release() -> None:
    assert not objects("sasl-tls", "Secret")
    secret_settings = {"STOCKSTREAM_SASL_PASSWORD", "STOCKSTREAM_API_TOKENS", "STOCKSTREAM_INTERNAL_TOKEN",
                       "SHOPIFY_TOKEN"}
    specs = pod_specs("sasl-tls")
    for where, spec in specs.items():
        for container in containers(spec):
            for name, variable in env(container).items():
                if name in secret_settings or re.search("PASSWORD|TOKEN|SECRET", name):
                    assert "value" not in variable and "secretKeyRef" in variable["valueFrom"], (where, name)
    kafka_clients = [c for spec in specs.values() for c in containers(spec) if "STOCKSTREAM_KAFKA_BOOTSTRAP" in env(c)]
    assert len(kafka_clients) == 5  # worker, 2 sinks, the init Job's 2 steps
    for container in kafka_clients:
        assert env(container)["STOCKSTREAM_SASL_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": "kafka-user", "key": "password"}}
        assert env(container)["STOCKSTREAM_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
    worker = env(worker_container("sasl-tls"))
    assert worker["STOCKSTREAM_API_TOKENS"]["valueFrom"] == {
        "secretKeyRef": {"name": "stockstream-api", "key": "tokens"}}


def test_the_tls_secrets_are_mounted_where_the_settings_point() -> None:
    for where, spec in pod_specs("sasl-tls").items():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(spec):
            variables = env(container)
            if "STOCKSTREAM_SECURITY_PROTOCOL" not in variables:
                continue  # the helm test pod speaks HTTP only
            assert variables["STOCKSTREAM_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-tls"]
            assert mount["readOnly"] is True
            projected = {item["path"]: (source["secret"]["name"], item["key"])
                         for source in volumes["kafka-tls"]["projected"]["sources"]
                         for item in source["secret"]["items"]}
            assert projected == {"ca.crt": ("kafka-cluster-ca", "ca.crt"),
                                 "client.crt": ("kafka-user-cert", "user.crt"),
                                 "client.key": ("kafka-user-cert", "user.key")}
            for setting in ("STOCKSTREAM_SSL_CAFILE", "STOCKSTREAM_SSL_CERTFILE", "STOCKSTREAM_SSL_KEYFILE"):
                path = Path(variables[setting]["value"])
                assert path.parent == Path(mount["mountPath"]) and path.name in projected, (where, setting)


def test_each_sink_is_its_own_deployment_with_its_own_config() -> None:
    deployments = objects("sasl-tls", "Deployment")
    assert set(deployments) == {f"{FULLNAME}-sink-shop", f"{FULLNAME}-sink-retailer"}
    for name, sink in SASL_TLS["sinks"].items():
        deployment = deployments[f"{FULLNAME}-sink-{name}"]["spec"]
        assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
        pod = deployment["template"]["spec"]
        (container,) = pod["containers"]
        args = container["args"]
        assert args[:3] == ["sink", "run", name] and args[args.index("--metrics") + 1] == "0.0.0.0:9100"
        config = Path(args[args.index("--config") + 1])
        (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == config.parent]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        configmap = one("sasl-tls", "ConfigMap", volume["configMap"]["name"])["data"]
        # What the sink reads is exactly the sink's config from values, strings kept strings.
        assert yaml.safe_load(configmap[config.name]) == {"sinks": {name: sink["config"]}}
        assert configmap["items.csv"] == sink["files"]["items.csv"]
        for variable, ref in sink.get("secretEnv", {}).items():
            assert env(container)[variable]["valueFrom"] == {"secretKeyRef": ref}
    retailer = deployments[f"{FULLNAME}-sink-retailer"]["spec"]["template"]["spec"]
    (claim,) = [v["persistentVolumeClaim"]["claimName"] for v in retailer["volumes"] if "persistentVolumeClaim" in v]
    pvc = one("sasl-tls", "PersistentVolumeClaim", claim)
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    mounts = {m["mountPath"] for m in retailer["containers"][0]["volumeMounts"]}
    assert "/var/spool/stockstream" in mounts


def test_the_service_monitor_scrapes_every_worker_and_sink() -> None:
    monitor = one("sasl-tls", "ServiceMonitor", FULLNAME)
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    scraped = {name: service for name, service in objects("sasl-tls", "Service").items()
               if selects(selector, service["metadata"]["labels"])}
    assert set(scraped) == {PEERS, f"{FULLNAME}-sinks"}  # not the API Service: each pod once
    ports = {p["name"] for s in scraped.values() for p in s["spec"]["ports"]}
    endpoints = {e["port"]: e["path"] for e in monitor["spec"]["endpoints"]}
    assert endpoints == {"http": "/metrics", "metrics": "/metrics"} and set(endpoints) <= ports
    sinks = scraped[f"{FULLNAME}-sinks"]["spec"]
    for deployment in objects("sasl-tls", "Deployment").values():
        assert selects(sinks["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    assert not objects("defaults", "ServiceMonitor")


def test_helm_test_checks_health_through_the_service_and_each_worker() -> None:
    (pod,) = [o for o in rendered("defaults") if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert pod["kind"] == "Pod" and pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    compile(container["args"][0], "helm-test", "exec")
    assert container["args"][1:] == [f"http://{FULLNAME}:6066/health"] + [
        f"http://{WORKER}-{i}.{PEERS}:6066/health" for i in range(3)]


def test_the_init_job_creates_topics_then_applies_policies_before_the_workers() -> None:
    (job,) = objects("sasl-tls", "Job").values()
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    spec = job["spec"]["template"]["spec"]
    assert [c["args"] for c in spec["initContainers"]] == [["topics", "create"]]
    assert [c["args"] for c in spec["containers"]] == [["policies", "apply", "/etc/stockstream/policies.yaml"]]
    (volume,) = [v for v in spec["volumes"] if "configMap" in v]
    configmap = one("sasl-tls", "ConfigMap", volume["configMap"]["name"])
    # A hook too (hooks run before the release's own objects exist), created before the Job.
    assert configmap["metadata"]["annotations"]["helm.sh/hook"] == hooks["helm.sh/hook"]
    assert int(configmap["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])
    assert yaml.safe_load(configmap["data"]["policies.yaml"]) == SASL_TLS["policies"]
    assert "serviceAccountName" not in spec  # the chart's account does not exist yet
    (job,) = objects("defaults", "Job").values()
    assert "initContainers" not in job["spec"]["template"]["spec"]
    assert [c["args"] for c in job["spec"]["template"]["spec"]["containers"]] == [["topics", "create"]]


def test_the_grafana_dashboards_ship_as_a_sidecar_config_map() -> None:
    files = {p.name: p.read_text() for p in sorted((CHART / "dashboards").glob("*.json"))}
    configmaps = [c for c in objects("autoscaling", "ConfigMap").values()
                  if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    if not files:
        assert not configmaps
        return
    (configmap,) = configmaps
    assert configmap["data"] == files
    assert not [c for c in objects("defaults", "ConfigMap").values() if "grafana_dashboard" in c["metadata"]["labels"]]


def test_every_pod_runs_unprivileged() -> None:
    for entry in MATRIX:
        for where, spec in pod_specs(entry).items():
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["automountServiceAccountToken"] is False, where
            for container in containers(spec):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
                assert "memory" in container["resources"]["limits"], (where, container["name"])


def schema_paths(schema: dict[str, Any], root: dict[str, Any], prefix: str = "") -> set[str]:
    """Every value the schema names, down to objects it closes (their keys are the chart's)."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("additionalProperties") is not False or "properties" not in schema:
        return {prefix}
    return {path for key, sub in schema["properties"].items() for path in schema_paths(sub, root, f"{prefix}{key}.")}


def test_every_value_is_documented_in_the_chart_readme() -> None:
    documented = set()
    for line in (CHART / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            previous = ""
            for name in re.findall(r"`([\w.<>]+)`", line.split("|")[1]):
                # "`worker.rocksdb.blockCacheMB`, `.writeBufferMB`": a leading dot continues the parent.
                previous = previous.rsplit(".", 1)[0] + name if name.startswith(".") else name
                documented.add(previous)
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = {path.rstrip(".") for path in schema_paths(schema, schema)}
    # A value is documented by its own row, its parent's (`init.resources`) or its parts' (`sinks.<name>.config`).
    undocumented = {v for v in values
                    if not any(v == d or v.startswith(d + ".") or d.startswith(v + ".") for d in documented)}
    assert undocumented == set()


@pytest.mark.parametrize("entry", MATRIX)
def test_the_install_notes_render(entry: str, tmp_path: Path) -> None:
    # `helm template` skips NOTES.txt and Helm 3's offline `install --dry-run` still wants a
    # cluster, so a copy of the chart renders it through `tpl` into a ConfigMap.
    chart = tmp_path / "stockstream"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "NOTES.txt").rename(chart / "notes.txt")
    (chart / "templates" / "notes.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n'
        'data: {notes: {{ tpl (.Files.Get "notes.txt") . | quote }}}\n')
    result = helm("template", RELEASE, str(chart), "--namespace", NAMESPACE, "--show-only", "templates/notes.yaml",
                  values=MATRIX[entry])
    assert result.returncode == 0, result.stderr
    notes = yaml.safe_load(result.stdout)["data"]["notes"]
    assert f"statefulset/{WORKER}" in notes and f"helm test -n {NAMESPACE} {RELEASE}" in notes
    for name in MATRIX[entry].get("sinks", {}):
        assert f"deployment/{FULLNAME}-sink-{name}" in notes


def test_the_sinks_and_policies_the_chart_renders_pass_the_engine_s_own_checks(tmp_path: Path) -> None:
    """What a sink and the init Job will read is accepted by the same code that reads it."""
    from agents.sinks.config import parse_sinks
    from tables.policy import parse_policies

    for name in SASL_TLS["sinks"]:
        (configmap,) = [c["data"] for c in objects("sasl-tls", "ConfigMap").values()
                        if c["data"].get("sinks.yaml") and name in yaml.safe_load(c["data"]["sinks.yaml"])["sinks"]]
        for file, text in configmap.items():
            (tmp_path / file).write_text(text)
        assert set(parse_sinks(yaml.safe_load(configmap["sinks.yaml"]), tmp_path)) == {name}
    (policies,) = [c["data"]["policies.yaml"] for c in objects("sasl-tls", "ConfigMap").values()
                   if "policies.yaml" in c.get("data", {})]
    assert "web" in parse_policies(yaml.safe_load(policies)).channels
