"""Avro on the wire in the Confluent framing: magic byte 0, a 4-byte schema id, the body.

The schemas in schemas/ are the source of truth. Without a schema registry each schema's id is
taken from its Avro fingerprint (CRC-64-AVRO of the canonical form), so every process built from
the same schemas agrees on ids with no coordination; with STOCKSTREAM_SCHEMA_REGISTRY_URL the
registry assigns them (streams/wire/registry.py).

encode and decode never do I/O: they run on the worker's event loop for every record. With a
registry, what they would have to look up is looked up beforehand, asynchronously:
`await codec.register_all()` once at start (the ids of our own schemas, for encode) and
`await codec.prepare(data)` before decoding a record (its writer schema, when not known yet).
Without a registry both return at once. Plain scripts with no event loop (the CLI) use
cli_codec(), whose encode and decode look up what they miss themselves, blocking.
"""

from __future__ import annotations

import io
import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
# Earlier versions of schemas that gained a field since: records an older worker wrote are still
# on the topics (and in compacted ones for good), and without a registry their id is known only
# from these. A schema that changes leaves its last version here, named NAME-N.avsc.
PREVIOUS_DIR = SCHEMA_DIR / "previous"
MAGIC = 0
HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """The bytes are not a record this codec can read; the message says why."""


class SchemaNotLoaded(RuntimeError):
    """encode or decode needed a look-up it will not make on the hot path: the writer schema of
    schema_id was never loaded (await codec.prepare(data) first), or the schema called name has no
    registry id yet (await codec.register_all() first). Deliberately not a DecodeError (nor any
    ValueError): nothing says the record is bad, so it must not be dead-lettered."""

    def __init__(self, schema_id: int | None = None, name: str | None = None) -> None:
        self.schema_id = schema_id
        self.name = name
        if name is not None:
            message = f"schema {name} has no registry id yet: await codec.register_all() first"
        else:
            message = f"schema id {schema_id} is not loaded: await codec.prepare(data) first"
        super().__init__(message)


class SchemaIds(Protocol):
    """id_for and schema_for answer from memory (or raise SchemaNotLoaded); register and load
    are the look-ups that fill it, awaited off the hot path."""

    def id_for(self, name: str, schema: dict) -> int: ...

    def schema_for(self, schema_id: int) -> dict | None: ...

    async def register(self, name: str, schema: dict) -> int: ...

    async def load(self, schema_id: int) -> None: ...


def load_schemas(directory: Path = SCHEMA_DIR) -> dict[str, dict]:
    """Every .avsc under directory, by record name (InventoryEvent, Item, ...)."""
    schemas = {}
    for path in sorted(directory.glob("*.avsc")):
        raw = json.loads(path.read_text())
        schemas[raw["name"]] = raw
    return schemas


def load_previous(directory: Path = PREVIOUS_DIR) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.avsc"))]


def local_id(schema: dict) -> int:
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    return int(fingerprint(canonical, "CRC-64-AVRO")[:8], 16) & 0x7FFFFFFF


class LocalSchemaIds:
    """Ids from the schemas' own fingerprints: the local table used without a registry."""

    def __init__(self, schemas: dict[str, dict], previous: Iterable[dict] = ()) -> None:
        self._by_id = {local_id(s): s for s in [*previous, *schemas.values()]}

    def id_for(self, name: str, schema: dict) -> int:
        return local_id(schema)

    def schema_for(self, schema_id: int) -> dict | None:
        return self._by_id.get(schema_id)

    # Everything is known up front: nothing to look up.
    async def register(self, name: str, schema: dict) -> int:
        return local_id(schema)

    async def load(self, schema_id: int) -> None:
        return None


class Writer(NamedTuple):
    """What decode needs about a schema id, worked out once per id."""

    name: str
    parsed: Any
    is_current: bool  # the same canonical form as this codec's schema of that name: no resolution


def framed_id(data: bytes | None) -> int | None:
    """The schema id in the Confluent header, or None when the bytes are not framed."""
    if not data or len(data) < HEADER.size or data[0] != MAGIC:
        return None
    return HEADER.unpack_from(data)[1]


