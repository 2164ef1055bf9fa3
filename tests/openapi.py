"""Checking real HTTP responses against streams/http/openapi.json (the document the API serves)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = json.loads((Path(__file__).resolve().parent.parent / "streams" / "http" / "openapi.json").read_text())
BASE = "urn:stockstream-openapi"
REGISTRY = Registry().with_resource(BASE, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _resolve(node: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A $ref to a component, followed; with the JSON pointer it lives at."""
    pointer = ""
    while "$ref" in node:
        pointer = node["$ref"].lstrip("#")
        node = DOCUMENT
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def assert_matches(method: str, template: str, status: int, body: Any) -> None:
    """The body of a real response is what the document says (path template, method, status)."""
    operation = DOCUMENT["paths"][template][method.lower()]
    assert str(status) in operation["responses"], f"{method} {template} answered {status}, undocumented"
    response, pointer = _resolve(operation["responses"][str(status)])
    if not pointer:
        pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
    content = response.get("content", {})
    if "application/json" not in content:
        return
    schema_pointer = f"{pointer}/content/application~1json/schema"
    validator = Draft202012Validator({"$ref": f"{BASE}#{schema_pointer}"}, registry=REGISTRY)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, f"{method} {template} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
