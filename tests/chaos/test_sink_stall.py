"""A sink stalled past its consumer's poll interval and its session timeout while a seeded stream
flows (issue 13): the group expels it, and it must come back by itself. One worker, a webhook
sink with `max_poll_interval_seconds: 8` against the fake receiver. The sink process is frozen
(SIGSTOP) for twice its poll interval, with records produced before, during and after; then
(SIGCONT) it must still run, rejoin its group, and end with the receiver holding exactly the
latest value of every SKU on availability.web, never an older version after a newer, its
group's commits at the topic's end and nothing on its DLQ.

What the first test found: after SIGCONT the sink's loop committed with the generation it was
expelled from, before its heartbeat had noticed; aiokafka raised CommitFailedError
(UnknownMemberIdError) and the sink's process ended with it (3 runs of 4). A refused commit now
counts as nothing committed (agents/sinks/kafka_log.py) and goes again once the consumer has
rejoined (agents/sinks/runner.py).

STOCKSTREAM_CHAOS_EVENTS sets the stream's length (make chaos: 100,000), STOCKSTREAM_CHAOS_RESULTS
a file each fault's results are appended to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from streams.app import topics
from streams.cli import simulate
from streams.cli.kafka import client_config
from streams.testing.deployment import STOCKSTREAM, Deployment, wait_for
from streams.testing.fakes.webhook import FakeWebhook
from tests.chaos.harness import Stream, behind, lag_after, prepare, record_result

EVENTS = int(os.environ.get("STOCKSTREAM_CHAOS_EVENTS", "3000"))
SKUS, LOCATIONS, SEED = 40, 3, 1313
POLL_SECONDS = 8  # the sink's max_poll_interval_seconds; its session timeout is aiokafka's 10 s
STALL_SECONDS = 2 * POLL_SECONDS
CHANNEL = "web"
SECRET = "s3cret"
SINKS = """
sinks:
  hook:
    kind: webhook
    channel: web
    url: {url}
    secret_env: HOOK_SECRET
    batch_size: 5
    rate_per_second: 10
    burst: 5
    timeout_seconds: {timeout}
    max_poll_interval_seconds: {poll}
"""
# One worker applies a few hundred events a second on a busy 2-core machine; the sink then
# needs a few seconds for the SKUs it owes (5 a request, 10 requests a second).
ENGINE_SECONDS = 60 + EVENTS / 200
STREAM_SECONDS = 120 + EVENTS / 50  # producing a stream's part (batches of 100) on a busy machine
RECOVERY_SECONDS = 60 + EVENTS / 500


class Sink:
    """`stockstream sink run hook` as its own process, as an operator runs it."""

    def __init__(self, deployment: Deployment, root: Path, url: str, timeout: float = 10) -> None:
        self.deployment = deployment
        config = root / "sinks.yaml"
        config.write_text(SINKS.format(url=url, timeout=timeout, poll=POLL_SECONDS))
        self.log = root / "sink-hook.log"
        self.group = deployment.settings.topic("stockstream-sink-hook")
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [STOCKSTREAM, "sink", "run", "hook", "--config", str(config), "--log-format", "text"],
                env={**deployment.env, "HOOK_SECRET": SECRET}, stdout=out, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.process.poll() is None

    def members(self) -> tuple[str, list[str]]:
        """The sink group's state and its members' ids."""
        admin = AdminClient(client_config(self.deployment.settings))
        group = admin.describe_consumer_groups([self.group])[self.group].result(15)
        return str(group.state).rsplit(".", 1)[-1].upper(), [m.member_id for m in group.members]

    def behind(self) -> dict[str, tuple[int, int]]:
        """"topic[partition]" -> (committed, end) where the sink group has not committed every record."""
        return behind(self.deployment, (topics.CHANNEL_PREFIX + CHANNEL,), group=self.group)

    def lines(self, *words: str) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if any(word in line for word in words)]

    def stop(self) -> int | None:
        if self.running():
            self.process.send_signal(signal.SIGCONT)  # a test that failed mid-stall
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


class Expected:
    """The latest value per SKU on availability.web, read again only when the topic grew."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment, self.end, self.values = deployment, -1, {}

    def __call__(self) -> dict[str, tuple[int, int]]:
        end = self.deployment.end_offsets(topics.CHANNEL_PREFIX + CHANNEL)
        if end != self.end:
            self.end, self.values = end, self.deployment.latest(topics.CHANNEL_PREFIX + CHANNEL)
        return self.values


