"""What every stockstream HTTP view shares: each answer is a decision the engine can name.

400 names the field, 401/403 the credential, 503 with Retry-After says ownership is unknown or
its owner cannot answer now (rebalance, recovery, broker away): the client retries the same
request. A 500 is a bug, logged with its traceback.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from faust import web

from agents.reservations import Retry
from streams.app import auth
from streams.app import settings
from streams.http.routing import RETRY_AFTER_SECONDS, Unavailable, forwarded_client
from tables.requests import RequestError, check_name

log = logging.getLogger(__name__)


class EngineView(web.View):
    async def dispatch(self, request: Any) -> Any:
        try:
            return await super().dispatch(request)
        except (Unavailable, Retry) as why:
            return self.json({"status": "retry", "reason": str(why)}, status=503,
                             headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        except auth.Denied as denied:
            return self.json({"error": str(denied)}, status=denied.status)
        except RequestError as err:
            return self.json({"error": str(err), "field": err.field}, status=400)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return self.json({"error": "internal error: the worker's log has the details"}, status=500)


LIMITS = settings.limits()


def path_names(**segments: str) -> None:
    """The names in a request's path, checked as in a body (400 naming the segment)."""
    for name, value in segments.items():
        check_name(name, value, LIMITS.id_length if name == "reservation_id" else LIMITS.name_length)
        if name == "location" and "@" in value:
            raise RequestError("location", "must not contain '@'")


def caller(request: web.Request, scope: str) -> auth.Caller:
    """Who asks, with the scope checked: from the bearer token, or, for a request another
    worker forwarded, the client that worker authenticated."""
    client = forwarded_client(request)
    if client is not None:
        # With no API tokens and no internal token the credential is public (a digest of
        # "{}"): nobody may write then, so a forwarded request may only read.
        if scope != auth.READ and not (settings.internal_token or _callers(settings.api_tokens.get())):
            raise auth.Denied(403, "no API tokens are configured: nothing may be written")
        return auth.Caller(client, frozenset((scope,)))
    found = auth.authenticate(request.headers.get("Authorization"), _callers(settings.api_tokens.get()))
    found.require(scope)
    return found


@lru_cache(maxsize=1)
def _callers(api_tokens: str) -> dict[str, auth.Caller]:
    return settings.callers()


def reader(request: web.Request) -> str | None:
    """The client of a read (None when reads are open and no token is given)."""
    if settings.protect_reads or forwarded_client(request) is not None:
        return caller(request, auth.READ).client
    return None