class AvroCodec:
    def __init__(self, ids: SchemaIds | None = None, schemas: dict[str, dict] | None = None) -> None:
        self.schemas = schemas if schemas is not None else load_schemas()
        self.ids = ids if ids is not None else LocalSchemaIds(self.schemas)
        self._parsed = {name: fastavro.parse_schema(s) for name, s in self.schemas.items()}
        self._local_ids = {name: local_id(s) for name, s in self.schemas.items()}
        self._writer_ids: dict[str, int] = {}
        self._writers: dict[int, Writer] = {}

    # --- off the hot path: awaited so that encode and decode need no I/O --------------------

    async def register_all(self) -> None:
        """The id of every schema of this codec (schemas/), registered or looked up: at worker
        start, so encode never needs the registry. Raises RegistryUnavailable (retry later) or
        RegistryError (the registry refused a schema)."""
        for name, schema in self.schemas.items():
            self._writer_ids[name] = await self.ids.register(name, schema)

    async def prepare(self, data: bytes | None) -> None:
        """Load the writer schema of a framed record if it is not known yet, so decode needs no
        I/O. Returns at once when it is known, and for bytes that are not framed (decode refuses
        them). An id the registry does not have is remembered as unknown for a while (decode
        then raises DecodeError). Raises RegistryUnavailable when the registry does not answer
        in time: the record is not known to be bad, so retry it later; RegistryError when the
        registry refuses the call (a wrong URL)."""
        schema_id = framed_id(data)
        if schema_id is not None and schema_id not in self._writers:
            await self.ids.load(schema_id)

    # --- the hot path: synchronous, no I/O ----------------------------------------------------

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(HEADER.pack(MAGIC, self._current_id(name)))
        fastavro.schemaless_writer(out, self._parsed[name], record)
        return out.getvalue()

    def decode(self, name: str, data: bytes | None) -> dict[str, Any]:
        """Read a record written with any schema of this name (old versions included)."""
        if not data:
            raise DecodeError("value is empty")
        schema_id = framed_id(data)
        if schema_id is None:
            raise DecodeError("value is not Avro in the Confluent framing (no magic byte 0)")
        writer = self._writer(schema_id)
        if writer.name != name:
            raise DecodeError(f"schema id {schema_id} is {writer.name}, expected {name}")
        # Resolving against the current schema only when the writer used another version.
        reader = None if writer.is_current else self._parsed[name]
        try:
            return fastavro.schemaless_reader(io.BytesIO(data[HEADER.size:]), writer.parsed, reader)
        except Exception as err:  # fastavro raises many kinds on corrupt bodies
            raise DecodeError(f"value does not decode as {name}: {type(err).__name__}: {err}") from None

    def _current_id(self, name: str) -> int:
        schema_id = self._writer_ids.get(name)
        if schema_id is None:
            schema_id = self._writer_ids[name] = self.ids.id_for(name, self.schemas[name])
        return schema_id

    def _writer(self, schema_id: int) -> Writer:
        writer = self._writers.get(schema_id)
        if writer is None:
            schema = self.ids.schema_for(schema_id)  # SchemaNotLoaded when never looked up
            if schema is None:
                raise DecodeError(f"unknown schema id {schema_id}")  # not kept: a later look-up may find it
            name = schema.get("name")
            writer = self._writers[schema_id] = Writer(
                name, fastavro.parse_schema(schema),
                name in self._local_ids and local_id(schema) == self._local_ids[name])
        return writer


@lru_cache(maxsize=1)
def default_codec() -> AvroCodec:
    """The worker's codec: with a registry, encode and decode never block, so await
    register_all() at start and prepare(data) before each decode."""
    from streams.wire.registry import ids_from_settings

    return AvroCodec(ids=ids_from_settings())


@lru_cache(maxsize=1)
def cli_codec() -> AvroCodec:
    """The codec of plain scripts with no event loop (the CLI): with a registry, encode and decode
    look up what they miss themselves, blocking, bounded by the registry timeout."""
    from streams.wire.registry import ids_from_settings

    return AvroCodec(ids=ids_from_settings(blocking=True))