def settle(deployment: Deployment, sink: Sink, hook: FakeWebhook, since: float) -> dict[str, Any]:
    """Waits until the engine has applied and committed the stream, the receiver holds the
    latest value of every SKU and the sink group's lag is 0; when each happened after `since`."""
    engine_left = lag_after(deployment, ENGINE_SECONDS)
    assert not engine_left, f"the worker did not apply the stream in {ENGINE_SECONDS}s: {engine_left}"
    engine = time.monotonic()
    expected = Expected(deployment)
    matched: dict[str, float] = {}

    def done() -> bool:
        assert sink.running(), f"the sink exited ({sink.process.returncode}):\n{tail(sink)}"
        if hook.values() != expected():
            matched.pop("receiver", None)
            return False
        matched.setdefault("receiver", time.monotonic())
        return not sink.behind()
    try:
        wait_for(done, RECOVERY_SECONDS, "the receiver holding the latest of every SKU, sink lag 0", interval=0.2)
    except AssertionError:
        missing = {s: (v, hook.values().get(s)) for s, v in expected().items() if hook.values().get(s) != v}
        raise AssertionError(f"differences (expected, received): {dict(list(missing.items())[:10])}; "
                             f"{len(missing)} SKUs differ; sink behind: {sink.behind()}; "
                             f"group: {sink.members()}\n{tail(sink)}") from None
    now = time.monotonic()
    return {"seconds_to_engine_lag_0": round(engine - since, 1),
            "seconds_to_receiver_match": round(matched["receiver"] - since, 1),
            "seconds_to_receiver_match_and_lag_0": round(now - since, 1), "skus": len(expected())}


def tail(sink: Sink, lines: int = 40) -> str:
    return "\n".join(sink.log.read_text(errors="replace").splitlines()[-lines:])


def check_clean(deployment: Deployment, sink: Sink, hook: FakeWebhook) -> dict[str, Any]:
    dead = deployment.end_offsets(topics.sink_dlq("hook").name)
    assert hook.older_after_newer == 0, f"{hook.older_after_newer} older versions after newer ones"
    assert hook.bad_signatures == 0
    assert dead == 0, f"{dead} records on the sink's DLQ"
    # aiokafka logs the expulsion itself at ERROR ("Heartbeat session expired", "OffsetCommit
    # failed ... will rejoin"): expected here. A traceback or an error of ours is not.
    crashes = [line for line in sink.lines("Traceback", "[ERROR]", "[CRITICAL]") if "aiokafka." not in line]
    return {"older_after_newer": hook.older_after_newer, "sink_dead_letters": dead,
            "sink_error_lines": crashes[:5],
            "aiokafka_error_lines": [short(line) for line in sink.lines("[ERROR]") if "aiokafka." in line][:5]}


def short(line: str) -> str:
    """A log line (--log-format text) without its date and pid, cut to 200 characters."""
    parts = line.split("] ", 3)
    if len(parts) != 4:
        return line[:200]
    return f"{parts[0].rpartition(' ')[2]} {parts[2].lstrip('[')} {parts[3]}"[:200]


@pytest.fixture
def stage(deployment, tmp_path):
    prepare(deployment, tmp_path, SKUS)
    deployment.worker()
    hook = FakeWebhook(SECRET.encode()).start()
    sinks: list[Sink] = []
    yield deployment, hook, sinks
    for sink in sinks:
        sink.stop()
    hook.stop()


