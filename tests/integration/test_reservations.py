"""POST /reservations on the real broker: answered after the location agent applied it,
idempotent by reservation id, forwarded to the owner, never more than the stock."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.integration.harness import STOCKSTREAM, wait_for

AT = "2026-11-25T10:00:00Z"
TOKEN = "it-token"
POLICIES = "channels:\n  web:\n    locations: [DC1, DC2]\n"


def call(port: int, method: str, path: str, token: str | None = TOKEN, body=None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data,
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post(port: int, body, token: str | None = TOKEN) -> tuple[int, dict]:
    return call(port, "POST", "/reservations", token, body)


def reserve(rid: str, qty: int, location: str | None = "DC1", **extra) -> dict:
    body = {"reservation_id": rid, "sku": "SKU-R", "qty": qty, "channel": "web", "order_id": f"o-{rid}", **extra}
    if location:
        body["location"] = location
    return body


def setup(deployment, tmp_path, stock: dict[str, int]):
    deployment.env["STOCKSTREAM_API_TOKENS"] = json.dumps({TOKEN: ["reserve"]})
    (tmp_path / "p.yaml").write_text(POLICIES)
    done = subprocess.run([STOCKSTREAM, "policies", "apply", str(tmp_path / "p.yaml")], env=deployment.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    deployment.produce([{"event_id": f"stock-{loc}", "type": "Receipt", "sku": "SKU-R", "location": loc,
                         "qty": qty, "source": "wms", "occurred_at": AT} for loc, qty in stock.items()])


def test_reservations_are_answered_once_applied_and_idempotent(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 10, "DC2": 4})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC2"), 60, "stock applied")

    status, body = post(worker.port, reserve("r1", 6))
    assert (status, body["status"], body["qty"], body["allocations"]) == (201, "accepted", 6, [{"location": "DC1", "qty": 6}])
    assert post(worker.port, reserve("r1", 6))[0] == 201  # a retry gets the first answer
    status, body = post(worker.port, reserve("r2", 5))
    assert status == 409 and body["available"] == {"DC1": 4}
    status, body = post(worker.port, reserve("r2", 5))
    assert status == 409  # the first answer again, though nothing changed since
    status, body = post(worker.port, reserve("r3", 6, location=None, allow_partial=True))
    assert status == 201 and body["allocations"] == [{"location": "DC1", "qty": 4}, {"location": "DC2", "qty": 2}]
    dc1 = worker.position("SKU-R", "DC1")
    assert (dc1["reserved"], dc1["ats"]) == (10, 0)

    assert post(worker.port, reserve("r4", 1, location="DC7"))[0] == 409  # not one of web's locations
    assert post(worker.port, reserve("r5", 0))[0] == 400
    assert post(worker.port, b"{not json")[0] == 400
    assert post(worker.port, reserve("r6", 1), token=None)[0] == 401
    assert post(worker.port, reserve("r6", 1), token="wrong")[0] == 401
    assert post(worker.port, {**reserve("r7", 1), "channel": "fax"})[1]["field"] == "channel"


def test_concurrent_requests_through_two_workers_never_oversell(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 40})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: first.position("SKU-R", "DC1"), 60, "stock applied")

    def attempt(n: int) -> int:
        port = (first, second)[n % 2].port
        for _ in range(20):  # clients retry 503 with the same reservation id
            status, _ = post(port, reserve(f"c{n}", 1))
            if status != 503:
                return status
        return 503

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(120)))
    assert statuses.count(201) == 40 and statuses.count(409) == 80
    assert first.position("SKU-R", "DC1")["reserved"] == 40


def test_a_reservation_can_be_read_and_released_by_its_id_from_any_worker(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 3, "DC2": 5})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: first.position("SKU-R", "DC2"), 60, "stock applied")
    status, body = post(first.port, reserve("split", 7, location=None, allow_partial=True))
    assert status == 201 and body["qty"] == 7

    for worker in (first, second):
        status, held = call(worker.port, "GET", "/reservations/split")
        assert status == 200 and held["state"] == "open" and held["sku"] == "SKU-R"
        assert {a["location"]: (a["qty"], a["unpicked"]) for a in held["allocations"]} == {"DC2": (5, 5), "DC1": (2, 2)}
    assert call(second.port, "DELETE", "/reservations/split", token=None)[0] == 401
    assert call(second.port, "DELETE", "/reservations/split") == (200, {"status": "released", "reservation_id": "split"})
    assert call(first.port, "GET", "/reservations/split")[1]["state"] == "closed"
    assert first.position("SKU-R", "DC1")["reserved"] == 0 and first.position("SKU-R", "DC2")["reserved"] == 0
    assert call(first.port, "DELETE", "/reservations/split")[0] == 200  # releasing again changes nothing
    assert call(first.port, "GET", "/reservations/never")[0] == 404


def test_real_responses_match_the_openapi_document(deployment, tmp_path):
    from tests.openapi import DOCUMENT, assert_matches

    setup(deployment, tmp_path, {"DC1": 5})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC1"), 60, "stock applied")
    status, served = worker.get("/openapi.json")
    assert status == 200 and served == DOCUMENT

    checks = [
        ("POST", "/reservations", post(worker.port, reserve("o1", 2))),
        ("POST", "/reservations", post(worker.port, reserve("o2", 99))),
        ("POST", "/reservations", post(worker.port, reserve("o3", 0))),
        ("POST", "/reservations", post(worker.port, reserve("o4", 1), token="nope")),
        ("GET", "/reservations/{reservation_id}", call(worker.port, "GET", "/reservations/o1")),
        ("GET", "/reservations/{reservation_id}", call(worker.port, "GET", "/reservations/none")),
        ("DELETE", "/reservations/{reservation_id}", call(worker.port, "DELETE", "/reservations/o1")),
        ("DELETE", "/reservations/{reservation_id}", call(worker.port, "DELETE", "/reservations/o1", token=None)),
        ("GET", "/positions/{sku}/{location}", worker.get("/positions/SKU-R/DC1")),
        ("GET", "/positions/{sku}/{location}", worker.get("/positions/SKU-R/NOWHERE")),
        ("GET", "/health", worker.get("/health")),
    ]
    wait_for(lambda: worker.get("/availability/SKU-R")[0] == 200, 30, "the channel stage")
    checks += [
        ("GET", "/availability/{sku}", worker.get("/availability/SKU-R")),
        ("GET", "/availability/{sku}", worker.get("/availability/NONE")),
        ("GET", "/availability/{sku}/explain", worker.get("/availability/SKU-R/explain?channel=web")),
        ("GET", "/availability/{sku}/explain", worker.get("/availability/SKU-R/explain")),
    ]
    statuses = set()
    for method, template, (status, body) in checks:
        assert_matches(method, template, status, body)
        statuses.add((method, template, status))
    assert len(statuses) == len(checks)  # each check saw a different documented answer


def test_a_reservation_with_a_ttl_expires_by_an_event_in_the_log(deployment, tmp_path):
    from streams import topics

    setup(deployment, tmp_path, {"DC1": 5})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC1"), 60, "stock applied")
    assert post(worker.port, reserve("short", 3, ttl_seconds=2))[0] == 201
    assert post(worker.port, reserve("long", 1))[0] == 201
    assert worker.position("SKU-R", "DC1")["reserved"] == 4
    wait_for(lambda: worker.position("SKU-R", "DC1")["reserved"] == 1, 30, "the short one expired")
    assert call(worker.port, "GET", "/reservations/short")[1]["state"] == "closed"
    assert call(worker.port, "GET", "/reservations/long")[1]["state"] == "open"
    expired = [e for e in deployment.read(topics.EVENTS) if e["type"] == "ReservationExpired"]
    # (logged again if the position changed before the first one was applied: the same id, applied once)
    assert {(e["reservation_id"], e["event_id"]) for e in expired} == {("short", "expire:short@DC1")}


def test_reads_can_be_protected(deployment, tmp_path):
    deployment.env["STOCKSTREAM_PROTECT_READS"] = "true"
    setup(deployment, tmp_path, {"DC1": 5, "DC2": 5})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: call(first.port, "GET", "/positions/SKU-R/DC2")[0] == 200, 60, "stock applied")
    assert first.get("/positions/SKU-R/DC1")[0] == 401
    assert first.get("/health")[0] == 200 and first.get("/openapi.json")[0] == 200
    for worker in (first, second):  # forwarded reads carry the caller's token
        assert call(worker.port, "GET", "/positions/SKU-R/DC1")[0] == 200
        assert call(worker.port, "GET", "/positions/SKU-R/DC2")[0] == 200
    status, body = post(second.port, reserve("p1", 8, location=None, allow_partial=True))
    assert status == 201 and body["qty"] == 8
