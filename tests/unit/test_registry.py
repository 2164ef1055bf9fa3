"""Schema ids from a Confluent-compatible registry (streams/registry.py), against a fake one on
127.0.0.1 that speaks the two calls stockstream makes."""

from __future__ import annotations

import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.codec import AvroCodec, DecodeError, LocalSchemaIds, load_schemas, local_id
from streams.registry import RegistryError, RegistrySchemaIds, ids_from_settings

from tests.unit.test_codec import EVENT, ITEM


class FakeRegistry:
    """POST /subjects/<subject>/versions -> {"id": N}; GET /schemas/ids/<id> -> {"schema": ...}.

    Like the real one, the same schema text gets the same id again; ids start at 1 and grow."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.ids: dict[str, int] = {}  # schema text -> id
        self.calls: list[tuple[str, str]] = []
        self.subjects: dict[str, list[int]] = {}
        self.lock = threading.Lock()
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

            def do_POST(self) -> None:
                with registry.lock:
                    registry.calls.append(("POST", self.path))
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
                with registry.lock:
                    registry.calls.append(("GET", self.path))
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                    with registry.lock:
                        schema = registry.schemas.get(int(parts[2]))
                    if schema is not None:
                        return self._answer(200, {"schema": schema})
                    return self._answer(404, {"error_code": 40403, "message": "Schema not found"})
                self._answer(404, {"error_code": 404, "message": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def posts(self) -> list[str]:
        return [path for method, path in self.calls if method == "POST"]

    def gets(self) -> list[str]:
        return [path for method, path in self.calls if method == "GET"]


@pytest.fixture
def registry():
    fake = FakeRegistry()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def schema_id(data: bytes) -> int:
    assert data[0] == 0
    return struct.unpack(">I", data[1:5])[0]


def test_encodes_with_the_registry_id_under_the_record_name_subject(registry):
    # Something else registered first, so the ids are not 1 by chance.
    registry.ids["{}"] = 1
    codec = AvroCodec(ids=RegistrySchemaIds(registry.url + "/"))
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
    codec = AvroCodec(ids=RegistrySchemaIds(registry.url))
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
    ids = RegistrySchemaIds(registry.url)
    schema = load_schemas()["LocationAvailability"]
    first = ids.id_for("LocationAvailability", schema)
    assert ids.id_for("LocationAvailability", schema) == first
    assert registry.posts() == ["/subjects/io.stockstream.LocationAvailability/versions"]
    assert ids.schema_for(first) == schema
    assert registry.gets() == []


def test_another_codec_decodes_by_fetching_the_schema_by_id(registry):
    data = AvroCodec(ids=RegistrySchemaIds(registry.url)).encode("InventoryEvent", EVENT)
    reader = AvroCodec(ids=RegistrySchemaIds(registry.url))
    assert reader.decode("InventoryEvent", data) == EVENT
    assert registry.gets() == [f"/schemas/ids/{schema_id(data)}"]
    # Fetched once, then cached.
    assert reader.decode("InventoryEvent", data) == EVENT
    assert len(registry.gets()) == 1


def test_registry_ids_and_local_ids_do_not_mix(registry):
    data = AvroCodec(ids=RegistrySchemaIds(registry.url)).encode("Item", ITEM)
    with pytest.raises(DecodeError, match="unknown schema id"):
        AvroCodec(ids=LocalSchemaIds(load_schemas())).decode("Item", data)


def test_unknown_id_is_a_decode_error(registry):
    good = AvroCodec(ids=RegistrySchemaIds(registry.url)).encode("InventoryEvent", EVENT)
    bad = good[:1] + struct.pack(">I", 999) + good[5:]
    with pytest.raises(DecodeError, match="unknown schema id 999"):
        AvroCodec(ids=RegistrySchemaIds(registry.url)).decode("InventoryEvent", bad)
    assert "/schemas/ids/999" in registry.gets()


def test_other_http_errors_are_registry_errors(registry):
    ids = RegistrySchemaIds(registry.url + "/nowhere")
    with pytest.raises(RegistryError, match="HTTP 404"):
        ids.id_for("Item", load_schemas()["Item"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_registry_fails_loudly_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    codec = AvroCodec(ids=RegistrySchemaIds(url, timeout=2))
    with pytest.raises(RegistryError) as info:
        codec.encode("InventoryEvent", EVENT)
    assert url in str(info.value) and "unreachable" in str(info.value)
    with pytest.raises(RegistryError, match=url):
        RegistrySchemaIds(url, timeout=2).schema_for(1)


def test_ids_from_settings_chooses_the_registry_only_with_a_url(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKSTREAM_SCHEMA_REGISTRY_URL", raising=False)
    assert isinstance(ids_from_settings(), LocalSchemaIds)
    monkeypatch.setenv("STOCKSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:1/")
    ids = ids_from_settings()
    assert isinstance(ids, RegistrySchemaIds) and ids.url == "http://127.0.0.1:1"