def test_a_sink_frozen_past_its_poll_interval_and_session_rejoins_and_loses_nothing(stage, tmp_path):
    """SIGSTOP the sink for twice its poll interval (and past aiokafka's 10 s session timeout)
    while the stream flows, then SIGCONT."""
    deployment, hook, sinks = stage
    started = time.monotonic()
    sink = Sink(deployment, tmp_path, hook.url)
    sinks.append(sink)
    wait_for(lambda: sink.members()[0] == "STABLE", 60, "the sink in its group")
    _, before = sink.members()
    records = list(simulate.events(seed=SEED, count=EVENTS, skus=SKUS, locations=LOCATIONS))
    stream = Stream(deployment, records, marks=[EVENTS // 3, 2 * EVENTS // 3])
    stream.start()
    mark = stream.fault_at(STREAM_SECONDS)
    wait_for(lambda: hook.values(), 60, "the receiver's first values")  # the sink at work when frozen
    produced = deployment.end_offsets(topics.EVENTS)
    sink.process.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    stream.go_on()  # the middle third flows while the sink is frozen
    time.sleep(1)
    requests_before = len(hook.requests)  # (one sent just before the SIGSTOP has landed by now)
    time.sleep(max(0.0, stopped_at + STALL_SECONDS - time.monotonic()))
    assert len(hook.requests) == requests_before, "a frozen sink sent requests"
    sink.process.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    stalled = round(resumed - stopped_at, 1)
    while_frozen = deployment.end_offsets(topics.EVENTS) - produced

    def rejoined() -> bool:
        assert sink.running(), f"the sink exited ({sink.process.returncode}):\n{tail(sink)}"
        state, members = sink.members()
        return state == "STABLE" and len(members) == 1 and members != before
    wait_for(rejoined, RECOVERY_SECONDS, "the sink back in its group as a new member", interval=0.2)
    to_rejoin = round(time.monotonic() - resumed, 1)
    stream.fault_at(STREAM_SECONDS)  # a short stream waits here from during the stall
    stream.go_on()  # the last third after the resume
    stream.finish(STREAM_SECONDS * 2)
    times = settle(deployment, sink, hook, resumed)
    clean = check_clean(deployment, sink, hook)
    result = {
        "fault": "a sink stalled past its consumer's poll interval (SIGSTOP, webhook sink, 1 worker)",
        "events": EVENTS,
        "injected": [(f"SIGSTOP the sink for {stalled}s after {mark} events "
                      f"(max_poll_interval_seconds {POLL_SECONDS}, session timeout 10 s), "
                      f"{while_frozen} events produced meanwhile; SIGCONT, then the rest")],
        "expelled_member": before, "seconds_resume_to_rejoin": to_rejoin,
        "seconds_resume_to_engine_lag_0": times["seconds_to_engine_lag_0"],  # the rest of the stream
        "seconds_resume_to_receiver_match": times["seconds_to_receiver_match"],
        "seconds_resume_to_receiver_match_and_lag_0": times["seconds_to_receiver_match_and_lag_0"],
        "seconds_engine_lag_0_to_receiver_match_and_lag_0": round(
            times["seconds_to_receiver_match_and_lag_0"] - times["seconds_to_engine_lag_0"], 1),  # the sink's own
        "skus": times["skus"], "webhook_requests": len(hook.requests),
        "commits_refused": len(sink.lines("commit refused")), **clean,  # (the sink ended with the first, before)
        "group_lines": [short(line) for line in sink.lines("Heartbeat failed", "commit refused", "Joined group")][:6],
        "runtime_seconds": round(time.monotonic() - started, 1),
    }
    record_result(result)
    assert sink.running(), f"the sink exited ({sink.process.returncode}):\n{tail(sink)}"
    assert not clean["sink_error_lines"], clean["sink_error_lines"]
