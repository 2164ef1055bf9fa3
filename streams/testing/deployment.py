"""A real deployment on the real broker for integration tests: its own topic prefix (so tests
never share state), workers as real `stockstream worker` processes, and clients for the topics
and the HTTP API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.app import topics
from streams.wire.codec import cli_codec
from streams.cli.kafka import client_config, create_topics, encode_lines, send
from streams.app.settings import Settings

STOCKSTREAM = str(Path(sys.executable).with_name("stockstream"))
BOOTSTRAP = os.environ.get("STOCKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def http_get(port: int, path: str) -> tuple[int, Any]:
    """(status, body): JSON bodies parsed, others as text; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, _body(response.read())
    except urllib.error.HTTPError as err:
        return err.code, _body(err.read())
    except OSError as err:
        return 0, str(err)


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


class Worker:
    def __init__(self, deployment: Deployment, name: str, disk: str | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.log = deployment.root / f"{name}.log"
        self.env = {
            **deployment.env,
            "STOCKSTREAM_WEB_PORT": str(self.port),
            "STOCKSTREAM_DATA_DIR": str(deployment.root / f"{disk or name}-data"),
        }
        self.process: subprocess.Popen | None = None
        self.terminating = False

    def start(self, wait: bool = True) -> Worker:
        self.terminating = False
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([STOCKSTREAM, "worker"], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.log.parent)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 90) -> None:
        def healthy() -> bool:
            assert self.process and self.process.poll() is None, f"worker {self.name} exited:\n{self.tail()}"
            return http_get(self.port, "/health")[0] == 200
        wait_for(healthy, timeout, f"worker {self.name} healthy")

    def get(self, path: str) -> tuple[int, Any]:
        return http_get(self.port, path)

    def position(self, sku: str, location: str, retry_seconds: float = 30) -> dict[str, Any] | None:
        """The position, None if there is none; a 503 is retried as its Retry-After says."""
        deadline = time.monotonic() + retry_seconds
        while True:
            status, body = self.get(f"/positions/{quote(sku, safe='')}/{quote(location, safe='')}")
            if status != 503 or time.monotonic() >= deadline:
                return body if status == 200 else None
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self) -> None:
        """SIGTERM, once: the worker stops cleanly (stop() waits for it)."""
        if self.process and self.process.poll() is None and not self.terminating:
            self.terminating = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Deployment:
    """One stockstream deployment: a topic prefix of its own on the shared broker."""

    def __init__(self, root: Path, partitions: int = 4, env: dict[str, str] | None = None) -> None:
        """env: settings of this deployment's own (another bootstrap, credentials)."""
        self.root = root
        self.prefix = f"it-{uuid.uuid4().hex[:10]}."
        self.env = {
            **os.environ,
            "STOCKSTREAM_KAFKA_BOOTSTRAP": BOOTSTRAP,
            "STOCKSTREAM_TOPIC_PREFIX": self.prefix,
            "STOCKSTREAM_PARTITIONS": str(partitions),
            "STOCKSTREAM_LOG_LEVEL": "info",
            "STOCKSTREAM_SESSION_TIMEOUT": "6",  # a killed worker's partitions move on quickly
            **(env or {}),
        }
        self.settings = Settings.from_env(env=self.env, dotenv=None)
        self.workers: list[Worker] = []
        assert create_topics(self.settings) == 0

    def worker(self, name: str = "w1", wait: bool = True, disk: str | None = None) -> Worker:
        """Start a worker; disk names another worker's data directory to restart on it."""
        worker = Worker(self, name, disk)
        self.workers.append(worker)
        return worker.start(wait)

    def produce(self, records: Iterable[Any], logical: str = topics.EVENTS) -> None:
        lines = [(i, r if isinstance(r, str) else orjson.dumps(r).decode()) for i, r in enumerate(records, 1)]
        encoded, errors = encode_lines(lines, logical)
        assert not errors, errors
        assert not send(self.settings, self.settings.topic(logical), encoded)

    def produce_raw(self, pairs: Iterable[tuple[bytes | None, bytes | None]], logical: str = topics.EVENTS,
                    headers: list[tuple[str, bytes]] | None = None) -> None:
        from confluent_kafka import Producer

        producer = Producer({**client_config(self.settings), "partitioner": "murmur2_random"})
        for key, value in pairs:
            producer.produce(self.settings.topic(logical), key=key, value=value, headers=headers)
        assert producer.flush(30) == 0

    def read(self, logical: str) -> list[Any]:
        """Every record now on the topic: decoded values, or raw messages for untyped topics."""
        topic = self.settings.topic(logical)
        spec = topics.spec(logical)
        consumer = Consumer({**client_config(self.settings), "group.id": f"it-{uuid.uuid4()}",
                             "enable.auto.commit": False})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            wanted = {p for p, end in ends.items() if end > 0}
            consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
            out = []
            deadline = time.monotonic() + 30
            while wanted and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                out.append(cli_codec().decode(spec.record, message.value()) if spec.record else message)
                if message.offset() + 1 >= ends[message.partition()]:
                    wanted.discard(message.partition())
            assert not wanted, f"could not read {topic} to its end"
            return out
        finally:
            consumer.close()

    def latest(self, logical: str) -> dict[str, tuple[int, int]]:
        """Per SKU on a delta topic (availability.<channel>): the highest version and its value."""
        out: dict[str, tuple[int, int]] = {}
        for delta in self.read(logical):
            if delta["version"] >= out.get(delta["sku"], (0, 0))[0]:
                out[delta["sku"]] = (delta["version"], delta["available"])
        return out

    def end_offsets(self, logical: str) -> int:
        topic = self.settings.topic(logical)
        consumer = Consumer({**client_config(self.settings), "group.id": f"it-{uuid.uuid4()}"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
        finally:
            consumer.close()

    def close(self) -> None:
        for worker in self.workers:  # all told at once: each takes about a second to stop
            worker.terminate()
        for worker in self.workers:
            worker.stop()
        self.delete_topics()

    def delete_topics(self) -> None:
        """Every topic of this deployment's prefix goes: a broker that keeps thousands of a
        suite's topics makes every client's metadata request slower."""

        admin = AdminClient(client_config(self.settings))
        try:
            names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(self.prefix)]
            for future in admin.delete_topics(names, operation_timeout=10).values() if names else ():
                future.result(15)
        except Exception as err:  # noqa: BLE001 - a broker a chaos test left stopped keeps them
            print(f"topics of {self.prefix} left on the broker: {err}")


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its parent has not reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class LocalBroker:
    """The broker scripts/kafka-local runs (the one `make test` and CI start), paused or
    stopped by chaos tests. Its pid is in the script's pid file."""

    SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka-local"

    def __init__(self) -> None:
        self.port = BOOTSTRAP.rpartition(":")[2]
        home = Path(os.environ.get("KAFKA_LOCAL_DIR", self.SCRIPT.parent.parent / ".kafka"))
        self.pidfile = home / f"kafka-{self.port}.pid"

    def pid(self) -> int:
        assert self.pidfile.is_file(), f"no broker started by scripts/kafka-local on port {self.port} ({self.pidfile})"
        return int(self.pidfile.read_text())

    def pause(self, seconds: float) -> None:
        """Freeze the broker (connections hang, nothing is refused) for a while."""
        pid = self.pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    def _script(self, action: str) -> None:
        done = subprocess.run([str(self.SCRIPT), action], env={**os.environ, "KAFKA_PORT": self.port},
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr

    def stop(self) -> None:
        self.pid()
        self._script("down")

    def kill(self) -> None:
        """SIGKILL: no flush, no controlled shutdown; its data stays for the restart."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _gone(pid), 30, "the broker gone", interval=0.1)

    def start(self) -> None:
        self._script("up")
