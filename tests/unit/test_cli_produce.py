"""`stockstream produce` without a broker: read_lines and encode_lines (streams/cli/kafka.py), and the
CLI's answers when nothing can be sent."""

from __future__ import annotations

import os
import struct

import orjson
import pytest

from streams import cli

from streams.cli import kafka

from streams.app import topics
from streams.wire.codec import AvroCodec, cli_codec, default_codec, load_schemas, local_id
from streams.cli.kafka import encode_lines, read_lines


def never_send(*args, **kwargs):
    raise AssertionError("a unit test reached streams.cli.kafka.send: it would have produced to Kafka")


@pytest.fixture(autouse=True)
def local_codec(monkeypatch, tmp_path):
    """No registry, no .env from the checkout: the default codec uses local ids. And no Kafka:
    a local broker may well be running, so sending is replaced by a failure and the bootstrap
    points at a closed port."""
    for name in list(os.environ):
        if name.startswith("STOCKSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STOCKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setattr(kafka, "send", never_send)
    monkeypatch.setattr(kafka, "Producer", never_send)
    monkeypatch.chdir(tmp_path)
    default_codec.cache_clear()
    cli_codec.cache_clear()
    yield
    default_codec.cache_clear()
    cli_codec.cache_clear()


def event(n: int, **fields) -> dict:
    obj = {"event_id": f"e-{n}", "type": "Receipt", "sku": "SKU-1", "location": "WH1", "source": "wms",
           "occurred_at": "2026-11-25T10:00:00Z", "qty": 2}
    obj.update(fields)
    return obj


def lines(*objs) -> list[tuple[int, str]]:
    return [(n, o if isinstance(o, str) else orjson.dumps(o).decode() + "\n") for n, o in enumerate(objs, start=1)]


def write(tmp_path, *objs) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(o if isinstance(o, str) else orjson.dumps(o).decode() + "\n" for o in objs))
    return str(path)


def test_good_events_file(tmp_path):
    path = write(tmp_path, event(1), "\n", "   \n",
                 event(4, sku="SKU-2", location="WH9", type="ReserveRequested", reservation_id="r",
                       channel="web", order_id="o"))
    numbered = list(read_lines(path))
    assert [n for n, _ in numbered] == [1, 4]  # blank lines skipped, numbers kept
    records, errors = encode_lines(numbered, topics.EVENTS)
    assert errors == []
    assert [(n, k) for n, k, _ in records] == [(1, b"SKU-1@WH1"), (4, b"SKU-2@WH9")]
    codec = AvroCodec()
    for _, _, value in records:
        assert value[0] == 0
        assert struct.unpack(">I", value[1:5])[0] == local_id(load_schemas()["InventoryEvent"])
    decoded = codec.decode("InventoryEvent", records[1][2])
    assert decoded["type"] == "ReserveRequested" and decoded["reservation_id"] == "r"
    assert decoded["event_id"] == "e-4"


def test_good_items_file_is_keyed_by_sku():
    records, errors = encode_lines(lines({"sku": "SKU-1", "uoms": {"CS": 12}}, {"sku": "KIT", "components": [
        {"sku": "SKU-1", "qty": 2}]}), topics.CATALOG)
    assert errors == []
    assert [(n, k) for n, k, _ in records] == [(1, b"SKU-1"), (2, b"KIT")]
    assert AvroCodec().decode("Item", records[1][2])["components"] == [{"sku": "SKU-1", "qty": 2}]


def test_every_bad_line_is_reported_and_only_good_lines_encode():
    records, errors = encode_lines(lines(
        event(1),
        event(2, quantity=3),
        event(3, qty="2"),
        "{not json\n",
        event(5, type="Nope"),
        event(6, qty=-1),  # valid Avro, refused by the event rules
        event(7, type="TransferShipped", to_location="WH1"),
        [1, 2],
        event(9),
    ), topics.EVENTS)
    assert [n for n, _, _ in records] == [1, 9]
    assert len(errors) == 7
    assert errors[0] == "line 2: quantity: is not a field of InventoryEvent"
    assert errors[1] == "line 3: qty: '2' is not of type long"
    assert errors[2].startswith("line 4: not JSON: ")
    assert errors[3].startswith("line 5: type: 'Nope' is not one of")
    assert errors[4] == "line 6: qty: must be positive for Receipt, got -1"
    assert errors[5] == "line 7: to_location: must differ from location"
    assert errors[6] == "line 8: (record): must be a JSON object, got list"


