"""sinks.yaml: which channel adapters run, checked like the policies file. A wrong field is
reported with its path (`sinks.shop.plan: must be one of ...`) and nothing runs. Secrets are
never in the file: it names the environment variables that hold them. Pure: no I/O but the
items CSV a sink may name, read by `load_items`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from tables.policy import RESERVED_CHANNEL_NAMES


class SinkConfigError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


# Shopify's GraphQL Admin API: points restored per second and bucket size, by plan.
SHOPIFY_PLANS = {"standard": (100, 1000), "advanced": (200, 2000), "plus": (1000, 10000),
                 "enterprise": (2000, 20000)}
SHOPIFY_MAX_QUANTITIES = 250  # inventorySetQuantities: quantities per call
AMAZON_RATE, AMAZON_BURST = 5.0, 5  # patchListingsItem: requests per second, burst
AMAZON_FEED_MAX_ITEMS = 25_000
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# How long the sink's loop may go without reading before its consumer leaves the group (Kafka's
# max.poll.interval.ms): a send holds the loop, and an Amazon feed waits up to 900 s for its report.
MAX_POLL_INTERVAL_SECONDS = 1200
MAX_POLL_INTERVAL_MOST = 86_400


@dataclass(frozen=True)
class Sink:
    name: str
    kind: str
    channel: str
    batch_size: int
    rate: float  # budget units per second (requests; points for shopify)
    burst: float  # budget units a full bucket holds
    options: Mapping[str, Any] = field(default_factory=dict)  # the kind's own fields, checked
    max_poll_interval_seconds: float = MAX_POLL_INTERVAL_SECONDS  # the consumer's max.poll.interval

    @property
    def group_id(self) -> str:
        """The sink's own consumer group: a slow sink never holds another back."""
        return f"stockstream-sink-{self.name}"

    @property
    def dlq_topic(self) -> str:
        return f"sinks.{self.name}.dlq"


