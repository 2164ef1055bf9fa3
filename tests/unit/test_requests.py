"""Reservation requests and bearer tokens: every bad input names its field."""

from __future__ import annotations

import pytest

from streams.app import auth
from tables.requests import RequestError, parse_request

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
    ({**GOOD, "qty": 2**63}, "qty"),
    ({**GOOD, "qty": 1_000_000_000_001}, "qty"),
    ({**GOOD, "qty": 1.5}, "qty"),
    ({**GOOD, "qty": True}, "qty"),
    ({**GOOD, "qty": "2"}, "qty"),
    ({**GOOD, "sku": ""}, "sku"),
    ({**GOOD, "sku": "  "}, "sku"),
    ({**GOOD, "sku": 7}, "sku"),
    ({**GOOD, "order_id": "x" * 129}, "order_id"),
    ({**GOOD, "location": "DC@1"}, "location"),
    ({**GOOD, "sku": "SKU\x1f1"}, "sku"),
    ({**GOOD, "reservation_id": "r\n1"}, "reservation_id"),
    ({**GOOD, "ttl_seconds": 0}, "ttl_seconds"),
    ({**GOOD, "ttl_seconds": 31 * 24 * 3600}, "ttl_seconds"),
    ({**GOOD, "allow_partial": "yes"}, "allow_partial"),
])
def test_bad_requests_name_the_field(body, field):
    with pytest.raises(RequestError) as err:
        parse_request(body)
    assert err.value.field == field and field in str(err.value)


TOKENS = auth.parse_tokens({"s3cret": ["reserve"], "ops": {"client": "ops", "scopes": ["reserve", "admin"]},
                            "viewer": [], "reader": ["read"], "web-2": {"client": "web", "scopes": ["reserve"]},
                            "web-1": {"client": "web", "scopes": ["reserve"]}})


def check(header, scope):
    caller = auth.authenticate(header, TOKENS)
    caller.require(scope)
    return caller


def test_tokens_name_clients_and_scopes():
    assert check("Bearer ops", auth.ADMIN).client == "ops"
    assert check("Bearer web-1", auth.RESERVE).client == check("Bearer web-2", auth.RESERVE).client == "web"
    bare = check("Bearer s3cret", auth.RESERVE).client
    assert bare.startswith("client-") and "s3cret" not in bare and bare == auth.default_client("s3cret")
    assert bare != check("Bearer reader", auth.READ).client  # a bare token is a client of its own
    for header, scope, status in [(None, auth.RESERVE, 401), ("", auth.RESERVE, 401), ("Basic s3cret", auth.RESERVE, 401),
                                  ("Bearer nope", auth.RESERVE, 401), ("Bearer s3cret", auth.ADMIN, 403),
                                  ("Bearer viewer", auth.RESERVE, 403), ("Bearer reader", auth.RESERVE, 403)]:
        with pytest.raises(auth.Denied) as err:
            check(header, scope)
        assert err.value.status == status
        assert "s3cret" not in str(err.value)  # a token is never echoed


def test_any_scope_may_read_but_a_token_without_scopes_may_not():
    for token in ("s3cret", "ops", "reader"):
        check(f"Bearer {token}", auth.READ)
    with pytest.raises(auth.Denied) as err:
        check("Bearer viewer", auth.READ)
    assert err.value.status == 403


@pytest.mark.parametrize("table, says", [
    ([], "JSON object"),
    ({"": ["read"]}, "empty"),
    ({"t": "read"}, "scopes"),
    ({"t": ["fly"]}, "scopes"),
    ({"t": {"client": "a/b", "scopes": ["read"]}}, "client"),
    ({"t": {"client": "", "scopes": ["read"]}}, "client"),
    ({"t": {"client": "ok", "scopes": ["read"], "colour": 1}}, "colour"),
])
def test_bad_token_tables_say_what_is_wrong_without_the_token(table, says):
    with pytest.raises(auth.TokenError) as err:
        auth.parse_tokens(table)
    assert says in str(err.value) and "'t'" not in str(err.value)


def test_the_internal_credential_is_configured_or_derived_from_the_api_tokens():
    assert auth.internal_credential("set", "{}", "app") == "set"
    derived = auth.internal_credential("", '{"tok": ["reserve"]}', "app")
    assert derived == auth.internal_credential("", '{"tok": ["reserve"]}', "app")
    assert derived != auth.internal_credential("", '{"tok2": ["reserve"]}', "app")
    assert derived != auth.internal_credential("", '{"tok": ["reserve"]}', "other-app")
    assert "tok" not in derived
    assert auth.is_internal(derived, derived) and not auth.is_internal("x", derived)