def test_bad_item_line_names_the_nested_field():
    _, errors = encode_lines(lines({"sku": "A"}, {"sku": "B"}, {"sku": "K", "components": [{"sku": "A", "qty": "x"}]}),
                             topics.CATALOG)
    assert errors == ["line 3: components[0].qty: 'x' is not of type long"]


def test_unknown_topic_lists_the_known_ones():
    with pytest.raises(KeyError) as info:
        encode_lines(lines(event(1)), "inventory.event")
    message = info.value.args[0]
    assert "'inventory.event'" in message
    for name in topics.TOPICS:
        assert name in message


@pytest.mark.parametrize("logical", [topics.DLQ, topics.DRIFT, topics.POLICIES, topics.COMPONENTS])
def test_engine_written_topics_are_refused(logical):
    with pytest.raises(ValueError, match=f"does not write {logical}"):
        encode_lines(lines(event(1)), logical)


POSITION = {"sku": "SKU-1", "location": "WH1", "on_hand": 1_000_000, "quarantined": 0, "damaged": 0, "held": 0,
            "reserved": 0, "picked": 0, "incoming": 0, "safety_stock": 0, "ats": 1_000_000, "version": 99,
            "event_id": "forged", "occurred_at": "2026-11-25T10:00:00Z"}


def test_availability_locations_is_refused():
    with pytest.raises(ValueError, match="does not write availability.locations"):
        encode_lines(lines(POSITION), topics.LOCATIONS)


@pytest.mark.parametrize("bad", [{"occurred_at": 1_795_600_800_000_000}, {"qty": 2**63}])
def test_out_of_range_values_are_reported_per_line(bad):
    records, errors = encode_lines(lines(event(1), event(2, **bad), event(3, qty="x")), topics.EVENTS)
    assert [n for n, _, _ in records] == [1]
    assert len(errors) == 2
    assert errors[0].startswith(f"line 2: {next(iter(bad))}: ")
    assert errors[1].startswith("line 3: qty: ")


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_unknown_topic(capsys):
    assert cli.main(["produce", "file", "--topic", "nope"]) == 2
    err = capsys.readouterr().err
    assert "stockstream produce: unknown topic 'nope'" in err
    assert "inventory.events" in err


def test_cli_refuses_availability_locations(capsys, tmp_path):
    path = write(tmp_path, POSITION)
    assert cli.main(["produce", path, "--topic", "availability.locations"]) == 2
    assert "it is written by the engine" in capsys.readouterr().err


def test_cli_engine_topic(capsys):
    assert cli.main(["produce", "file", "--topic", "inventory.dlq"]) == 2
    assert "it is written by the engine" in capsys.readouterr().err


def test_cli_missing_file(capsys, tmp_path):
    assert cli.main(["produce", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


def test_cli_bad_file_sends_nothing(capsys, tmp_path):
    path = write(tmp_path, event(1), event(2, qty="2"), *[event(n, qty=0) for n in range(3, 28)])
    assert cli.main(["produce", path]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "line 2: qty: '2' is not of type long"
    assert err[1] == "line 3: qty: must be positive for Receipt, got 0"
    assert len(err) == 21  # 20 shown, then the summary
    assert err[-1] == "26 bad line(s) (6 not shown); nothing was sent"


def test_cli_bad_settings(capsys, monkeypatch):
    monkeypatch.setenv("STOCKSTREAM_PARTITIONS", "many")
    assert cli.main(["produce", "file"]) == 2
    assert "STOCKSTREAM_PARTITIONS" in capsys.readouterr().err


def test_cli_without_a_command(capsys):
    assert cli.main([]) == 2
    assert "usage: stockstream" in capsys.readouterr().out
