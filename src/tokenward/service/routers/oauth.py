"""``/oauth``: token revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from tokenward.errors import InvalidRequest, InvalidToken, TokenwardError
from tokenward.service.deps import ServiceAuth, get_runtime
from tokenward.service.routers.auth import read_form
from tokenward.service.runtime import Runtime
from tokenward.service.schemas import IntrospectionResponse, error_responses, form_body_schema
from tokenward.web.errors import NO_STORE

__all__ = ["build_oauth_router", "introspect_token"]

log = logging.getLogger("tokenward.service")

_MAX_TOKEN = 8192
_REFRESH_PREFIX = "rt_"


def _form_schema(extra: dict[str, Any]) -> dict[str, Any]:
    return form_body_schema(["token"], {"token": {"type": "string"}, **extra})


_HINT = {"token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]}}


def _token_param(form: Any) -> str | None:
    values = form.getlist("token")
    if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
        return None
    token: str = values[0]
    return token if len(token) <= _MAX_TOKEN else ""


async def introspect_token(runtime: Runtime, token: str) -> dict[str, Any]:
    """RFC 7662 sec. 2.2 response for ``token``; ``{"active": False}`` for anything invalid."""
    if token.startswith(_REFRESH_PREFIX):
        try:
            record = await runtime.auth.refresh_info(token)
        except TokenwardError:
            record = None
        if record is None or record.used_at is not None or record.revoked_at is not None:
            return {"active": False}
        expires_at = min(record.expires_at, record.family_expires_at)
        if expires_at <= runtime.clock.now():
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "sub": record.user_id,
            "iss": runtime.settings.token.issuer,
            "exp": int(expires_at),
            "iat": int(record.created_at),
            "sid": record.family_id,
        }
    try:
        principal = await runtime.validator.avalidate(token)
    except InvalidToken as exc:
        log.info("introspection: inactive token", extra={"code": exc.code})
        return {"active": False}
    claims = principal.claims
    body: dict[str, Any] = {"active": True, "token_type": "access_token"}
    for name in ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "name", "roles"):
        if name in claims:
            value = claims[name]
            body[name] = list(value) if isinstance(value, tuple) else value
    if principal.name is not None:
        body["username"] = principal.name
    return body


def build_oauth_router(auth: ServiceAuth) -> APIRouter:
    """Routes: ``POST /oauth/revoke``, ``POST /oauth/introspect``."""
    router = APIRouter(prefix="/oauth", tags=["oauth"])

    @router.post(
        "/revoke",
        status_code=200,
        summary="Revoke a refresh or access token (RFC 7009)",
        openapi_extra=_form_schema(_HINT),
        responses=error_responses(400),
    )
    async def revoke(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
        form = await read_form(request)
        token = _token_param(form)
        if token is None:
            # RFC 7009 sec. 2.2.1: a request without the token parameter is malformed.
            raise InvalidRequest("missing parameter token")
        if token:
            try:
                await runtime.auth.revoke_token(token)
            except InvalidToken:
                pass
            except TokenwardError as exc:
                if exc.code != "invalid_grant":
                    raise
        # RFC 7009 sec. 2.2: 200 whether or not the token was valid, known or expired.
        return Response(status_code=200, headers=NO_STORE)

    @router.post(
        "/introspect",
        response_model=IntrospectionResponse,
        summary="Introspect a token (RFC 7662); caller needs the introspection role",
        openapi_extra=_form_schema(_HINT),
        responses=error_responses(400, 401, 403),
    )
    async def introspect(
        request: Request,
        caller: Any = Depends(auth.introspector),
        runtime: Runtime = Depends(get_runtime),
    ) -> JSONResponse:
        form = await read_form(request)
        token = _token_param(form)
        body = {"active": False} if not token else await introspect_token(runtime, token)
        return JSONResponse(body, headers=NO_STORE)

    return router
