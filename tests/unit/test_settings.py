"""Typed settings from STOCKSTREAM_* variables and .env (streams/app/settings.py)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from streams.app.settings import Secret, Settings, SettingsError, read_dotenv

PASSWORD = "hunter2-very-secret"
TOKENS = '{"tok-abc-123": ["read", "reserve"]}'


def load(dotenv=None, **env) -> Settings:
    return Settings.from_env(env={f"STOCKSTREAM_{k.upper()}": v for k, v in env.items()}, dotenv=dotenv)


def test_defaults():
    s = load()
    assert s == Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.topic_prefix == ""
    assert s.partitions == 8 and s.replication_factor == 1
    assert s.web_port == 6066 and s.web_bind == "127.0.0.1" and s.web_host == "127.0.0.1"
    assert s.data_dir == "./.stockstream"
    assert s.schema_registry_url == ""
    assert s.strict_catalog is False
    assert s.dedupe_window == 200
    assert s.log_level == "info"
    assert s.session_timeout == 30
    assert s.group_instance_id == ""
    assert (s.rocksdb_block_cache_mb, s.rocksdb_write_buffer_mb) == (8, 4)
    assert s.security_protocol == "PLAINTEXT"
    assert s.sasl_mechanism == "" and s.sasl_username == "" and s.ssl_cafile == ""
    assert s.sasl_password == Secret("") and not s.sasl_password
    assert s.callers() == {} and s.request_timeout == 10 and s.reservation_retention == 7 * 24 * 3600
    assert s.app_id == "stockstream"


def test_other_variables_are_ignored():
    assert Settings.from_env(env={"PARTITIONS": "3", "STOCKSTREAM_NOPE": "x", "stockstream_partitions": "2"},
                             dotenv=None) == Settings()


ALL = {
    "kafka_bootstrap": ("broker-1:9093,broker-2:9093", "broker-1:9093,broker-2:9093"),
    "topic_prefix": ("staging.", "staging."),
    "partitions": ("12", 12),
    "replication_factor": ("3", 3),
    "web_port": ("8080", 8080),
    "web_bind": ("0.0.0.0", "0.0.0.0"),
    "web_host": ("worker-3.internal", "worker-3.internal"),
    "data_dir": ("/var/lib/stockstream", "/var/lib/stockstream"),
    "schema_registry_url": ("http://registry:8081", "http://registry:8081"),
    "strict_catalog": ("true", True),
    "dedupe_window": ("1000", 1000),
    "reconcile_history": ("500", 500),
    "log_level": ("debug", "debug"),
    "log_format": ("text", "text"),
    "session_timeout": ("6", 6),
    "group_instance_id": ("stockstream-2", "stockstream-2"),
    "rocksdb_block_cache_mb": ("64", 64),
    "rocksdb_write_buffer_mb": ("16", 16),
    "security_protocol": ("SASL_SSL", "SASL_SSL"),
    "sasl_mechanism": ("SCRAM-SHA-512", "SCRAM-SHA-512"),
    "sasl_username": ("svc-stockstream", "svc-stockstream"),
    "sasl_password": (PASSWORD, Secret(PASSWORD)),
    "ssl_cafile": ("/etc/ssl/ca.pem", "/etc/ssl/ca.pem"),
    "ssl_certfile": ("/etc/ssl/client.pem", "/etc/ssl/client.pem"),
    "ssl_keyfile": ("/etc/ssl/client.key", "/etc/ssl/client.key"),
    "api_tokens": (TOKENS, Secret(TOKENS)),
    "protect_reads": ("yes", True),
    "internal_token": ("inside-job", Secret("inside-job")),
    "request_timeout": ("5", 5),
    "reservation_retention": ("3600", 3600),
    "max_name_length": ("64", 64),
    "max_id_length": ("100", 100),
    "max_text_length": ("256", 256),
    "max_qty": ("1000000", 1_000_000),
    "max_unit_factor": ("1000", 1000),
    "max_units_per_item": ("8", 8),
    "max_kit_components": ("10", 10),
    "max_kit_depth": ("2", 2),
    "max_policy_entries": ("500", 500),
    "max_body_bytes": ("4096", 4096),
    "max_message_bytes": ("2000000", 2_000_000),
}


def test_every_field_is_covered_here():
    assert set(ALL) == {f.name for f in fields(Settings)}


def test_every_variable_is_read_and_converted():
    s = load(**{name: raw for name, (raw, _) in ALL.items()})
    for name, (_, want) in ALL.items():
        got = getattr(s, name)
        assert got == want, name
        assert type(got) is type(want), name
    assert s.sasl_password.get() == PASSWORD
    callers = s.callers()
    assert list(callers) == ["tok-abc-123"] and callers["tok-abc-123"].scopes == {"read", "reserve"}
    assert s.internal_credential() == "inside-job"


@pytest.mark.parametrize("raw, want", [
    ("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True),
    ("0", False), ("false", False), ("No", False), ("off", False), ("", False),
])
def test_booleans(raw, want):
    assert load(strict_catalog=raw).strict_catalog is want


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "y"])
def test_bad_boolean_names_the_variable(raw):
    with pytest.raises(SettingsError) as info:
        load(strict_catalog=raw)
    assert "STOCKSTREAM_STRICT_CATALOG" in str(info.value) and repr(raw) in str(info.value)


@pytest.mark.parametrize("name", ["partitions", "replication_factor", "web_port", "dedupe_window", "session_timeout"])
@pytest.mark.parametrize("raw", ["eight", "8.0", "", "0x10"])
def test_bad_integer_names_the_variable(name, raw):
    with pytest.raises(SettingsError) as info:
        load(**{name: raw})
    assert f"STOCKSTREAM_{name.upper()}" in str(info.value)
    assert "whole number" in str(info.value)


@pytest.mark.parametrize("name, raw", [
    ("partitions", "0"), ("partitions", "-1"),
    ("replication_factor", "0"),
    ("dedupe_window", "0"),
    ("reconcile_history", "0"), ("reconcile_history", "10001"),
    ("session_timeout", "5"),
    ("rocksdb_block_cache_mb", "0"), ("rocksdb_write_buffer_mb", "0"),
    ("web_port", "0"), ("web_port", "65536"),
])
def test_out_of_range_names_the_variable(name, raw):
    with pytest.raises(SettingsError) as info:
        load(**{name: raw})
    assert f"STOCKSTREAM_{name.upper()}" in str(info.value)


@pytest.mark.parametrize("raw", ["verbose", "", "10"])
def test_bad_log_level_names_the_variable(raw):
    with pytest.raises(SettingsError, match="STOCKSTREAM_LOG_LEVEL"):
        load(log_level=raw)


@pytest.mark.parametrize("raw", ["JSON", "", "logfmt"])
def test_a_log_format_other_than_json_or_text_names_the_variable(raw):
    with pytest.raises(SettingsError, match="STOCKSTREAM_LOG_FORMAT must be one of json, text"):
        load(log_format=raw)


def test_logs_are_json_lines_unless_asked_otherwise():
    assert Settings().log_format == "json"


@pytest.mark.parametrize("raw", ["debug", "INFO", "Warning", "critical"])
def test_log_levels_in_any_case(raw):
    assert load(log_level=raw).log_level == raw


def test_limits_themselves_are_accepted():
    s = load(partitions="1", session_timeout="6", web_port="65535", dedupe_window="1", replication_factor="1")
    assert (s.partitions, s.session_timeout, s.web_port) == (1, 6, 65535)


@pytest.mark.parametrize("raw", ["{not json", '["read"]', '{"tok": "read"}', '"tok"', "",
                                 '{"tok": {"client": "a b", "scopes": []}}'])
def test_bad_api_tokens_name_the_variable_without_showing_them(raw):
    with pytest.raises(SettingsError) as info:
        load(api_tokens=raw)
    assert "STOCKSTREAM_API_TOKENS" in str(info.value)
    if raw:
        assert raw not in str(info.value)


def test_secrets_never_show():
    s = load(sasl_password=PASSWORD, api_tokens=TOKENS, sasl_username="svc-user")
    for shown in (repr(s), str(s), f"{s}", repr(s.sasl_password), str(s.api_tokens)):
        assert PASSWORD not in shown
        assert "tok-abc-123" not in shown
    assert "svc-user" in repr(s)  # not a secret
    assert "Secret('***')" in repr(s)
    assert repr(Secret("")) == "Secret('')"


def test_secret_equality_and_hash():
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b") and Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    assert bool(Secret("x")) and not Secret("")


def test_prefix_applies_to_topics_and_app_id():
    s = load(topic_prefix="staging.")
    assert s.topic("inventory.events") == "staging.inventory.events"
    assert s.app_id == "staging.stockstream"
    assert Settings().topic("inventory.events") == "inventory.events"


# --- .env --------------------------------------------------------------------------------------


DOTENV = """\
# stockstream settings
STOCKSTREAM_PARTITIONS=4

   # indented comment
