"""Small per-request helpers shared by the authenticator and the route class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Scope

if TYPE_CHECKING:
    from tokenward.validation import Principal

__all__ = ["SAFE_METHODS", "SCOPE_KEY", "principal", "query_has_token", "set_state"]

#: RFC 9110 sec. 9.2.1: methods that must not change state; everything else needs CSRF
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: where the route wrapper leaves the principal (also readable as ``request.state.principal``)
SCOPE_KEY: Final = "tokenward.principal"


def principal(request: Request) -> Principal:
    """The principal a protected route (or dependency) authenticated for ``request``.

    :raises LookupError: when the route is not protected by tokenward.
    """
    found = request.scope.get(SCOPE_KEY)
    if found is None:
        raise LookupError("this route is not protected by a tokenward Authenticator")
    return found  # type: ignore[no-any-return]


def query_has_token(query: bytes) -> bool:
    """True when the query string has an ``access_token`` parameter (RFC 6750 sec. 2.3).

    The names are percent-decoded before comparing, so ``access%5Ftoken`` counts too, and
    compared case-insensitively: RFC 6750 sec. 2.3 names ``access_token``, but a server or
    framework that folds case could still hand ``ACCESS_TOKEN`` to an application, and a
    refusal costs nothing here (sec. 5.3: tokens in URLs leak into logs and ``Referer``).
    """
    lowered = query.lower()
    # Pre-test that cannot miss: any spelling of the name has "access" or a "%" escape.
    if b"access" not in lowered and b"%" not in lowered:
        return False
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return any(name.lower() == "access_token" for name, _ in pairs)


def set_state(scope: Scope, found: Principal | None) -> None:
    """``request.state.principal`` (Starlette keeps ``request.state`` in ``scope["state"]``)."""
    state = scope.get("state")
    if state is None:
        scope["state"] = state = {}
    state["principal"] = found
