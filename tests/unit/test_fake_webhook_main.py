"""`python -m streams.testing.fakes.webhook`: the receiver docker-compose.yml runs for the web
channel's sink. Started as a process on 127.0.0.1, it takes a signed batch, refuses a bad
signature, shows what it holds at GET /stock, and stops on SIGTERM."""

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

import pytest

from agents.sinks.webhook import HEADER, body, signature

SECRET = "compose-demo-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.testing.fakes.webhook", "--host", "127.0.0.1", "--port", str(port),
         "--secret-env", "HOOK_SECRET"],
        env={**os.environ, "HOOK_SECRET": SECRET}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert f"127.0.0.1:{port}/stock" in line, process.stderr.read()
    yield process, f"http://127.0.0.1:{port}/stock"
    if process.poll() is None:
        process.kill()
    process.wait(10)


def post(url: str, payload: bytes, header: str) -> int:
    request = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Content-Type": "application/json", HEADER: header})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_takes_a_signed_batch_refuses_a_forged_one_and_stops_on_sigterm(receiver):
    process, url = receiver
    item = {"sku": "SKU-1", "available": 7, "version": 3, "published_at": 1795680000000}
    payload = body("web", [item])
    assert post(url, payload, signature(SECRET.encode(), payload, int(time.time()))) == 204
    forged = body("web", [{**item, "available": 9999, "version": 4}])
    assert post(url, forged, signature(b"not-the-secret", forged, int(time.time()))) == 401
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert json.load(answer) == {"SKU-1": item}
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0


def test_refuses_to_start_without_its_secret():
    out = subprocess.run([sys.executable, "-m", "streams.testing.fakes.webhook", "--secret-env", "NO_SUCH_SECRET"],
                         env={k: v for k, v in os.environ.items() if k != "NO_SUCH_SECRET"},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "NO_SUCH_SECRET" in out.stderr
