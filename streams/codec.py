"""Avro on the wire in the Confluent framing: magic byte 0, a 4-byte schema id, the body.

The schemas in schemas/ are the source of truth. Without a schema registry each schema's id is
taken from its Avro fingerprint (CRC-64-AVRO of the canonical form), so every process built from
the same schemas agrees on ids with no coordination; with STOCKSTREAM_SCHEMA_REGISTRY_URL the
registry assigns them (streams/registry.py).
"""

from __future__ import annotations

import io
import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
MAGIC = 0
HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """The bytes are not a record this codec can read; the message says why."""


class SchemaIds(Protocol):
    def id_for(self, name: str, schema: dict) -> int: ...

    def schema_for(self, schema_id: int) -> dict | None: ...


def load_schemas(directory: Path = SCHEMA_DIR) -> dict[str, dict]:
    """Every .avsc under directory, by record name (InventoryEvent, Item, ...)."""
    schemas = {}
    for path in sorted(directory.glob("*.avsc")):
        raw = json.loads(path.read_text())
        schemas[raw["name"]] = raw
    return schemas


def local_id(schema: dict) -> int:
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    return int(fingerprint(canonical, "CRC-64-AVRO")[:8], 16) & 0x7FFFFFFF


class LocalSchemaIds:
    """Ids from the schemas' own fingerprints: the local table used without a registry."""

    def __init__(self, schemas: dict[str, dict]) -> None:
        self._by_id = {local_id(s): s for s in schemas.values()}

    def id_for(self, name: str, schema: dict) -> int:
        return local_id(schema)

    def schema_for(self, schema_id: int) -> dict | None:
        return self._by_id.get(schema_id)


class AvroCodec:
    def __init__(self, ids: SchemaIds | None = None, schemas: dict[str, dict] | None = None) -> None:
        self.schemas = schemas if schemas is not None else load_schemas()
        self.ids = ids if ids is not None else LocalSchemaIds(self.schemas)
        self._parsed = {name: fastavro.parse_schema(s) for name, s in self.schemas.items()}
        self._writer_ids: dict[str, int] = {}
        self._readers: dict[int, Any] = {}

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(HEADER.pack(MAGIC, self._current_id(name)))
        fastavro.schemaless_writer(out, self._parsed[name], record)
        return out.getvalue()

    def decode(self, name: str, data: bytes | None) -> dict[str, Any]:
        """Read a record written with any schema of this name (old versions included)."""
        if not data:
            raise DecodeError("value is empty")
        if len(data) < HEADER.size or data[0] != MAGIC:
            raise DecodeError("value is not Avro in the Confluent framing (no magic byte 0)")
        _, schema_id = HEADER.unpack_from(data)
        writer = self._writer(schema_id)
        if writer.get("name") != name:
            raise DecodeError(f"schema id {schema_id} is {writer.get('name')}, expected {name}")
        # Resolving against the current schema only when the writer used another version.
        reader = None if schema_id == self._current_id(name) else self._parsed[name]
        try:
            return fastavro.schemaless_reader(io.BytesIO(data[HEADER.size:]), self._parsed_writer(schema_id), reader)
        except Exception as err:  # fastavro raises many kinds on corrupt bodies
            raise DecodeError(f"value does not decode as {name}: {type(err).__name__}: {err}") from None

    def _current_id(self, name: str) -> int:
        schema_id = self._writer_ids.get(name)
        if schema_id is None:
            schema_id = self._writer_ids[name] = self.ids.id_for(name, self.schemas[name])
        return schema_id

    def _writer(self, schema_id: int) -> dict:
        schema = self.ids.schema_for(schema_id)
        if schema is None:
            raise DecodeError(f"unknown schema id {schema_id}")
        return schema

    def _parsed_writer(self, schema_id: int) -> Any:
        parsed = self._readers.get(schema_id)
        if parsed is None:
            parsed = self._readers[schema_id] = fastavro.parse_schema(self._writer(schema_id))
        return parsed


@lru_cache(maxsize=1)
def default_codec() -> AvroCodec:
    from streams.registry import ids_from_settings

    return AvroCodec(ids=ids_from_settings())
