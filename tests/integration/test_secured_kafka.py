"""Kafka secured as production runs it: SASL/SCRAM over TLS, client certificates required.

The test makes its own CA, broker and client certificates (openssl), starts a second local
broker with a SASL_SSL listener (scripts/kafka-local), creates the SCRAM users through its
plaintext listener, and runs the CLI, a worker and a sink through the secured one. A wrong
password, a missing client certificate and a CA the broker's certificate does not chain to each
stop the CLI and the worker at once, with a message that names what to check."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

from streams.app import topics
from streams.cli.kafka import client_config
from streams.testing.clients import apply_policies
from streams.testing.deployment import STOCKSTREAM, Deployment, wait_for
from tests.integration.test_webhook_sink import receipt

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka-local"
PLAIN_PORT, SECURE_PORT = 9392, 9394
PASSWORD = "scram-pass-8c41e0"
USERS = {"SCRAM-SHA-512": ("svc-stockstream", ScramMechanism.SCRAM_SHA_512),
         "SCRAM-SHA-256": ("svc-stockstream-256", ScramMechanism.SCRAM_SHA_256)}


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """A CA; the broker's certificate for 127.0.0.1 (its key and chain in broker.pem, as
    Kafka's PEM keystore wants them); a client certificate; and a CA nobody uses."""
    directory.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=stockstream test {ca}", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, extra in (("broker", ["-extfile", "san.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=directory)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", *extra, cwd=directory)
    (directory / "broker.pem").write_text((directory / "broker.key").read_text() + (directory / "broker.crt").read_text())


def kafka_local(action: str, tls: Path) -> None:
    env = {**os.environ, "KAFKA_PORT": str(PLAIN_PORT), "KAFKA_SASL_SSL_PORT": str(SECURE_PORT),
           "KAFKA_TLS_DIR": str(tls)}
    done = subprocess.run([str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"kafka-local {action}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def tls(broker, tmp_path_factory) -> Path:
    """The secured broker, running for this module's tests; its data goes with it."""
    directory = tmp_path_factory.mktemp("tls")
    make_certificates(directory)
    kafka_local("up", directory)
    try:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{PLAIN_PORT}"})
        upserts = [UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, 4096), PASSWORD.encode())
                   for user, mechanism in USERS.values()]
        for future in admin.alter_user_scram_credentials(upserts).values():
            future.result(30)
        yield directory
    finally:
        kafka_local("reset", directory)


def secured(tls: Path, mechanism: str = "SCRAM-SHA-512", **changes: str) -> dict[str, str]:
    env = {"STOCKSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{SECURE_PORT}",
           "STOCKSTREAM_SECURITY_PROTOCOL": "SASL_SSL",
           "STOCKSTREAM_SASL_MECHANISM": mechanism,
           "STOCKSTREAM_SASL_USERNAME": USERS[mechanism][0],
           "STOCKSTREAM_SASL_PASSWORD": PASSWORD,
           "STOCKSTREAM_SSL_CAFILE": str(tls / "ca.pem"),
           "STOCKSTREAM_SSL_CERTFILE": str(tls / "client.crt"),
           "STOCKSTREAM_SSL_KEYFILE": str(tls / "client.key")}
    return {**env, **{f"STOCKSTREAM_{k.upper()}": v for k, v in changes.items()}}


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([STOCKSTREAM, *args], env={**os.environ, "STOCKSTREAM_TOPIC_PREFIX": "sec.", **env},
                          input=stdin, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mechanism", sorted(USERS))
def test_the_cli_creates_produces_and_consumes_through_scram_over_tls(tls, mechanism):
    env = secured(tls, mechanism)
    assert cli(env, "topics", "create").returncode == 0
    line = '{"event_id": "sec-%s", "type": "Receipt", "sku": "SEC-1", "location": "WH1", "qty": 3, ' \
           '"source": "wms", "occurred_at": "2026-11-26T10:00:00Z"}' % mechanism
    sent = cli(env, "produce", "-", stdin=line + "\n")
    assert sent.returncode == 0, sent.stderr
    read = cli(env, "consume", "inventory.events", "--from-beginning", "--idle-timeout", "5")
    assert read.returncode == 0, read.stderr
    assert f'"sec-{mechanism}"' in read.stdout


def test_a_worker_and_a_sink_run_through_it_with_static_membership(tls, tmp_path):
    deployment = Deployment(tmp_path, partitions=2, env=secured(tls, group_instance_id="stockstream-0"))
    try:
        apply_policies(deployment, tmp_path, "channels:\n  edi:\n    locations: [WH1]\n    publish_interval: 0.2\n")
        worker = deployment.worker()
        deployment.produce([receipt(1, "SEC-1", 7)])
        wait_for(lambda: (worker.position("SEC-1", "WH1") or {}).get("on_hand") == 7, 60, "the receipt applied")

        admin = AdminClient(client_config(deployment.settings))  # kept: its futures die with it
        group = admin.describe_consumer_groups([deployment.settings.app_id])[deployment.settings.app_id].result(30)
        assert [m.group_instance_id for m in group.members] == ["stockstream-0"]

        wait_for(lambda: "SEC-1" in deployment.latest(topics.CHANNEL_PREFIX + "edi"), 60, "the channel's delta")
        (tmp_path / "sinks.yaml").write_text(
            "sinks:\n  retailer:\n    kind: edi846\n    channel: edi\n    directory: out\n"
            "    sender_id: STOCKSTREAM\n    receiver_id: RETAILER1\n    every_seconds: 1\n    items: {SEC-1: P1}\n")
        done = subprocess.run([STOCKSTREAM, "sink", "run", "retailer", "--config", str(tmp_path / "sinks.yaml"),
                               "--once"], env=deployment.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        files = list((tmp_path / "out").glob("846-*.x12"))
        assert files and "LIN**IN*P1*SK*SEC-1" in files[0].read_text()
        assert PASSWORD not in worker.log.read_text() + done.stdout + done.stderr
    finally:
        deployment.close()


def refused(tls: Path, tmp_path: Path, **changes: str) -> tuple[str, str]:
    """What the CLI and a worker say, each, when the broker refuses them; both stop at once."""
    env = secured(tls, **changes)
    said = cli(env, "topics", "create")
    assert said.returncode == 2, said.stdout + said.stderr
    worker = subprocess.run([STOCKSTREAM, "worker"], env={**os.environ, **env, "STOCKSTREAM_TOPIC_PREFIX": "sec.",
                                                          "STOCKSTREAM_DATA_DIR": str(tmp_path / "data")},
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert worker.returncode == 2, worker.stdout[-2000:] + worker.stderr[-2000:]
    return said.stderr, worker.stderr


def test_a_wrong_password_is_named_and_never_printed(tls, tmp_path):
    for said in refused(tls, tmp_path, sasl_password="not-the-password"):
        assert "refused the credentials" in said and "STOCKSTREAM_SASL_PASSWORD" in said, said
        assert "not-the-password" not in said and PASSWORD not in said
        assert "Traceback" not in said


def test_a_missing_client_certificate_is_named(tls, tmp_path):
    for said in refused(tls, tmp_path, ssl_certfile="", ssl_keyfile=""):
        assert "client certificate" in said and "STOCKSTREAM_SSL_CERTFILE" in said, said


def test_a_ca_the_broker_does_not_chain_to_is_named(tls, tmp_path):
    for said in refused(tls, tmp_path, ssl_cafile=str(tls / "other-ca.pem")):
        assert "TLS handshake" in said and "STOCKSTREAM_SSL_CAFILE" in said, said
