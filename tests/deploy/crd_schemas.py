"""JSON schemas for the custom resources the chart renders, which kubernetes-validate does not
know: the fields the chart writes, from KEDA's (keda.sh/v1alpha1) and the Prometheus Operator's
(monitoring.coreos.com/v1) CRDs. Unknown fields are refused, as the API server's structural
schemas prune them, so a misspelt field fails here instead of vanishing on apply."""

from __future__ import annotations

from typing import Any


def closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


STRING = {"type": "string", "minLength": 1}
INTEGER = {"type": "integer", "minimum": 0}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {"type": "object", "required": ["name"], "properties": {"name": STRING, "labels": STRING_MAP}}
LABEL_SELECTOR = closed({"matchLabels": STRING_MAP, "matchExpressions": {"type": "array"}})


def resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return closed({"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": METADATA,
                   "spec": spec}, ("apiVersion", "kind", "metadata", "spec"))


SCALED_OBJECT = resource("keda.sh/v1alpha1", "ScaledObject", closed({
    "scaleTargetRef": closed({"apiVersion": STRING, "kind": STRING, "name": STRING, "envSourceContainerName": STRING},
                             ("name",)),
    "minReplicaCount": INTEGER,
    "maxReplicaCount": INTEGER,
    "pollingInterval": INTEGER,
    "cooldownPeriod": INTEGER,
    "advanced": closed({"restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": closed({"name": STRING, "behavior": {"type": "object"}})}),
    "triggers": {"type": "array", "minItems": 1, "items": closed({
        "type": STRING,
        "name": STRING,
        # map[string]string in the CRD: a number here is refused by the API server.
        "metadata": STRING_MAP,
        "authenticationRef": closed({"name": STRING, "kind": {"enum": ["TriggerAuthentication",
                                                                        "ClusterTriggerAuthentication"]}}, ("name",)),
    }, ("type", "metadata"))},
}, ("scaleTargetRef", "triggers")))

TRIGGER_AUTHENTICATION = resource("keda.sh/v1alpha1", "TriggerAuthentication", closed({
    "secretTargetRef": {"type": "array", "items": closed({"parameter": STRING, "name": STRING, "key": STRING},
                                                          ("parameter", "name", "key"))},
    "env": {"type": "array", "items": closed({"parameter": STRING, "name": STRING, "containerName": STRING},
                                              ("parameter", "name"))},
}))

SERVICE_MONITOR = resource("monitoring.coreos.com/v1", "ServiceMonitor", closed({
    "selector": LABEL_SELECTOR,
    "namespaceSelector": closed({"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": STRING}}),
    "endpoints": {"type": "array", "minItems": 1, "items": closed({
        "port": STRING, "path": STRING, "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
        "scrapeTimeout": STRING, "scheme": {"enum": ["http", "https"]},
    }, ("port",))},
}, ("selector", "endpoints")))

SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
}