export STOCKSTREAM_TOPIC_PREFIX=dev.
STOCKSTREAM_KAFKA_BOOTSTRAP = "kafka:29092"
STOCKSTREAM_SASL_PASSWORD='pa ss=word'
STOCKSTREAM_STRICT_CATALOG=yes
STOCKSTREAM_WEB_HOST="worker-1'
this line has no equals sign
STOCKSTREAM_WEB_BIND=
"""


def test_dotenv_is_read(tmp_path):
    path = tmp_path / ".env"
    path.write_text(DOTENV)
    assert read_dotenv(path) == {
        "STOCKSTREAM_PARTITIONS": "4",
        "STOCKSTREAM_TOPIC_PREFIX": "dev.",
        "STOCKSTREAM_KAFKA_BOOTSTRAP": "kafka:29092",
        "STOCKSTREAM_SASL_PASSWORD": "pa ss=word",
        "STOCKSTREAM_STRICT_CATALOG": "yes",
        "STOCKSTREAM_WEB_HOST": "\"worker-1'",  # mismatched quotes are kept
        "STOCKSTREAM_WEB_BIND": "",
    }
    s = Settings.from_env(env={}, dotenv=path)
    assert s.partitions == 4
    assert s.topic("inventory.events") == "dev.inventory.events"
    assert s.kafka_bootstrap == "kafka:29092"
    assert s.sasl_password.get() == "pa ss=word"
    assert s.strict_catalog is True


def test_environment_wins_over_dotenv(tmp_path):
    path = tmp_path / ".env"
    path.write_text(DOTENV)
    s = Settings.from_env(env={"STOCKSTREAM_PARTITIONS": "16", "STOCKSTREAM_TOPIC_PREFIX": ""}, dotenv=path)
    assert s.partitions == 16
    assert s.topic_prefix == ""
    assert s.kafka_bootstrap == "kafka:29092"  # from .env, not overridden


def test_bad_value_in_dotenv_names_the_variable(tmp_path):
    path = tmp_path / ".env"
    path.write_text("STOCKSTREAM_SESSION_TIMEOUT=soon\n")
    with pytest.raises(SettingsError, match="STOCKSTREAM_SESSION_TIMEOUT"):
        Settings.from_env(env={}, dotenv=path)


def test_missing_dotenv_is_nothing(tmp_path):
    assert read_dotenv(tmp_path / "absent.env") == {}
    assert Settings.from_env(env={}, dotenv=tmp_path / "absent.env") == Settings()


def test_default_reads_environment_and_dotenv_in_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("STOCKSTREAM_PARTITIONS=3\nSTOCKSTREAM_LOG_LEVEL=warning\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STOCKSTREAM_LOG_LEVEL", "error")
    monkeypatch.delenv("STOCKSTREAM_PARTITIONS", raising=False)
    s = Settings.from_env()
    assert s.partitions == 3
    assert s.log_level == "error"


def test_limits_come_from_settings_and_stay_consistent():
    s = load(max_qty="500", max_kit_depth="2")
    assert (s.limits().qty, s.limits().kit_depth, s.limits().name_length) == (500, 2, 128)
    for bad, says in [({"max_qty": "0"}, "MAX_QTY"), ({"max_qty": str(2**53)}, "MAX_QTY"),
                      ({"max_qty": str(2**40), "max_unit_factor": str(2**30)}, "MAX_UNIT_FACTOR"),
                      ({"dedupe_window": "100000"}, "MAX_MESSAGE_BYTES")]:
        with pytest.raises(SettingsError) as info:
            load(**bad)
        assert says in str(info.value)


@pytest.mark.parametrize("env, named", [
    ({"security_protocol": "SASL_TLS"}, "SECURITY_PROTOCOL"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u", "sasl_password": "p"},
     "SASL_MECHANISM"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u"}, "SASL_PASSWORD"),
    ({"ssl_certfile": "/etc/ssl/client.pem"}, "SSL_KEYFILE"),
])
def test_kafka_security_settings_that_cannot_work_are_named(env, named):
    with pytest.raises(SettingsError) as err:
        load(**env)
    assert named in str(err.value)


def test_the_tls_context_loads_our_certificate_and_names_a_file_it_cannot_read(tmp_path):
    import subprocess

    from streams.app.security import ssl_context

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem"), "-subj", "/CN=stockstream-test", "-days", "1"],
                   check=True, capture_output=True)
    good = load(security_protocol="SSL", ssl_cafile=str(tmp_path / "c.pem"), ssl_certfile=str(tmp_path / "c.pem"),
                ssl_keyfile=str(tmp_path / "k.pem"))
    assert ssl_context(good) is not None
    assert ssl_context(load()) is None  # PLAINTEXT
    missing = load(security_protocol="SSL", ssl_certfile=str(tmp_path / "nope.pem"), ssl_keyfile=str(tmp_path / "k.pem"))
    with pytest.raises(SettingsError) as err:
        ssl_context(missing)
    assert "SSL_CERTFILE" in str(err.value)


def test_every_kafka_client_gets_the_client_certificate():
    from streams.app.security import client_options
    from streams.cli.kafka import client_config

    s = load(security_protocol="SASL_PLAINTEXT", sasl_mechanism="scram-sha-256", sasl_username="u", sasl_password="p",
             ssl_certfile="/etc/ssl/c.pem", ssl_keyfile="/etc/ssl/k.pem")
    config = client_config(s)
    assert config["ssl.certificate.location"] == "/etc/ssl/c.pem" and config["ssl.key.location"] == "/etc/ssl/k.pem"
    assert config["sasl.mechanism"] == "SCRAM-SHA-256" and config["sasl.password"] == "p"
    options = client_options(s)
    assert options["sasl_mechanism"] == "SCRAM-SHA-256" and options["sasl_plain_password"] == "p"
