"""streams/app/logs.py: JSON lines with what the record being handled is about, text for people,
one handler every logger goes through."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config
import sys
from datetime import datetime

import orjson
import pytest

from streams.app import logs


def record(message: str = "applied", *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("agents.locations", logging.WARNING, __file__, 1, message, args, exc_info)


@pytest.fixture(autouse=True)
def no_context():
    token = logs._about.set(None)
    yield
    logs._about.reset(token)


def test_a_json_line_has_time_level_logger_and_message():
    line = orjson.loads(logs.JsonFormatter().format(record("cannot apply %s[%s]", "inventory.events", 3)))
    assert line.keys() == {"timestamp", "level", "logger", "message"}
    assert line["message"] == "cannot apply inventory.events[3]"
    assert (line["level"], line["logger"]) == ("warning", "agents.locations")
    assert line["timestamp"].endswith("Z") and datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))


def test_a_json_line_carries_the_record_it_is_about():
    logs.about(b"SKU-1@WH1", "wms-88121", "po-7781")
    line = orjson.loads(logs.JsonFormatter().format(record()))
    assert (line["key"], line["event_id"], line["correlation_id"]) == ("SKU-1@WH1", "wms-88121", "po-7781")
    logs.about(b"SKU-2@WH1")
    line = orjson.loads(logs.JsonFormatter().format(record()))
    assert line["key"] == "SKU-2@WH1" and "event_id" not in line and "correlation_id" not in line


def test_a_json_line_carries_the_exception_with_its_traceback_on_one_line():
    try:
        raise ValueError("qty: must be positive")
    except ValueError:
        text = logs.JsonFormatter().format(record(exc_info=sys.exc_info()))
    assert "\n" not in text
    line = orjson.loads(text)
    assert line["exception"].startswith("Traceback") and "ValueError: qty: must be positive" in line["exception"]


def test_each_task_has_its_own_record():
    """Each agent is its own task: one stage's record never labels another's lines."""
    async def stage(key: bytes, seen: list) -> None:
        logs.about(key, "e-" + key.decode())
        await asyncio.sleep(0)
        seen.append(orjson.loads(logs.JsonFormatter().format(record()))["event_id"])

    async def both() -> list:
        seen: list = []
        await asyncio.gather(stage(b"A", seen), stage(b"B", seen))
        return seen

    assert sorted(asyncio.run(both())) == ["e-A", "e-B"]
    assert "key" not in orjson.loads(logs.JsonFormatter().format(record()))


def test_a_text_line_names_the_record_before_a_traceback():
    logs.about("SKU-1", "e1")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        text = logs.TextFormatter().format(record("cannot process", exc_info=sys.exc_info()))
    head, _, trace = text.partition("\n")
    assert head.endswith("[WARNING] agents.locations: cannot process [key=SKU-1 event_id=e1]")
    assert trace.startswith("Traceback") and "RuntimeError: boom" in trace


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_config_sends_every_logger_through_one_handler_at_the_level_asked(log_format, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    saved = logging.root.handlers[:], logging.root.level
    try:
        logging.config.dictConfig(logs.config(log_format, "warning"))
        logging.getLogger("aiokafka.consumer").warning("fetch failed")
        logging.getLogger("faust.worker").info("not at warning")
    finally:
        logging.root.handlers[:], _ = saved
        logging.root.setLevel(saved[1])
    [line] = stream.getvalue().splitlines()
    if log_format == "json":
        assert orjson.loads(line)["logger"] == "aiokafka.consumer"
    else:
        assert line.endswith("[WARNING] aiokafka.consumer: fetch failed")


def test_every_level_setting_is_a_logging_level():
    from streams.app.settings import LOG_LEVELS

    assert {logs.level_name(name) for name in LOG_LEVELS} == {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
