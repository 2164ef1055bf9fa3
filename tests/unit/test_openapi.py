"""The OpenAPI document is valid, and the checker built on it can tell a wrong response."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tests.openapi import DOCUMENT, assert_matches


def test_the_document_is_valid_openapi():
    validate(DOCUMENT)


def test_the_checker_accepts_a_right_response_and_refuses_wrong_ones():
    accepted = {"status": "accepted", "reservation_id": "r", "qty": 2, "allocations": [{"location": "DC1", "qty": 2}]}
    assert_matches("POST", "/reservations", 201, accepted)
    with pytest.raises(AssertionError, match="qty"):
        assert_matches("POST", "/reservations", 201, {**accepted, "qty": 0})
    with pytest.raises(AssertionError, match="undocumented"):
        assert_matches("POST", "/reservations", 418, {})
    with pytest.raises(AssertionError):
        assert_matches("GET", "/positions/{sku}/{location}", 404, {"message": "no error key"})
    assert_matches("GET", "/positions/{sku}/{location}", 404, {"error": "no such position"})
