"""Log lines: JSON (one object a line, for a log shipper) or text (for people).

Every logger, Faust's and aiokafka's too, writes through the one handler `config` sets up. A
line written while a stage handles a record carries what that record is about: its key
(SKU@LOCATION at the location stage, the SKU at the channel stage), event_id and
correlation_id. The stages say so with `about`, a context variable: each agent runs in its own
task, so one stage's record never labels another task's lines.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

import orjson

from streams.app.settings import LOG_LEVELS

LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR", "crit": "CRITICAL"}  # Faust's names

_about: ContextVar[tuple[Any, str | None, str | None] | None] = ContextVar("stockstream_record", default=None)


def about(key: bytes | str | None, event_id: str | None = None, correlation_id: str | None = None) -> None:
    """The record this task handles now, for its log lines until the next call. Cheap (a tuple
    and a set): the stages call it per record."""
    _about.set((key, event_id, correlation_id))


def context() -> dict[str, str]:
    """What the current task's lines carry: key, event_id, correlation_id, those known."""
    found = _about.get()
    if found is None:
        return {}
    key, event_id, correlation_id = found
    out = {}
    if key is not None:
        out["key"] = key.decode(errors="replace") if isinstance(key, bytes) else key
    if event_id is not None:
        out["event_id"] = event_id
    if correlation_id is not None:
        out["correlation_id"] = correlation_id
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **context(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("[%(asctime)s] [%(process)s] [%(levelname)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        found = context()
        if not found:
            return text
        head, newline, trace = text.partition("\n")  # the context on the message's line, before a traceback
        return head + " [" + " ".join(f"{name}={value}" for name, value in found.items()) + "]" + newline + trace


def config(log_format: str, level: str) -> dict[str, Any]:
    """For logging.config.dictConfig (and Faust's logging_config): one handler on stderr that
    every logger propagates to. level: a STOCKSTREAM_LOG_LEVEL value."""
    formatter = {"json": JsonFormatter, "text": TextFormatter}[log_format]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"stockstream": {"class": f"{__name__}.{formatter.__name__}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "stockstream",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level_name(level), "handlers": ["stderr"]},
    }


def level_name(level: str) -> str:
    return LEVELS[LOG_LEVELS[level.lower()]]


def setup(log_format: str, level: str) -> None:
    """Logging for a process that is not a Faust worker (a sink), or a worker before Faust
    configures it with the same config. Python's warnings go through it too."""
    import logging.config

    logging.config.dictConfig(config(log_format, level))
    logging.captureWarnings(True)