def text(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SinkConfigError(path, f"must be a non-empty string, got {value!r}")
    return value


def url(path: str, value: Any) -> str:
    if not isinstance(value, str) or not URL.match(value):
        raise SinkConfigError(path, f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def env_name(path: str, value: Any) -> str:
    if not isinstance(value, str) or not ENV.match(value):
        raise SinkConfigError(path, f"must name an environment variable (A-Z, 0-9, _), got {value!r}")
    return value


def positive(path: str, value: Any, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= most:
        raise SinkConfigError(path, f"must be a number more than 0 and at most {most:g}, got {value!r}")
    return value


def items_map(path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise SinkConfigError(path, "must map SKUs to the channel's item ids")
    for sku, item in value.items():
        if not isinstance(sku, str) or not isinstance(item, (str, int)) or isinstance(item, bool) or not str(item):
            raise SinkConfigError(f"{path}.{sku}", f"must be an item id, got {item!r}")
    return {sku: str(item) for sku, item in value.items()}


def one_of(choices: Mapping[str, Any] | tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(path: str, value: Any) -> str:
        if value not in choices:
            raise SinkConfigError(path, f"must be one of {', '.join(choices)}, got {value!r}")
        return value
    return check


def api_version(path: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^\d{4}-(01|04|07|10)$", value):
        raise SinkConfigError(path, f"must be a Shopify API version like \"2026-01\" (quoted), got {value!r}")
    return value


def x12_id(path: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9 ]{1,15}$", value):
        raise SinkConfigError(path, f"must be 1 to 15 letters, digits or spaces (an X12 interchange id), got {value!r}")
    return value


Check = Callable[[str, Any], Any]
# kind -> (required fields, optional fields with their defaults); `items`/`items_file` apart
KINDS: dict[str, tuple[dict[str, Check], dict[str, tuple[Check, Any]]]] = {
    "webhook": ({"url": url, "secret_env": env_name},
                {"timeout_seconds": (lambda p, v: positive(p, v, 300), 10)}),
    "shopify": ({"shop_url": url, "api_version": api_version, "token_env": env_name, "location": text},
                {"plan": (one_of(SHOPIFY_PLANS), "standard"),
                 "read_back_seconds": (lambda p, v: positive(p, v, 86_400), 300),
                 "timeout_seconds": (lambda p, v: positive(p, v, 300), 30)}),
    "amazon": ({"endpoint": url, "seller_id": text, "marketplace_id": text, "client_id_env": env_name,
                "client_secret_env": env_name, "refresh_token_env": env_name},
               {"token_url": (url, "https://api.amazon.com/auth/o2/token"), "product_type": (text, "PRODUCT"),
                "feed_above": (lambda p, v: positive(p, v, AMAZON_FEED_MAX_ITEMS), 500)}),
    "edi846": ({"directory": text, "sender_id": x12_id, "receiver_id": x12_id},
               {"every_seconds": (lambda p, v: positive(p, v, 86_400), 900),
                "sender_qualifier": (text, "ZZ"), "receiver_qualifier": (text, "ZZ")}),
}
COMMON = {"kind", "channel", "batch_size", "rate_per_second", "burst", "items", "items_file",
          "max_poll_interval_seconds"}
BATCH = {"webhook": (100, 1000), "shopify": (SHOPIFY_MAX_QUANTITIES, SHOPIFY_MAX_QUANTITIES),
         "amazon": (AMAZON_FEED_MAX_ITEMS, AMAZON_FEED_MAX_ITEMS), "edi846": (10_000, 100_000)}  # default, most
NEEDS_ITEMS = {"shopify", "edi846"}  # channels that know items by their own ids


def parse_sinks(document: Any, base: Path = Path(".")) -> dict[str, Sink]:
    """base: the folder relative items_file paths are read from (the file's own)."""
    if not isinstance(document, Mapping) or set(document) != {"sinks"}:
        raise SinkConfigError("(document)", "must be a mapping with one key, sinks")
    sinks = document["sinks"]
    if not isinstance(sinks, Mapping) or not sinks:
        raise SinkConfigError("sinks", "must map sink names to their settings")
    return {name: parse_sink(name, spec, f"sinks.{name}", base) for name, spec in sinks.items()}


def parse_sink(name: Any, spec: Any, path: str, base: Path) -> Sink:
    if not isinstance(name, str) or not NAME.match(name):
        raise SinkConfigError(path, "a sink's name is letters, digits, '.', '_' or '-', at most 63")
    if not isinstance(spec, Mapping):
        raise SinkConfigError(path, f"must be a mapping, got {type(spec).__name__}")
    kind = one_of(tuple(KINDS))(f"{path}.kind", spec.get("kind"))
    required, optional = KINDS[kind]
    allowed = COMMON | set(required) | set(optional)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise SinkConfigError(f"{path}.{unknown[0]}", f"is not a field of a {kind} sink (expected one of "
                                                      f"{', '.join(sorted(allowed))})")
    channel = text(f"{path}.channel", spec.get("channel"))
    if channel in RESERVED_CHANNEL_NAMES or not NAME.match(channel):
        raise SinkConfigError(f"{path}.channel", f"{channel!r} is not a channel name")
    options: dict[str, Any] = {}
    for field_name, check in required.items():
        if field_name not in spec:
            raise SinkConfigError(f"{path}.{field_name}", f"is required for a {kind} sink")
        options[field_name] = check(f"{path}.{field_name}", spec[field_name])
    for field_name, (check, default) in optional.items():
        options[field_name] = check(f"{path}.{field_name}", spec[field_name]) if field_name in spec else default
    options["items"] = items_of(spec, path, base, required=kind in NEEDS_ITEMS)
    if "directory" in options:  # relative to the file, as items_file is
        options["directory"] = str(base / options["directory"])
    default_batch, most = BATCH[kind]
    batch = spec.get("batch_size", default_batch)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= most:
        raise SinkConfigError(f"{path}.batch_size", f"must be a whole number from 1 to {most}, got {batch!r}")
    rate, burst = default_budget(kind, options)
    rate = positive(f"{path}.rate_per_second", spec.get("rate_per_second", rate), 100_000)
    burst = positive(f"{path}.burst", spec.get("burst", burst), 1_000_000)
    poll = poll_interval(f"{path}.max_poll_interval_seconds",
                         spec.get("max_poll_interval_seconds", MAX_POLL_INTERVAL_SECONDS))
    return Sink(name, kind, channel, batch, float(rate), float(burst), options, float(poll))


def poll_interval(path: str, value: Any) -> float:
    """At least a second (the loop reads every half second or so when idle), at most a day."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= MAX_POLL_INTERVAL_MOST:
        raise SinkConfigError(path, f"must be a number of seconds from 1 to {MAX_POLL_INTERVAL_MOST:,}, got {value!r}")
    return value


def default_budget(kind: str, options: Mapping[str, Any]) -> tuple[float, float]:
    if kind == "shopify":
        return SHOPIFY_PLANS[options["plan"]]
    if kind == "amazon":
        return AMAZON_RATE, AMAZON_BURST
    if kind == "edi846":
        return 1.0 / options["every_seconds"], 1.0  # a file per interval
    return 10.0, 10.0  # webhook and files: a polite default; set rate_per_second for yours


def items_of(spec: Mapping[str, Any], path: str, base: Path, required: bool) -> dict[str, str] | None:
    if "items" in spec and "items_file" in spec:
        raise SinkConfigError(f"{path}.items_file", "give items or items_file, not both")
    if "items" in spec:
        return items_map(f"{path}.items", spec["items"])
    if "items_file" in spec:
        return load_items(f"{path}.items_file", base / text(f"{path}.items_file", spec["items_file"]))
    if required:
        raise SinkConfigError(f"{path}.items", "is required: the channel's item id for each SKU (or items_file)")
    return None  # the channel knows SKUs as they are


def load_items(path: str, file: Path) -> dict[str, str]:
    """A CSV of sku,item_id (a header row naming sku is skipped)."""
    try:
        with file.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except OSError as err:
        raise SinkConfigError(path, f"cannot read {file}: {err.strerror}") from None
    if rows and rows[0][0].strip().lower() == "sku":
        rows = rows[1:]
    items = {}
    for line, row in enumerate(rows, 1):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise SinkConfigError(f"{path}:{line}", f"must be sku,item_id, got {','.join(row)!r}")
        items[row[0].strip()] = row[1].strip()
    return items_map(path, items)
