"""JSON <-> Avro records, for people: `stockstream produce` reads JSON, `consume` prints it.

Errors name the field, so a bad line in a file of events can be fixed without guessing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson


class RecordError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_time(field: str, value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RecordError(field, f"must be an ISO-8601 time or epoch milliseconds, got {value!r}")
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise RecordError(field, f"{value} is out of range for epoch milliseconds") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(field, f"is not an ISO-8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def from_json(schema: dict, obj: Any) -> dict[str, Any]:
    """A JSON object as a record of the schema: required fields present, no unknown ones,
    times parsed, every value of the right type."""
    named: dict[str, Any] = {}
    _collect_named(schema, named)
    return _record(schema, obj, "", named)


def _collect_named(avro_type: Any, named: dict[str, Any]) -> None:
    if isinstance(avro_type, list):
        for branch in avro_type:
            _collect_named(branch, named)
    elif isinstance(avro_type, dict):
        if avro_type.get("type") in ("record", "enum", "fixed"):
            named[avro_type["name"]] = avro_type
        for field in avro_type.get("fields", ()):
            _collect_named(field["type"], named)
        for key in ("items", "values"):
            if key in avro_type:
                _collect_named(avro_type[key], named)


def _record(schema: dict, obj: Any, path: str, named: dict[str, Any]) -> dict[str, Any]:
    where = path or "(record)"
    if not isinstance(obj, dict):
        raise RecordError(where, f"must be a JSON object, got {type(obj).__name__}")
    fields = {f["name"]: f for f in schema["fields"]}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise RecordError(path + unknown[0], f"is not a field of {schema['name']}")
    record = {}
    for name, field in fields.items():
        if name not in obj:
            if "default" not in field:
                raise RecordError(path + name, "is required")
            record[name] = field["default"]
        else:
            record[name] = _value(field["type"], obj[name], path + name, named)
    return record


def _value(avro_type: Any, value: Any, path: str, named: dict[str, Any]) -> Any:
    """Check (and for times, convert) one value against its Avro type."""
    if isinstance(avro_type, str) and avro_type in named:
        avro_type = named[avro_type]
    if isinstance(avro_type, list):
        if value is None and "null" in avro_type:
            return None
        branches = [t for t in avro_type if t != "null"]
        errors = []
        for branch in branches:
            try:
                return _value(branch, value, path, named)
            except RecordError as err:
                errors.append(err)
        raise errors[0]
    if isinstance(avro_type, dict):
        return _complex(avro_type, value, path, named)
    check = PRIMITIVES.get(avro_type)
    if check is None or not check(value):
        raise RecordError(path, f"{value!r} is not of type {avro_type}")
    return value


def _complex(avro_type: dict, value: Any, path: str, named: dict[str, Any]) -> Any:
    kind = avro_type["type"]
    if avro_type.get("logicalType") == "timestamp-millis":
        return parse_time(path, value)
    if kind == "enum":
        if value not in avro_type["symbols"]:
            raise RecordError(path, f"{value!r} is not one of {', '.join(avro_type['symbols'])}")
        return value
    if kind == "map":
        if not isinstance(value, dict):
            raise RecordError(path, f"must be a JSON object, got {value!r}")
        return {k: _value(avro_type["values"], v, f"{path}.{k}", named) for k, v in value.items()}
    if kind == "array":
        if not isinstance(value, list):
            raise RecordError(path, f"must be a JSON array, got {value!r}")
        return [_value(avro_type["items"], v, f"{path}[{i}]", named) for i, v in enumerate(value)]
    if kind == "record":
        if not isinstance(value, dict):
            raise RecordError(path, f"must be a JSON object, got {type(value).__name__}")
        return _record(avro_type, value, path + ".", named)
    return _value(kind, value, path, named)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


PRIMITIVES = {
    "string": lambda v: isinstance(v, str),
    "long": lambda v: _is_int(v) and -(2**63) <= v < 2**63,
    "int": lambda v: _is_int(v) and -(2**31) <= v < 2**31,
    "boolean": lambda v: isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bytes": lambda v: isinstance(v, (bytes, str)),
}


def to_json(obj: Any) -> bytes:
    """One JSON line; times as ISO-8601 UTC, bytes as UTF-8 when they are text."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"base64": __import__("base64").b64encode(value).decode()}
    raise TypeError(f"cannot show {type(value).__name__} as JSON")
