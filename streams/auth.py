"""Bearer tokens for the HTTP API: STOCKSTREAM_API_TOKENS maps each token to its scopes
(reserve, admin). Compared in constant time; a token is never logged or echoed."""

from __future__ import annotations

import hmac
from typing import Mapping

READ = "read"
RESERVE = "reserve"
ADMIN = "admin"


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check(authorization: str | None, tokens: Mapping[str, list[str]], scope: str) -> None:
    """Raise Denied (401 without a valid token, 403 without the scope). Any scope may read."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Denied(401, "a bearer token is required (Authorization: Bearer <token>)")
    presented = authorization[len("Bearer "):].strip().encode()
    scopes = None
    for token, granted in tokens.items():  # every token compared: the time says nothing
        if hmac.compare_digest(presented, token.encode()):
            scopes = granted
    if scopes is None:
        raise Denied(401, "the bearer token is not valid")
    if scope not in scopes and ADMIN not in scopes and not (scope == READ and scopes):
        raise Denied(403, f"the token lacks the {scope!r} scope")
