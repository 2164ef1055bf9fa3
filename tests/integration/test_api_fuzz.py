"""Schemathesis against the OpenAPI document a live worker serves (issue 8, point 6).

One real worker on the real broker, set up as the reservation tests do (tokens, a channel
policy, stock of SKU-R at DC1 and DC2). Every operation of GET /openapi.json is fuzzed with
generated requests, positive (what the document allows) and negative (what it forbids), each
sent with a valid `reserve` token; then reservation requests steered past validation (so they
reach the engine's decision, with hostile quantities and names), each read and released; then
chosen requests: the stock that exists (so the 200/201/409 bodies are checked too, not only the
404s that random names get), other credentials, and names with '/', '@', '{', spaces, over-long.

The checks: no 5xx ever, every status code is one the document lists for the operation, the
content type is the documented one, the body matches the documented schema, documented
response headers conform. Examples are bounded and derandomized (the same requests every run);
every failing check is collected, not shrunk, and the test fails listing each distinct one
with its operation, the request (as curl) and the response.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.transport.serialization import quote_all
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from streams.testing.clients import ADMIN, READER, TOKEN, post, reserve, setup
from streams.testing.deployment import wait_for

pytestmark = pytest.mark.integration

EXAMPLES = 60  # per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: nothing to shrink
    suppress_health_check=list(HealthCheck),
)


NAME = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_characters="@"), min_size=1, max_size=12)
REQUEST_BODY = st.fixed_dictionaries(
    {
        "reservation_id": st.one_of(st.integers(0, 10**6).map(lambda n: f"steer-{n}"), NAME),
        "sku": st.one_of(st.sampled_from(["SKU-R", "SKU-R", "SKU-NONE", "A/B", "A@B", "é"]), NAME),
        "qty": st.one_of(st.integers(1, 30), st.integers(1, 30), st.integers(1, 10**12),
                         st.sampled_from([10**12, 10**12 + 1, 2**53, 2**63, 2**64, 0, -1])),
        "channel": st.sampled_from(["web", "web", "web", "web", "web", "nope"]),
        "order_id": NAME,
    },
    optional={
        "location": st.one_of(st.sampled_from(["DC1", "DC2", "DC9"]), NAME),
        "ttl_seconds": st.one_of(st.integers(1, 2_592_000), st.sampled_from([2_592_001, 2**63])),
        "allow_partial": st.booleans(),
    },
)


class Findings:
    """Each distinct failure once (operation, status and failed checks), with its first example."""

    def __init__(self) -> None:
        self.seen: dict[tuple, list[Any]] = {}
        self.calls = 0
        self.statuses: dict[str, Counter] = {}  # operation -> status -> count, for the summary

    def run(self, label: str, case: schemathesis.Case, base_url: str, session: requests.Session,
            mode: str = "known", headers: dict[str, str] | None = None) -> None:
        self.calls += 1
        headers = AUTH if headers is None else headers
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        except Exception as err:  # the request itself failed (worker died, timeout, reset)
            self._add((label, type(err).__name__), f"{label} [{mode}] {type(err).__name__}: {case.formatted_path}",
                      f"{label} [{mode}]\n{type(err).__name__}: {err}\n{_curl(case, base_url, headers)}")
            return
        self.statuses.setdefault(f"{label} [{mode}]", Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers,
                                   transport_kwargs={"base_url": base_url, "session": session, "headers": headers})
        except BaseExceptionGroup as group:  # schemathesis' FailureGroup: the checks that failed
            titles = tuple(sorted({f"{type(f).__name__}: {getattr(f, 'title', f)}" for f in group.exceptions}))
            # Generated requests: one entry per kind of failure; chosen ones: one per request.
            where = case.formatted_path + str(sorted((case.query or {}).items())) if mode == "known" else None
            checks = ", ".join(sorted({str(getattr(f, "title", f)) for f in group.exceptions}))
            query = f"?{case.query}" if case.query else ""
            self._add((label, response.status_code, titles, where),
                      f"{label} [{mode}] -> {response.status_code} {_content_type(response)}: "
                      f"{checks}; e.g. {case.formatted_path[:90]}{query[:60]}",
                      f"{label} [{mode}]\n{group}")

    def _add(self, key: tuple, line: str, report: str) -> None:
        if key in self.seen:
            self.seen[key][2] += 1
        else:
            self.seen[key] = [line, report, 1]

    def report(self) -> str:
        parts = [f"{len(self.seen)} distinct failures in {self.calls} requests:"]
        parts += [f"  {n}. {line} (x{count})" for n, (line, _, count) in enumerate(self.seen.values(), 1)]
        for n, (_, report, count) in enumerate(self.seen.values(), 1):
            parts.append(f"\n===== failure {n} (seen {count} times) =====\n{report.strip()}")
        return "\n".join(parts)


def _content_type(response: Any) -> str:
    found = [v for k, v in response.headers.items() if k.lower() == "content-type"]
    return found[0][0] if found and found[0] else "(no content type)"


def _curl(case: schemathesis.Case, base_url: str, headers: dict[str, str]) -> str:
    try:
        return case.as_curl_command(headers=headers, base_url=base_url)
    except Exception:  # noqa: BLE001 - only for the report
        return "(no curl command)"


def fuzz(findings: Findings, label: str, mode: str, strategy: Any, base_url: str, session: requests.Session) -> None:
    @SETTINGS
    @given(case=strategy)
    def each(case: schemathesis.Case) -> None:
        findings.run(label, case, base_url, session, mode)

    each()


def test_api_fuzz(deployment, tmp_path) -> None:
    started = time.monotonic()
    setup(deployment, tmp_path, {"DC1": 40, "DC2": 25})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC1") and worker.position("SKU-R", "DC2"), 60, "stock applied")
    wait_for(lambda: worker.get("/availability/SKU-R")[0] == 200, 30, "availability computed")
    status, accepted = post(worker.port, reserve("fuzz-known", 3))
    assert status == 201, (status, accepted)

    base_url = f"http://127.0.0.1:{worker.port}"
    served = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=10)
    # Loaded from a URL, schemathesis leaves out the operation that serves the document itself;
    # the same served document loaded as a dict keeps every operation.
    schema = schemathesis.openapi.from_dict(served.raw_schema)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /openapi.json", "POST /reservations"}, [op.label for op in operations]
    findings = Findings()
    session = requests.Session()

    # 1. Generated requests for every operation, positive and negative.
    skipped = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
                fuzz(findings, operation.label, mode.value, strategy, base_url, session)
            except (Unsatisfiable, FailedHealthCheck) as err:  # nothing the document forbids for this one
                skipped.append(f"{operation.label} [{mode.value}]: {type(err).__name__}: {str(err)[:100]}")

    # 2. Reservation requests steered to pass validation, so they reach the engine (positive
    # bodies from the document alone are mostly refused with 400: the document does not say
    # that names are non-empty and free of control characters), with hostile quantities and
    # names; each accepted one is then read and released.
    by_label = {op.label: op for op in operations}

    @SETTINGS
    @given(body=REQUEST_BODY)
    def steered(body: dict[str, Any]) -> None:
        findings.run("POST /reservations", by_label["POST /reservations"].Case(body=body, media_type="application/json"),
                     base_url, session, "steered")
        rid = quote_all({"reservation_id": body["reservation_id"]})
        findings.run("GET /reservations/{reservation_id}",
                     by_label["GET /reservations/{reservation_id}"].Case(path_parameters=rid), base_url, session, "steered")
        if len(body["reservation_id"]) % 2:
            findings.run("DELETE /reservations/{reservation_id}",
                         by_label["DELETE /reservations/{reservation_id}"].Case(path_parameters=rid),
                         base_url, session, "steered")

    steered()

    # 3. Requests that name what exists (so 200/201/409 bodies are checked too), other
    # credentials, and names the issue calls out (a '/' or '@' in a SKU, over-long names).
    long_name = "S" * 129
    position, availability, explain = ("GET /positions/{sku}/{location}", "GET /availability/{sku}",
                                       "GET /availability/{sku}/explain")
    reservation, release, create = ("GET /reservations/{reservation_id}", "DELETE /reservations/{reservation_id}",
                                    "POST /reservations")
    body = {"media_type": "application/json"}
    known: list[tuple[str, dict[str, Any], dict[str, str] | None]] = [
        (position, {"path_parameters": {"sku": "SKU-R", "location": "DC1"}}, None),
        (position, {"path_parameters": {"sku": "SKU-R", "location": "DC2"}}, None),
        (availability, {"path_parameters": {"sku": "SKU-R"}}, None),
        (availability, {"path_parameters": {"sku": "SKU-R"}, "query": {"channel": "web"}}, None),
        (availability, {"path_parameters": {"sku": "SKU-R"}, "query": {"channel": "nope"}}, None),
        (explain, {"path_parameters": {"sku": "SKU-R"}, "query": {"channel": "web"}}, None),
        (explain, {"path_parameters": {"sku": "SKU-R"}, "query": {"channel": "nope"}}, None),
        (explain, {"path_parameters": {"sku": "SKU-R"}}, None),
        (create, {"body": reserve("fuzz-a", 2), **body}, None),
        (create, {"body": reserve("fuzz-a", 2), **body}, None),  # a retry: the first answer
        (create, {"body": reserve("fuzz-a", 5), **body}, None),  # the id with another request: conflict
        (create, {"body": reserve("fuzz-b", 10_000), **body}, None),  # rejected
        (create, {"body": reserve("fuzz-c", 4, location=None, allow_partial=True, ttl_seconds=60), **body}, None),
        (create, {"body": reserve("fuzz-d", 1, channel="nope"), **body}, None),
        (create, {"body": reserve("fuzz-e", 1, sku="A/B@C"), **body}, None),
        (create, {"body": reserve("fuzz-f", 1), **body}, {}),  # no token: 401
        (create, {"body": reserve("fuzz-g", 1), **body}, {"Authorization": f"Bearer {READER}"}),  # 403
        (create, {"body": reserve("fuzz-h", 1), **body}, {"Authorization": "Bearer wrong"}),  # 401
        (create, {"body": reserve("fuzz-i", 1), **body},  # a client posing as a worker: 403
         {"X-Stockstream-Forwarded": "guess", "X-Stockstream-Client": "marketplace"}),
        (create, {"body": reserve("fuzz-{j}", 1), **body}, None),  # braces: aiohttp's {name} pattern is [^{}/]+
        (reservation, {"path_parameters": {"reservation_id": "fuzz-{j}"}}, None),
        (release, {"path_parameters": {"reservation_id": "fuzz-{j}"}}, None),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-a"}}, None),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-b"}}, None),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-c"}}, None),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-known"}}, None),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-known"}, "query": {"client": "web-store"}},
         {"Authorization": f"Bearer {ADMIN}"}),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-known"}, "query": {"client": "marketplace"}}, None),
        (release, {"path_parameters": {"reservation_id": "fuzz-a"}}, None),
        (release, {"path_parameters": {"reservation_id": "fuzz-a"}}, None),  # again: changes nothing
        (release, {"path_parameters": {"reservation_id": "fuzz-b"}}, None),  # a rejected one
        (release, {"path_parameters": {"reservation_id": "fuzz-never"}}, None),
        (release, {"path_parameters": {"reservation_id": "fuzz-known"}}, {"Authorization": f"Bearer {READER}"}),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-a"}}, None),
        (reservation, {"path_parameters": {"reservation_id": "fuzz-a"}}, {}),
        ("GET /health", {}, None),
        ("GET /metrics", {}, None),
        ("GET /openapi.json", {}, None),
        ("GET /", {}, None),
    ]
    for sku in ("A/B", "A@B", "A?B", "A#B", "A%B", "A B", " ", "é", "A\\B", "A{B}", "..", long_name):
        known += [
            (position, {"path_parameters": {"sku": sku, "location": "DC1"}}, None),
            (position, {"path_parameters": {"sku": "SKU-R", "location": sku}}, None),
            (availability, {"path_parameters": {"sku": sku}}, None),
            (explain, {"path_parameters": {"sku": sku}, "query": {"channel": "web"}}, None),
            (reservation, {"path_parameters": {"reservation_id": sku}}, None),
            (release, {"path_parameters": {"reservation_id": sku}}, None),
        ]
    for label, fields, headers in known:
        assert label in by_label, f"{label} is not in the served document: {sorted(by_label)}"
        if "path_parameters" in fields:  # percent-encoded as schemathesis does for generated ones
            fields = {**fields, "path_parameters": quote_all(dict(fields["path_parameters"]))}
        findings.run(label, by_label[label].Case(**fields), base_url, session, "known", headers)

    took = time.monotonic() - started
    print(f"\nschemathesis: {findings.calls} requests over {len(operations)} operations in {took:.1f}s")
    for label, statuses in sorted(findings.statuses.items()):
        print(f"  {label}: " + ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items())))
    for line in skipped:
        print(f"  not generated: {line}")
    assert worker.process.poll() is None, f"the worker exited during the fuzzing:\n{worker.tail()}"
    assert not findings.seen, findings.report()
