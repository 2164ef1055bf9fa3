"""POST /reservations on the real broker: answered once decided, idempotent by reservation id,
scoped to the caller's client, forwarded to the owner, never more than the stock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from streams.app import topics
from streams.testing.clients import ADMIN, OTHER, READER, call, post, receipts, reserve, setup
from streams.testing.deployment import wait_for


def test_reservations_are_answered_once_decided_and_a_retry_gets_the_first_answer(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 10, "DC2": 4})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC2"), 60, "stock applied")

    status, first = post(worker.port, reserve("r1", 6))
    assert (status, first["status"], first["qty"], first["allocations"]) == (201, "accepted", 6, [{"location": "DC1", "qty": 6}])
    assert first["reference"] == "web-store/r1"  # how the warehouse names it in picks and shipments
    assert post(worker.port, reserve("r1", 6)) == (201, first)  # a retry gets the first answer
    status, rejected = post(worker.port, reserve("r2", 5))
    assert status == 409 and rejected["status"] == "rejected" and rejected["available"] == {"DC1": 4}
    deployment.produce([{"event_id": "more", "type": "Receipt", "sku": "SKU-R", "location": "DC1", "qty": 50,
                         "source": "wms", "occurred_at": "2026-11-25T10:00:00Z"}])
    wait_for(lambda: worker.position("SKU-R", "DC1")["ats"] == 54, 30, "the receipt")
    assert post(worker.port, reserve("r2", 5)) == (409, rejected)  # decided once, never again

    status, conflict = post(worker.port, reserve("r1", 7))
    assert status == 409 and conflict["status"] == "conflict" and conflict["fields"] == ["qty"]

    status, body = post(worker.port, reserve("r3", 56, location=None, allow_partial=True))
    assert status == 201 and body["allocations"] == [{"location": "DC1", "qty": 54}, {"location": "DC2", "qty": 2}]
    assert (worker.position("SKU-R", "DC1")["reserved"], worker.position("SKU-R", "DC2")["reserved"]) == (60, 2)

    assert post(worker.port, reserve("r4", 1, location="DC7"))[0] == 409  # not one of web's locations
    assert post(worker.port, reserve("r5", 0))[1]["field"] == "qty"
    assert post(worker.port, b"{not json")[0] == 400
    assert post(worker.port, reserve("r6", 1), token=None)[0] == 401
    assert post(worker.port, reserve("r6", 1), token="wrong")[0] == 401
    assert post(worker.port, {**reserve("r7", 1), "channel": "fax"})[1]["field"] == "channel"


def test_a_retry_without_location_gets_its_first_allocation_whatever_changed_since(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 5, "DC2": 3})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC2"), 60, "stock applied")
    status, first = post(worker.port, reserve("any", 3, location=None))
    assert status == 201 and first["allocations"] == [{"location": "DC1", "qty": 3}]  # the best first
    assert post(worker.port, reserve("drain", 2))[0] == 201  # DC1 is empty now, DC2 is the best
    assert post(worker.port, reserve("any", 3, location=None)) == (201, first)
    assert worker.position("SKU-R", "DC2")["reserved"] == 0


def test_reservation_ids_are_scoped_to_the_client(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 10})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: first.position("SKU-R", "DC1"), 60, "stock applied")
    assert post(first.port, reserve("same", 2))[0] == 201
    status, theirs = post(second.port, reserve("same", 3), token=OTHER)  # no collision, no conflict
    assert status == 201 and theirs["reference"] == "marketplace/same"
    assert first.position("SKU-R", "DC1")["reserved"] == 5
    for worker in (first, second):
        assert call(worker.port, "GET", "/reservations/same")[1]["qty"] == 2
        assert call(worker.port, "GET", "/reservations/same", token=OTHER)[1]["qty"] == 3
    assert call(first.port, "GET", "/reservations/mine-only", token=OTHER)[0] == 404
    assert post(first.port, reserve("mine-only", 1))[0] == 201
    assert call(second.port, "GET", "/reservations/mine-only", token=OTHER)[0] == 404
    assert call(second.port, "DELETE", "/reservations/mine-only", token=OTHER)[0] == 404
    assert call(first.port, "GET", "/reservations/mine-only")[1]["state"] == "open"
    # An admin acts for a client by name; nobody else may.
    assert call(second.port, "GET", "/reservations/mine-only?client=web-store", token=ADMIN)[1]["state"] == "open"
    assert call(second.port, "GET", "/reservations/mine-only?client=web-store", token=OTHER)[0] == 403
    assert call(first.port, "DELETE", "/reservations/same?client=marketplace", token=ADMIN)[0] == 200
    assert first.position("SKU-R", "DC1")["reserved"] == 3
    # Ids and SKUs may hold a '/': quoted in the path, forwarded as they came.
    assert post(first.port, reserve("order/1", 1))[0] == 201
    deployment.produce(receipts({"DC1": 4}, sku="A/B"))
    for worker in (first, second):
        status, held = call(worker.port, "GET", "/reservations/order%2F1")
        assert status == 200 and held["reference"] == "web-store/order/1"
        wait_for(lambda: call(worker.port, "GET", "/positions/A%2FB/DC1")[0] == 200, 30, "a SKU with a slash")


def test_a_client_cannot_pose_as_a_worker(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 10})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC1"), 60, "stock applied")
    forged = {"X-Stockstream-Forwarded": "1", "X-Stockstream-Client": "marketplace"}
    assert call(worker.port, "POST", "/reservations", None, reserve("f1", 1), headers=forged)[0] == 403
    assert call(worker.port, "GET", "/positions/SKU-R/DC1", None, headers=forged)[0] == 403


def test_without_api_tokens_the_derived_credential_forwards_no_writes(deployment, tmp_path):
    from streams.app.auth import internal_credential

    worker = deployment.worker()
    public = internal_credential("", "{}", deployment.settings.app_id)  # anyone can compute it
    forged = {"X-Stockstream-Forwarded": public, "X-Stockstream-Client": "anyone"}
    assert call(worker.port, "POST", "/reservations", None, reserve("f1", 1), headers=forged)[0] == 403
    assert call(worker.port, "DELETE", "/reservations/f1", None, headers=forged)[0] == 403


def test_concurrent_requests_through_two_workers_never_oversell(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 40})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: first.position("SKU-R", "DC1"), 60, "stock applied")

    def attempt(n: int) -> int:
        port = (first, second)[n % 2].port
        for _ in range(40):  # clients retry 503 with the same reservation id
            status, _ = post(port, reserve(f"c{n}", 1))
            if status != 503:
                return status
        return 503

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(120)))
    assert statuses.count(201) == 40 and statuses.count(409) == 80
    assert first.position("SKU-R", "DC1")["reserved"] == 40


def test_a_reservation_is_read_picked_and_released_by_its_id_from_any_worker(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 3, "DC2": 5})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: first.position("SKU-R", "DC2"), 60, "stock applied")
    status, body = post(first.port, reserve("split", 7, location=None, allow_partial=True))
    assert status == 201 and body["qty"] == 7

    for worker in (first, second):
        status, held = call(worker.port, "GET", "/reservations/split")
        assert status == 200 and held["state"] == "open" and held["sku"] == "SKU-R"
        assert {a["location"]: (a["qty"], a["unpicked"]) for a in held["allocations"]} == {"DC2": (5, 5), "DC1": (2, 2)}
    # The warehouse picks against the reference the API gave.
    deployment.produce([{"event_id": "pick-1", "type": "PickConfirmed", "sku": "SKU-R", "location": "DC2", "qty": 2,
                         "reservation_id": body["reference"], "source": "wms", "occurred_at": "2026-11-25T11:00:00Z"}])
    wait_for(lambda: call(second.port, "GET", "/reservations/split")[1]["allocations"][0]["picked"] == 2, 30,
             "the pick reported to the reservation")
    assert call(second.port, "DELETE", "/reservations/split", token=None)[0] == 401
    status, released = call(second.port, "DELETE", "/reservations/split")
    assert status == 200 and released["status"] == "released"
    held = call(first.port, "GET", "/reservations/split")[1]
    assert held["state"] == "open"  # its 2 picked units are still held until shipped
    assert first.position("SKU-R", "DC1")["reserved"] == 0 and first.position("SKU-R", "DC2")["reserved"] == 0
    deployment.produce([{"event_id": "ship-1", "type": "ShipmentPosted", "sku": "SKU-R", "location": "DC2", "qty": 2,
                         "reservation_id": body["reference"], "source": "wms", "occurred_at": "2026-11-25T12:00:00Z"}])
    wait_for(lambda: call(first.port, "GET", "/reservations/split")[1]["state"] == "closed", 30, "closed by the shipment")
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
        ("POST", "/reservations", post(worker.port, reserve("o4", 1), token=READER)),
        ("POST", "/reservations", post(worker.port, reserve("o1", 3))),
        ("GET", "/reservations/{reservation_id}", call(worker.port, "GET", "/reservations/o1")),
        ("GET", "/reservations/{reservation_id}", call(worker.port, "GET", "/reservations/none")),
        ("GET", "/reservations/{reservation_id}", call(worker.port, "GET", "/reservations/o1", token=None)),
        ("GET", "/reservations/{reservation_id}", call(worker.port, "GET", "/reservations/o1?client=x")),
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
        body.pop("_retry_after", None)
        assert_matches(method, template, status, body)
        statuses.add((method, template, status))
    assert {("POST", "/reservations", 403), ("GET", "/reservations/{reservation_id}", 403)} <= statuses


def test_a_reservation_with_a_ttl_expires_by_an_event_in_the_log_even_across_a_restart(deployment, tmp_path):
    setup(deployment, tmp_path, {"DC1": 5})
    worker = deployment.worker()
    wait_for(lambda: worker.position("SKU-R", "DC1"), 60, "stock applied")
    assert post(worker.port, reserve("short", 3, ttl_seconds=4))[0] == 201
    assert post(worker.port, reserve("long", 1))[0] == 201
    assert worker.position("SKU-R", "DC1")["reserved"] == 4
    worker.kill()  # the expiry index is state, not memory
    again = deployment.worker("w1-again", disk="w1")
    wait_for(lambda: (again.position("SKU-R", "DC1") or {}).get("reserved") == 1, 60, "the short one expired")
    wait_for(lambda: call(again.port, "GET", "/reservations/short")[1]["state"] == "closed", 30,
             "the expiry reported to the reservation")
    assert call(again.port, "GET", "/reservations/long")[1]["state"] == "open"
    expired = [e for e in deployment.read(topics.EVENTS) if e["type"] == "ReservationExpired"]
    # (logged again if it was not applied in time: the same id, applied once)
    assert {(e["reservation_id"], e["event_id"]) for e in expired} == {("web-store/short", "expire:web-store/short@DC1")}


def test_reads_can_be_protected(deployment, tmp_path):
    deployment.env["STOCKSTREAM_PROTECT_READS"] = "true"
    setup(deployment, tmp_path, {"DC1": 5, "DC2": 5})
    first, second = deployment.worker("w1"), deployment.worker("w2")
    wait_for(lambda: call(first.port, "GET", "/positions/SKU-R/DC2")[0] == 200, 60, "stock applied")
    assert first.get("/positions/SKU-R/DC1")[0] == 401
    assert first.get("/health")[0] == 200 and first.get("/openapi.json")[0] == 200
    for worker in (first, second):  # forwarded reads carry the internal credential
        assert call(worker.port, "GET", "/positions/SKU-R/DC1")[0] == 200
        assert call(worker.port, "GET", "/positions/SKU-R/DC2")[0] == 200
    status, body = post(second.port, reserve("p1", 8, location=None, allow_partial=True))
    assert status == 201 and body["qty"] == 8
