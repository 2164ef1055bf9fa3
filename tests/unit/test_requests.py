"""Reservation requests and bearer tokens: every bad input names its field."""

from __future__ import annotations

import pytest

from streams import auth
from tables.requests import RequestError, parse_request, plan

GOOD = {"reservation_id": "r1", "sku": "SKU-1", "qty": 2, "channel": "web", "order_id": "o1"}


def test_a_good_request_with_defaults():
    request = parse_request(GOOD)
    assert (request.location, request.ttl_seconds, request.allow_partial) == (None, None, False)
    full = parse_request({**GOOD, "location": "DC1", "ttl_seconds": 900, "allow_partial": True})
    assert (full.location, full.ttl_seconds, full.allow_partial) == ("DC1", 900, True)


@pytest.mark.parametrize("body, field", [
    ([], "(body)"),
    ({**GOOD, "colour": "red"}, "colour"),
    ({k: v for k, v in GOOD.items() if k != "reservation_id"}, "reservation_id"),
    ({k: v for k, v in GOOD.items() if k != "sku"}, "sku"),
    ({k: v for k, v in GOOD.items() if k != "channel"}, "channel"),
    ({k: v for k, v in GOOD.items() if k != "order_id"}, "order_id"),
    ({k: v for k, v in GOOD.items() if k != "qty"}, "qty"),
    ({**GOOD, "qty": 0}, "qty"),
    ({**GOOD, "qty": -1}, "qty"),
    ({**GOOD, "qty": 1.5}, "qty"),
    ({**GOOD, "qty": True}, "qty"),
    ({**GOOD, "qty": "2"}, "qty"),
    ({**GOOD, "sku": ""}, "sku"),
    ({**GOOD, "sku": "  "}, "sku"),
    ({**GOOD, "sku": 7}, "sku"),
    ({**GOOD, "order_id": "x" * 129}, "order_id"),
    ({**GOOD, "location": "DC@1"}, "location"),
    ({**GOOD, "ttl_seconds": 0}, "ttl_seconds"),
    ({**GOOD, "ttl_seconds": 31 * 24 * 3600}, "ttl_seconds"),
    ({**GOOD, "allow_partial": "yes"}, "allow_partial"),
])
def test_bad_requests_name_the_field(body, field):
    with pytest.raises(RequestError) as err:
        parse_request(body)
    assert err.value.field == field and field in str(err.value)


def test_plan_tries_locations_best_first_with_enough_for_the_whole():
    assert plan(5, [("A", 3), ("B", 9), ("C", 5)], allow_partial=False) == [("B", 5), ("C", 5)]
    assert plan(10, [("A", 3), ("B", 9)], allow_partial=False) == []


def test_plan_splits_a_partial_request_best_first():
    assert plan(10, [("A", 3), ("B", 9), ("C", 0)], allow_partial=True) == [("B", 9), ("A", 1)]
    assert plan(20, [("A", 3), ("B", 9)], allow_partial=True) == [("B", 9), ("A", 3)]
    assert plan(2, [("A", 0)], allow_partial=True) == []


TOKENS = {"s3cret": ["reserve"], "ops": ["reserve", "admin"], "viewer": []}


def test_tokens_and_scopes():
    auth.check("Bearer s3cret", TOKENS, auth.RESERVE)
    auth.check("Bearer ops", TOKENS, auth.ADMIN)
    for header, status in [(None, 401), ("", 401), ("Basic s3cret", 401), ("Bearer nope", 401),
                           ("Bearer s3cret", 403)]:
        with pytest.raises(auth.Denied) as err:
            auth.check(header, TOKENS, auth.ADMIN if header == "Bearer s3cret" else auth.RESERVE)
        assert err.value.status == status
        assert "s3cret" not in str(err.value)  # a token is never echoed
    with pytest.raises(auth.Denied) as err:
        auth.check("Bearer viewer", TOKENS, auth.RESERVE)
    assert err.value.status == 403


def test_any_scope_may_read_but_a_token_without_scopes_may_not():
    auth.check("Bearer s3cret", TOKENS, auth.READ)
    auth.check("Bearer ops", TOKENS, auth.READ)
    auth.check("Bearer reader", {"reader": ["read"]}, auth.READ)
    with pytest.raises(auth.Denied) as err:
        auth.check("Bearer viewer", TOKENS, auth.READ)
    assert err.value.status == 403
    with pytest.raises(auth.Denied):
        auth.check("Bearer reader", {"reader": ["read"]}, auth.RESERVE)
