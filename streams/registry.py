"""Schema ids from a Confluent-compatible schema registry (STOCKSTREAM_SCHEMA_REGISTRY_URL).

Subjects follow the RecordNameStrategy (io.stockstream.InventoryEvent, ...), so one schema
has one id whatever topic carries it. Each id is fetched once and cached; a registry that
cannot be reached fails loudly rather than writing records nobody can read.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from streams.codec import LocalSchemaIds, SchemaIds, load_schemas

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    pass


class RegistrySchemaIds:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict | None] = {}

    def id_for(self, name: str, schema: dict) -> int:
        subject = f"{schema.get('namespace', '')}.{name}".lstrip(".")
        if subject not in self._ids:
            answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})
            self._ids[subject] = int(answer["id"])
            self._schemas[self._ids[subject]] = schema
        return self._ids[subject]

    def schema_for(self, schema_id: int) -> dict | None:
        if schema_id not in self._schemas:
            answer = self._call("GET", f"/schemas/ids/{schema_id}", None, missing_ok=True)
            self._schemas[schema_id] = json.loads(answer["schema"]) if answer else None
        return self._schemas[schema_id]

    def _call(self, method: str, path: str, body: Any, missing_ok: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            if missing_ok and err.code == 404:
                return None
            raise RegistryError(f"schema registry {method} {path}: HTTP {err.code}: {err.read()[:200]!r}") from None
        except OSError as err:
            raise RegistryError(f"schema registry at {self.url} unreachable: {err}") from None


def ids_from_settings() -> SchemaIds:
    from streams.settings import Settings

    url = Settings.from_env().schema_registry_url
    return RegistrySchemaIds(url) if url else LocalSchemaIds(load_schemas())
