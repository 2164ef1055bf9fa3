"""Schema ids from a Confluent-compatible schema registry (STOCKSTREAM_SCHEMA_REGISTRY_URL).

Subjects follow the RecordNameStrategy (io.stockstream.InventoryEvent, ...), so one schema
has one id whatever topic carries it. Each id is fetched once and cached; a registry that
cannot be reached fails loudly rather than writing records nobody can read.

The worker never waits on the registry inside encode or decode: id_for and schema_for answer
from memory and raise SchemaNotLoaded for what was never looked up; register and load are the
look-ups, asynchronous (aiohttp) and bounded by the timeout. An id the registry does not have is
remembered as unknown for unknown_ttl seconds, then asked again: a schema registered late
becomes readable without a restart. Built with blocking=True (the CLI, no event loop), id_for
and schema_for make the look-ups they miss themselves, synchronously.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any

import aiohttp

from streams.wire.codec import LocalSchemaIds, SchemaIds, SchemaNotLoaded, load_previous, load_schemas

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
UNKNOWN_TTL = 60.0  # seconds an id the registry lacks stays unknown before it is asked again
RETRYABLE = {408, 429}  # with every 5xx: the registry is there but cannot answer now


class RegistryError(RuntimeError):
    """The registry refused a call (a wrong URL, a schema it rejects): retrying will not help."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached, did not answer in time, or answered 5xx/408/429:
    nothing is known to be wrong with the record, so retry later instead of dead-lettering."""


def subject_of(name: str, schema: dict) -> str:
    return f"{schema.get('namespace', '')}.{name}".lstrip(".")


class RegistrySchemaIds:
    def __init__(self, url: str, timeout: float = 10.0, *, blocking: bool = False,
                 unknown_ttl: float = UNKNOWN_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.blocking = blocking
        self.unknown_ttl = unknown_ttl
        self.clock = clock
        self._ids: dict[str, int] = {}  # subject -> id
        self._schemas: dict[int, dict] = {}
        self._unknown: dict[int, float] = {}  # id the registry lacks -> when to ask again
        self._pending: dict[Hashable, asyncio.Future] = {}

    # --- from memory: what encode and decode call ---------------------------------------------

    def id_for(self, name: str, schema: dict) -> int:
        subject = subject_of(name, schema)
        if subject not in self._ids:
            if not self.blocking:
                raise SchemaNotLoaded(name=name)
            self._registered(subject, schema, self._call("POST", *self._registration(subject, schema)))
        return self._ids[subject]

    def schema_for(self, schema_id: int) -> dict | None:
        if schema_id in self._schemas:
            return self._schemas[schema_id]
        # Unknown as the last look-up said; only a look-up (load, or a blocking miss) asks again,
        # so a decode right after prepare never sees an answer expire in between.
        if schema_id in self._unknown and not (self.blocking and self._expired(schema_id)):
            return None
        if not self.blocking:
            raise SchemaNotLoaded(schema_id)
        self._fetched(schema_id, self._call("GET", f"/schemas/ids/{schema_id}", None, missing_ok=True))
        return self._schemas.get(schema_id)

    # --- the look-ups, awaited off the hot path -----------------------------------------------

    async def register(self, name: str, schema: dict) -> int:
        subject = subject_of(name, schema)
        if subject not in self._ids:
            await self._once(("POST", subject), lambda: self._register(subject, schema))
        return self._ids[subject]

    async def load(self, schema_id: int) -> None:
        if schema_id in self._schemas or (schema_id in self._unknown and not self._expired(schema_id)):
            return
        await self._once(("GET", schema_id), lambda: self._load(schema_id))

    async def _register(self, subject: str, schema: dict) -> None:
        self._registered(subject, schema, await self._call_async("POST", *self._registration(subject, schema)))

    async def _load(self, schema_id: int) -> None:
        answer = await self._call_async("GET", f"/schemas/ids/{schema_id}", None, missing_ok=True)
        self._fetched(schema_id, answer)

    async def _once(self, key: Hashable, start: Callable[[], Awaitable[None]]) -> None:
        """Concurrent look-ups of one thing share one request. Shielded: a caller cancelled while
        waiting (a rebalance) does not cancel it for the others; it still ends within the timeout."""
        task = self._pending.get(key)
        if task is None:
            task = self._pending[key] = asyncio.ensure_future(start())
            task.add_done_callback(partial(self._settled, key))
        await asyncio.shield(task)

    def _settled(self, key: Hashable, task: asyncio.Future) -> None:
        self._pending.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved, so a failure every waiter gave up on is not logged as lost

    # --- answers --------------------------------------------------------------------------------

    @staticmethod
    def _registration(subject: str, schema: dict) -> tuple[str, dict]:
        return f"/subjects/{subject}/versions", {"schema": json.dumps(schema)}

    def _registered(self, subject: str, schema: dict, answer: Any) -> None:
        schema_id = int(answer["id"])
        self._ids[subject] = schema_id
        self._schemas[schema_id] = schema  # the writer knows its own schema: no fetch to read it
        self._unknown.pop(schema_id, None)

    def _fetched(self, schema_id: int, answer: Any) -> None:
        if answer is None:
            self._unknown[schema_id] = self.clock() + self.unknown_ttl
        else:
            self._schemas[schema_id] = json.loads(answer["schema"])
            self._unknown.pop(schema_id, None)

    def _expired(self, schema_id: int) -> bool:
        return self._unknown[schema_id] <= self.clock()

    def _answer(self, method: str, path: str, status: int, raw: bytes, missing_ok: bool) -> Any:
        if status == 404 and missing_ok:
            return None
        if status >= 300:
            kind = RegistryUnavailable if status >= 500 or status in RETRYABLE else RegistryError
            raise kind(f"schema registry {method} {path}: HTTP {status}: {raw[:200]!r}")
        try:
            return json.loads(raw)
        except ValueError:
            raise RegistryError(f"schema registry {method} {path}: not JSON: {raw[:200]!r}") from None

    # --- transport ------------------------------------------------------------------------------

    async def _call_async(self, method: str, path: str, body: Any, missing_ok: bool = False) -> Any:
        # A session per call: look-ups are rare (once per subject or id), and a kept session
        # would be tied to one event loop and need closing.
        data = json.dumps(body).encode() if body is not None else None
        try:
            async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                        session.request(method, self.url + path, data=data, headers=HEADERS) as response):
                status, raw = response.status, await response.read()
        except TimeoutError:
            raise RegistryUnavailable(
                f"schema registry at {self.url} did not answer {method} {path} in {self.timeout} s") from None
        except aiohttp.ClientError as err:
            raise RegistryUnavailable(f"schema registry at {self.url} unreachable: {err}") from None
        return self._answer(method, path, status, raw, missing_ok)

    def _call(self, method: str, path: str, body: Any, missing_ok: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=HEADERS)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except OSError as err:
            raise RegistryUnavailable(f"schema registry at {self.url} unreachable: {err}") from None
        return self._answer(method, path, status, raw, missing_ok)


def ids_from_settings(blocking: bool = False) -> SchemaIds:
    """The registry when a URL is set, else local ids. blocking: for plain scripts (the CLI)."""
    from streams.app.settings import Settings

    url = Settings.from_env().schema_registry_url
    return RegistrySchemaIds(url, blocking=blocking) if url else LocalSchemaIds(load_schemas(), load_previous())


PATIENCE_MAX_SECONDS = 30.0


async def prepare_patiently(codec: Any, data: bytes | None) -> None:
    """codec.prepare(data), tried again with a growing pause while the registry does not
    answer: a record is never dead-lettered, nor skipped, because the registry is away (its
    partition waits, as it would for the broker)."""
    pause = 0.5
    while True:
        try:
            await codec.prepare(data)
            return
        except RegistryUnavailable as err:
            log.warning("schema registry does not answer (%s); trying again in %.1fs", err, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, PATIENCE_MAX_SECONDS)
