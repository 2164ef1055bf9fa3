"""Bearer tokens for the HTTP API, and the credential workers use between themselves.

STOCKSTREAM_API_TOKENS maps each token to its scopes (read, reserve, admin), as a list, or to
{"client": NAME, "scopes": [...]}. A token names a client: reservation ids are scoped to it,
so one client can neither read, release nor collide with another's reservations. A token given
as a bare list names a client of its own ("client-" and a digest of the token). Tokens are
compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Mapping

READ = "read"
RESERVE = "reserve"
ADMIN = "admin"
SCOPES = frozenset((READ, RESERVE, ADMIN))
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Denied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Caller:
    client: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        """Denied (403) without the scope; admin has every scope, and any scope may read."""
        if scope in self.scopes or ADMIN in self.scopes or (scope == READ and self.scopes):
            return
        raise Denied(403, f"the token lacks the {scope!r} scope")


class TokenError(ValueError):
    pass


def parse_tokens(table: Any) -> dict[str, Caller]:
    """STOCKSTREAM_API_TOKENS, decoded: token -> Caller. TokenError says what is wrong, never
    showing a token."""
    if not isinstance(table, dict):
        raise TokenError("must be a JSON object of token to scopes")
    callers = {}
    for n, (token, grant) in enumerate(table.items(), start=1):
        if not token:
            raise TokenError(f"token #{n} is empty")
        if isinstance(grant, dict):
            client, scopes = grant.get("client"), grant.get("scopes")
            unknown = sorted(set(grant) - {"client", "scopes"})
            if unknown:
                raise TokenError(f"token #{n}: {unknown[0]!r} is not a field (client, scopes)")
            if not isinstance(client, str) or not CLIENT_NAME.fullmatch(client):
                raise TokenError(f"token #{n}: client must be 1-64 letters, digits, '.', '_' or '-'")
        else:
            client, scopes = default_client(token), grant
        if not isinstance(scopes, list) or not set(scopes) <= SCOPES:
            raise TokenError(f"token #{n}: scopes must be a list of {', '.join(sorted(SCOPES))}")
        callers[token] = Caller(client, frozenset(scopes))
    return callers


def default_client(token: str) -> str:
    return "client-" + hashlib.sha256(b"stockstream-client:" + token.encode()).hexdigest()[:12]


def authenticate(authorization: str | None, callers: Mapping[str, Caller]) -> Caller:
    """The caller a bearer token names; Denied (401) without a valid one."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Denied(401, "a bearer token is required (Authorization: Bearer <token>)")
    presented = authorization[len("Bearer "):].strip().encode()
    found = None
    for token, caller in callers.items():  # every token compared: the time says nothing
        if hmac.compare_digest(presented, token.encode()):
            found = caller
    if found is None:
        raise Denied(401, "the bearer token is not valid")
    return found


def internal_credential(configured: str, api_tokens: str, app_id: str) -> str:
    """What workers present to each other when they forward a request: STOCKSTREAM_INTERNAL_TOKEN,
    or else a digest of the API tokens (which every worker of a deployment shares, and no
    client knows whole)."""
    if configured:
        return configured
    return hmac.new(api_tokens.encode(), f"stockstream-internal:{app_id}".encode(), hashlib.sha256).hexdigest()


def is_internal(presented: str, credential: str) -> bool:
    return hmac.compare_digest(presented.encode(), credential.encode())
