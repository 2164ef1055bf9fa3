"""Typed settings from STOCKSTREAM_* environment variables (and a .env file), secrets masked.

The environment wins over .env; .env is read from the working directory. A wrong value fails
at start with the variable's name, never later with a confusing Kafka error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import orjson

from streams.app.auth import Caller, TokenError, internal_credential, parse_tokens
from tables.limits import DEFAULT as DEFAULT_LIMITS
from tables.limits import JSON_SAFE, Limits

PREFIX = "STOCKSTREAM_"
# Faust's worker takes these names; the usual Python spellings are accepted too.
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warn", "warning": "warn",
              "error": "error", "crit": "crit", "critical": "crit"}
LOG_FORMATS = ("json", "text")  # streams/app/logs.py


class SettingsError(ValueError):
    pass


class Secret:
    """A value that never shows in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    partitions: int = 8
    replication_factor: int = 1
    web_port: int = 6066
    web_bind: str = "127.0.0.1"
    # The host other workers use to reach this one (HTTP requests are routed to the owner).
    web_host: str = "127.0.0.1"
    data_dir: str = "./.stockstream"
    schema_registry_url: str = ""
    strict_catalog: bool = False
    dedupe_window: int = 200
    # on_hand movements kept per position to rebase an ERP Snapshot to its watermark.
    reconcile_history: int = 64
    log_level: str = "info"
    # json: one JSON object a line (for a log shipper); text: for people.
    log_format: str = "json"
    # Seconds before the group gives a dead worker's partitions to the others.
    session_timeout: int = 30
    # Kafka static group membership (group.instance.id), e.g. a StatefulSet pod's name: a
    # worker that restarts within the session timeout gets its partitions back with no
    # rebalance. Empty: dynamic membership. Unique per worker.
    group_instance_id: str = ""
    # RocksDB memory per store (one per partitioned table per partition held, active or standby).
    rocksdb_block_cache_mb: int = 8
    rocksdb_write_buffer_mb: int = 4
    # Kafka security (SASL/TLS); empty means PLAINTEXT.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: Secret = field(default_factory=lambda: Secret(""))
    ssl_cafile: str = ""
    # A client certificate and its key (PEM), for brokers that require one (ssl.client.auth).
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    api_tokens: Secret = field(default_factory=lambda: Secret("{}"))
    # Reads (positions, availability) need a token too; health, metrics and the OpenAPI
    # document stay open for probes and scrapers. Reservations always need one.
    protect_reads: bool = False
    # What workers present to each other when they forward a request (empty: derived from
    # the API tokens, which all workers of a deployment share).
    internal_token: Secret = field(default_factory=lambda: Secret(""))
    # Seconds a POST /reservations waits for its decision before answering 503 (retry).
    request_timeout: int = 10
    # Seconds a closed or rejected reservation is remembered: a retry with its id gets the
    # first answer, GET shows it.
    reservation_retention: int = 7 * 24 * 3600
    # Limits (tables/limits.py): anything larger is refused with reason limit:<field>.
    max_name_length: int = DEFAULT_LIMITS.name_length
    max_id_length: int = DEFAULT_LIMITS.id_length
    max_text_length: int = DEFAULT_LIMITS.text_length
    max_qty: int = DEFAULT_LIMITS.qty
    max_unit_factor: int = DEFAULT_LIMITS.unit_factor
    max_units_per_item: int = DEFAULT_LIMITS.units_per_item
    max_kit_components: int = DEFAULT_LIMITS.kit_components
    max_kit_depth: int = DEFAULT_LIMITS.kit_depth
    max_policy_entries: int = DEFAULT_LIMITS.policy_entries
    max_body_bytes: int = DEFAULT_LIMITS.body_bytes
    max_message_bytes: int = DEFAULT_LIMITS.message_bytes

    @property
    def app_id(self) -> str:
        return f"{self.topic_prefix}stockstream"

    def topic(self, logical: str) -> str:
        return f"{self.topic_prefix}{logical}"

    def callers(self) -> dict[str, Caller]:
        """API token -> the client it names and its scopes."""
        return parse_tokens(orjson.loads(self.api_tokens.get()))

    def limits(self) -> Limits:
        return Limits(
            name_length=self.max_name_length, id_length=self.max_id_length, text_length=self.max_text_length,
            qty=self.max_qty, unit_factor=self.max_unit_factor, units_per_item=self.max_units_per_item,
            kit_components=self.max_kit_components, kit_depth=self.max_kit_depth,
            policy_entries=self.max_policy_entries, body_bytes=self.max_body_bytes,
            message_bytes=self.max_message_bytes,
        )

    def internal_credential(self) -> str:
        return internal_credential(self.internal_token.get(), self.api_tokens.get(), self.app_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
        source = dict(read_dotenv(dotenv)) if dotenv else {}
        source.update(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in source:
                values[f.name] = _convert(name, f.type, source[name])
        settings = cls(**values)
        settings.validate()
        return settings

    def validate_security(self) -> None:
        protocol, mechanism = self.security_protocol.upper(), self.sasl_mechanism.upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"{PREFIX}SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)}, "
                                f"got {self.security_protocol!r}")
        if protocol.startswith("SASL"):
            if mechanism not in SASL_MECHANISMS:
                raise SettingsError(f"{PREFIX}SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)} with "
                                    f"{protocol}, got {self.sasl_mechanism!r}")
            if not self.sasl_username or not self.sasl_password:
                raise SettingsError(f"{PREFIX}SASL_USERNAME and {PREFIX}SASL_PASSWORD are needed with {protocol}")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise SettingsError(f"{PREFIX}SSL_CERTFILE and {PREFIX}SSL_KEYFILE go together (a client certificate "
                                "and its key)")

    def validate(self) -> None:
        if self.partitions < 1:
            raise SettingsError(f"{PREFIX}PARTITIONS must be at least 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise SettingsError(f"{PREFIX}REPLICATION_FACTOR must be at least 1")
        if self.dedupe_window < 1:
            raise SettingsError(f"{PREFIX}DEDUPE_WINDOW must be at least 1")
        if not 1 <= self.reconcile_history <= 10_000:
            raise SettingsError(f"{PREFIX}RECONCILE_HISTORY must be 1 to 10000, got {self.reconcile_history}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise SettingsError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"{PREFIX}LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        if self.session_timeout < 6:
            raise SettingsError(f"{PREFIX}SESSION_TIMEOUT must be at least 6 seconds")
        if self.rocksdb_block_cache_mb < 1 or self.rocksdb_write_buffer_mb < 1:
            raise SettingsError(f"{PREFIX}ROCKSDB_BLOCK_CACHE_MB and {PREFIX}ROCKSDB_WRITE_BUFFER_MB must be at least 1")
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"{PREFIX}WEB_PORT must be a TCP port, got {self.web_port}")
        try:
            self.callers()
        except orjson.JSONDecodeError:
            raise SettingsError(f"{PREFIX}API_TOKENS must be a JSON object of token to scopes") from None
        except TokenError as err:
            raise SettingsError(f"{PREFIX}API_TOKENS: {err}") from None
        self.validate_security()
        if not 1 <= self.request_timeout <= 300:
            raise SettingsError(f"{PREFIX}REQUEST_TIMEOUT must be 1 to 300 seconds, got {self.request_timeout}")
        if self.reservation_retention < 60:
            raise SettingsError(f"{PREFIX}RESERVATION_RETENTION must be at least 60 seconds")
        self._validate_limits()

    def _validate_limits(self) -> None:
        for f in fields(self):
            if f.name.startswith("max_") and getattr(self, f.name) < 1:
                raise SettingsError(f"{PREFIX}{f.name.upper()} must be at least 1")
        if self.max_qty > JSON_SAFE:
            raise SettingsError(f"{PREFIX}MAX_QTY must be at most {JSON_SAFE} (exact in JSON)")
        if self.max_qty * self.max_unit_factor > 2**62:
            raise SettingsError(f"{PREFIX}MAX_QTY times {PREFIX}MAX_UNIT_FACTOR must stay under 2^62 (Avro long)")
        # A position remembers dedupe_window ids and as many answers, and reconcile_history
        # movements (a source and a sequence each): it must fit in a message.
        worst = (2 * self.dedupe_window + self.reconcile_history) * (self.max_id_length + 64) + 4096
        if worst > self.max_message_bytes:
            raise SettingsError(f"{PREFIX}DEDUPE_WINDOW, {PREFIX}RECONCILE_HISTORY and {PREFIX}MAX_ID_LENGTH could make a position record of "
                                f"{worst} bytes, over {PREFIX}MAX_MESSAGE_BYTES ({self.max_message_bytes})")


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    if kind == "Secret":
        return Secret(raw)
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; # comments; optional quotes. Missing file: nothing."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
