"""Schema ids from a Confluent-compatible registry (streams/wire/registry.py), against a fake one on
127.0.0.1 that speaks the two calls stockstream makes.

The worker's codec looks up asynchronously (register_all, prepare) and its encode and decode
never do I/O; the CLI's codec (blocking=True) looks up what it misses itself, as before."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.wire.codec import (AvroCodec, DecodeError, LocalSchemaIds, SchemaNotLoaded, cli_codec, default_codec,
                           load_schemas, local_id)
from streams.wire.registry import RegistryError, RegistrySchemaIds, RegistryUnavailable, ids_from_settings

from tests.unit.test_codec import EVENT, ITEM, RECORDS, old_event_schema


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up on a delayed answer closed its socket: expected here


class FakeRegistry:
    """POST /subjects/<subject>/versions -> {"id": N}; GET /schemas/ids/<id> -> {"schema": ...}.

    Like the real one, the same schema text gets the same id again; ids start at 1 and grow.
    delay holds every answer back (a registry that hangs) until release is set; status, when
    set, is the answer to everything (a registry in trouble)."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.ids: dict[str, int] = {}  # schema text -> id
        self.calls: list[tuple[str, str]] = []
        self.subjects: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        self.delay = 0.0
        self.release = threading.Event()
        self.status: int | None = None
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _called(self, method: str) -> bool:
                """Records the call, waits out the delay; False when status answers instead."""
                with registry.lock:
                    registry.calls.append((method, self.path))
                if registry.delay:
                    registry.release.wait(registry.delay)
                if registry.status is not None:
                    self._answer(registry.status, {"error_code": registry.status, "message": "trouble"})
                    return False
                return True

            def do_POST(self) -> None:
                if not self._called("POST"):
                    return
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
                    return self._answer(404, {"error_code": 404, "message": "not found"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = json.dumps(json.loads(body["schema"]), sort_keys=True)
                with registry.lock:
                    if text not in registry.ids:
                        registry.ids[text] = len(registry.ids) + 1
                        registry.schemas[registry.ids[text]] = body["schema"]
                    schema_id = registry.ids[text]
                    registry.subjects.setdefault(parts[1], []).append(schema_id)
                self._answer(200, {"id": schema_id})

            def do_GET(self) -> None:
                if not self._called("GET"):
                    return
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                    with registry.lock:
                        schema = registry.schemas.get(int(parts[2]))
                    if schema is not None:
                        return self._answer(200, {"schema": schema})
                    return self._answer(404, {"error_code": 40403, "message": "Schema not found"})
                self._answer(404, {"error_code": 404, "message": "not found"})

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def posts(self) -> list[str]:
        return [path for method, path in self.calls if method == "POST"]

    def gets(self) -> list[str]:
        return [path for method, path in self.calls if method == "GET"]

    def add(self, schema_id: int, schema: dict) -> None:
        """A schema registered by someone else, under an id of our choosing."""
        with self.lock:
            self.schemas[schema_id] = json.dumps(schema)


@pytest.fixture
def registry():
    fake = FakeRegistry()
    fake.thread.start()
    yield fake
    fake.release.set()  # let delayed handlers finish before the server goes
    fake.server.shutdown()
    fake.server.server_close()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def worker_codec(url: str, **options) -> AvroCodec:
    return AvroCodec(ids=RegistrySchemaIds(url, **options))


def cli_ids(url: str, **options) -> RegistrySchemaIds:
    return RegistrySchemaIds(url, blocking=True, **options)


def schema_id(data: bytes) -> int:
    assert data[0] == 0
    return struct.unpack(">I", data[1:5])[0]


# --- the CLI: blocking look-ups, made by encode and decode themselves ---------------------------


def test_encodes_with_the_registry_id_under_the_record_name_subject(registry):
    # Something else registered first, so the ids are not 1 by chance.
    registry.ids["{}"] = 1
    codec = AvroCodec(ids=cli_ids(registry.url + "/"))
    item = codec.encode("Item", ITEM)
    event = codec.encode("InventoryEvent", EVENT)
    assert set(registry.subjects) == {"io.stockstream.Item", "io.stockstream.InventoryEvent"}
    assert schema_id(item) == registry.subjects["io.stockstream.Item"][0] == 2
    assert schema_id(event) == registry.subjects["io.stockstream.InventoryEvent"][0] == 3
    # The id is the registry's, not the local fingerprint, and the registry holds the schema text.
    assert schema_id(event) != local_id(load_schemas()["InventoryEvent"])
    assert json.loads(registry.schemas[3]) == load_schemas()["InventoryEvent"]
    assert codec.decode("InventoryEvent", event) == EVENT


def test_each_subject_is_registered_once(registry):
    codec = AvroCodec(ids=cli_ids(registry.url))
    for _ in range(5):
        data = codec.encode("InventoryEvent", EVENT)
        codec.decode("InventoryEvent", data)
    codec.encode("Item", ITEM)
    codec.encode("Item", ITEM)
    assert sorted(registry.posts()) == ["/subjects/io.stockstream.InventoryEvent/versions",
                                        "/subjects/io.stockstream.Item/versions"]
    # The writer knows its own schema: decoding its records fetches nothing.
    assert registry.gets() == []


def test_ids_cache_directly(registry):
    ids = cli_ids(registry.url)
    schema = load_schemas()["LocationAvailability"]
    first = ids.id_for("LocationAvailability", schema)
    assert ids.id_for("LocationAvailability", schema) == first
    assert registry.posts() == ["/subjects/io.stockstream.LocationAvailability/versions"]
    assert ids.schema_for(first) == schema
    assert registry.gets() == []


def test_another_codec_decodes_by_fetching_the_schema_by_id(registry):
    data = AvroCodec(ids=cli_ids(registry.url)).encode("InventoryEvent", EVENT)
    reader = AvroCodec(ids=cli_ids(registry.url))
    assert reader.decode("InventoryEvent", data) == EVENT
    assert registry.gets() == [f"/schemas/ids/{schema_id(data)}"]
    # Fetched once, then cached.
    assert reader.decode("InventoryEvent", data) == EVENT
    assert len(registry.gets()) == 1


def test_registry_ids_and_local_ids_do_not_mix(registry):
    data = AvroCodec(ids=cli_ids(registry.url)).encode("Item", ITEM)
    with pytest.raises(DecodeError, match="unknown schema id"):
        AvroCodec(ids=LocalSchemaIds(load_schemas())).decode("Item", data)


def test_unknown_id_is_a_decode_error(registry):
    good = AvroCodec(ids=cli_ids(registry.url)).encode("InventoryEvent", EVENT)
    bad = good[:1] + struct.pack(">I", 999) + good[5:]
    with pytest.raises(DecodeError, match="unknown schema id 999"):
        AvroCodec(ids=cli_ids(registry.url)).decode("InventoryEvent", bad)
    assert "/schemas/ids/999" in registry.gets()


def test_other_http_errors_are_registry_errors(registry):
    ids = cli_ids(registry.url + "/nowhere")
    with pytest.raises(RegistryError, match="HTTP 404"):
        ids.id_for("Item", load_schemas()["Item"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_registry_fails_loudly_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    codec = AvroCodec(ids=cli_ids(url, timeout=2))
    with pytest.raises(RegistryUnavailable) as info:
        codec.encode("InventoryEvent", EVENT)
    assert url in str(info.value) and "unreachable" in str(info.value)
    with pytest.raises(RegistryError, match=url):
        cli_ids(url, timeout=2).schema_for(1)


def test_unknown_id_is_asked_again_after_a_while_in_blocking_mode_too(registry):
    clock = Clock()
    ids = cli_ids(registry.url, unknown_ttl=60, clock=clock)
    assert ids.schema_for(7) is None
    assert ids.schema_for(7) is None
    assert registry.gets() == ["/schemas/ids/7"]
    registry.add(7, load_schemas()["Item"])
    clock.now += 61
    assert ids.schema_for(7) == load_schemas()["Item"]
    assert registry.gets() == ["/schemas/ids/7"] * 2


def test_ids_from_settings_chooses_the_registry_only_with_a_url(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKSTREAM_SCHEMA_REGISTRY_URL", raising=False)
    assert isinstance(ids_from_settings(), LocalSchemaIds)
    monkeypatch.setenv("STOCKSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:1/")
    ids = ids_from_settings()
    assert isinstance(ids, RegistrySchemaIds) and ids.url == "http://127.0.0.1:1"
    assert not ids.blocking and ids_from_settings(blocking=True).blocking


@pytest.fixture
def fresh_codecs():
    default_codec.cache_clear()
    cli_codec.cache_clear()
    yield
    default_codec.cache_clear()
    cli_codec.cache_clear()


def test_the_worker_codec_never_blocks_and_the_cli_codec_may(monkeypatch, tmp_path, fresh_codecs):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STOCKSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:1")
    assert default_codec().ids.blocking is False
    assert cli_codec().ids.blocking is True


# --- the worker: look-ups awaited beforehand, encode and decode never do I/O ------------------


def with_id(data: bytes, new_id: int) -> bytes:
    return data[:1] + struct.pack(">I", new_id) + data[5:]


async def test_register_all_registers_every_schema_then_encode_needs_no_io(registry):
    codec = worker_codec(registry.url)
    await codec.register_all()
    assert sorted(registry.posts()) == sorted(f"/subjects/io.stockstream.{name}/versions" for name in RECORDS)
    registry.calls.clear()
    for name, record in RECORDS.items():
        data = codec.encode(name, record)
        assert schema_id(data) == registry.subjects[f"io.stockstream.{name}"][0]
        # The writer knows its own schemas: reading its records needs no prepare.
        assert codec.decode(name, data) == record
    assert registry.calls == []
    # Started again (another task, a second call), nothing is registered twice.
    await codec.register_all()
    assert registry.calls == []


async def test_encode_before_register_all_raises_schema_not_loaded_without_io(registry):
    codec = worker_codec(registry.url)
    with pytest.raises(SchemaNotLoaded, match="register_all") as info:
        codec.encode("InventoryEvent", EVENT)
    assert info.value.name == "InventoryEvent" and info.value.schema_id is None
    assert registry.calls == []


async def test_decode_without_prepare_raises_schema_not_loaded_not_a_decode_error(registry):
    data = cli_codec_for(registry).encode("InventoryEvent", EVENT)
    registry.calls.clear()
    codec = worker_codec(registry.url)
    with pytest.raises(SchemaNotLoaded, match="prepare") as info:
        codec.decode("InventoryEvent", data)
    # Callers dead-letter DecodeError: a record that is only not loaded yet must not look bad.
    assert not isinstance(info.value, (DecodeError, ValueError))
    assert info.value.schema_id == schema_id(data)
    assert registry.calls == []


async def test_prepare_fetches_the_writer_schema_once(registry):
    data = cli_codec_for(registry).encode("InventoryEvent", EVENT)
    codec = worker_codec(registry.url)
    await codec.prepare(data)
    assert codec.decode("InventoryEvent", data) == EVENT
    for _ in range(3):
        await codec.prepare(data)
        codec.decode("InventoryEvent", data)
    assert registry.gets() == [f"/schemas/ids/{schema_id(data)}"]


async def test_concurrent_prepares_of_one_id_make_one_request(registry):
    data = cli_codec_for(registry).encode("InventoryEvent", EVENT)
    registry.delay = 0.2  # so that all of them are waiting at once
    codec = worker_codec(registry.url)
    await asyncio.gather(*(codec.prepare(data) for _ in range(10)))
    assert registry.gets() == [f"/schemas/ids/{schema_id(data)}"]
    assert codec.decode("InventoryEvent", data) == EVENT


async def test_a_cancelled_prepare_does_not_cancel_the_look_up_for_others(registry):
    data = cli_codec_for(registry).encode("Item", ITEM)
    registry.delay = 0.2
    codec = worker_codec(registry.url)
    first = asyncio.ensure_future(codec.prepare(data))
    second = asyncio.ensure_future(codec.prepare(data))
    await asyncio.sleep(0.05)
    first.cancel()
    await second
    assert codec.decode("Item", data) == ITEM
    assert len(registry.gets()) == 1


async def test_unknown_id_is_remembered_for_a_while_then_asked_again(registry):
    clock = Clock()
    codec = worker_codec(registry.url, unknown_ttl=60, clock=clock)
    data = with_id(AvroCodec().encode("InventoryEvent", EVENT), 999)
    await codec.prepare(data)
    with pytest.raises(DecodeError, match="unknown schema id 999"):
        codec.decode("InventoryEvent", data)
    # Within the time, the answer stands: no new request, however many records carry the id.
    clock.now += 59
    await codec.prepare(data)
    with pytest.raises(DecodeError, match="unknown schema id 999"):
        codec.decode("InventoryEvent", data)
    assert registry.gets() == ["/schemas/ids/999"]
    # Registered since, and asked again once the time is up: now it reads.
    registry.add(999, load_schemas()["InventoryEvent"])
    clock.now += 2
    await codec.prepare(data)
    assert registry.gets() == ["/schemas/ids/999"] * 2
    assert codec.decode("InventoryEvent", data) == EVENT


async def test_a_registry_that_hangs_is_bounded_by_the_timeout(registry):
    data = cli_codec_for(registry).encode("InventoryEvent", EVENT)
    registry.delay = 30
    codec = worker_codec(registry.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="did not answer") as info:
        await codec.prepare(data)
    assert time.monotonic() - started < 2
    assert registry.url in str(info.value)
    # Nothing was concluded: the record is still not loaded, not unknown, so it is retried.
    with pytest.raises(SchemaNotLoaded):
        codec.decode("InventoryEvent", data)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable):
        await codec.register_all()
    assert time.monotonic() - started < 2


async def test_the_loop_keeps_running_while_a_look_up_waits(registry):
    data = cli_codec_for(registry).encode("InventoryEvent", EVENT)
    registry.delay = 0.3
    codec = worker_codec(registry.url)
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(ticking())
    await codec.prepare(data)
    ticker.cancel()
    assert ticks >= 10


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_registry_in_trouble_is_unavailable_not_unknown(registry, status):
    data = cli_codec_for(registry).encode("InventoryEvent", EVENT)
    registry.status = status
    codec = worker_codec(registry.url)
    with pytest.raises(RegistryUnavailable, match=f"HTTP {status}"):
        await codec.prepare(data)
    with pytest.raises(SchemaNotLoaded):
        codec.decode("InventoryEvent", data)
    # Back to health, the next prepare asks again at once.
    registry.status = None
    await codec.prepare(data)
    assert codec.decode("InventoryEvent", data) == EVENT


async def test_an_unreachable_registry_is_unavailable_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    codec = worker_codec(url, timeout=2)
    with pytest.raises(RegistryUnavailable, match="unreachable") as info:
        await codec.register_all()
    assert url in str(info.value)
    with pytest.raises(RegistryUnavailable, match=url):
        await codec.prepare(AvroCodec().encode("Item", ITEM))


async def test_a_refusal_is_a_registry_error_not_unavailable(registry):
    codec = worker_codec(registry.url + "/nowhere")
    with pytest.raises(RegistryError, match="HTTP 404") as info:
        await codec.register_all()
    assert not isinstance(info.value, RegistryUnavailable)


@pytest.mark.parametrize("data", [None, b"", b"\x01\x00\x00\x00\x01\x02", b'{"sku": "S"}', b"\x00\x00"])
async def test_prepare_leaves_unframed_values_to_decode(registry, data):
    codec = worker_codec(registry.url)
    await codec.prepare(data)
    assert registry.calls == []
    with pytest.raises(DecodeError):
        codec.decode("InventoryEvent", data)


async def test_records_of_an_older_version_read_with_the_current_schema(registry):
    old = old_event_schema()
    old_writer = AvroCodec(ids=cli_ids(registry.url), schemas={"InventoryEvent": old})
    record = {k: v for k, v in EVENT.items() if k != "from_location"}
    data = old_writer.encode("InventoryEvent", record)
    codec = worker_codec(registry.url)
    await codec.register_all()
    assert schema_id(codec.encode("InventoryEvent", EVENT)) != schema_id(data)
    await codec.prepare(data)
    assert codec.decode("InventoryEvent", data) == {**record, "from_location": None}
    # And a reader not yet registered resolves the same way.
    fresh = worker_codec(registry.url)
    await fresh.prepare(data)
    assert fresh.decode("InventoryEvent", data) == {**record, "from_location": None}


async def test_a_record_of_another_schema_is_still_refused(registry):
    data = cli_codec_for(registry).encode("Item", ITEM)
    codec = worker_codec(registry.url)
    await codec.prepare(data)
    with pytest.raises(DecodeError, match="is Item, expected InventoryEvent"):
        codec.decode("InventoryEvent", data)


def cli_codec_for(registry: FakeRegistry) -> AvroCodec:
    """Another producer's codec (the CLI's), to write records the worker has not seen."""
    return AvroCodec(ids=cli_ids(registry.url))


def test_register_all_may_run_before_the_workers_loop_starts(registry):
    # A session per look-up and nothing left pending: the ids outlive the loop that fetched them,
    # so the worker command can register with asyncio.run() before Faust starts its own loop.
    codec = worker_codec(registry.url)
    asyncio.run(codec.register_all())
    registry.calls.clear()

    async def in_another_loop() -> bytes:
        return codec.encode("InventoryEvent", EVENT)

    assert codec.decode("InventoryEvent", asyncio.run(in_another_loop())) == EVENT
    assert registry.calls == []
