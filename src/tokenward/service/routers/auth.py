"""``/auth``: login (JSON, OAuth form, cookie), refresh, logout.

Every response carrying tokens is ``Cache-Control: no-store`` (RFC 6749 sec. 5.1). Errors go
through ``tokenward.web``'s one error map; the OAuth token endpoint re-labels a bad password
as ``invalid_grant`` as RFC 6749 sec. 5.2 requires.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from tokenward.errors import (
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    UnsupportedGrantType,
)
from tokenward.service.deps import ServiceAuth, client_ip, get_runtime, user_agent
from tokenward.service.runtime import Runtime
from tokenward.service.schemas import (
    LoginCookieResponse,
    LoginRequest,
    RefreshRequest,
    TokenResponse,
    error_responses,
    form_body_schema,
)
from tokenward.validation import Principal
from tokenward.web.errors import TokenwardHTTPException, unauthorized_response

__all__ = ["build_auth_router", "token_body"]

log = logging.getLogger("tokenward.service")

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM_FIELD = 1024


def token_body(pair: Any, now: float) -> dict[str, Any]:
    """The JSON of a token pair (RFC 6749 sec. 5.1 plus absolute expiries)."""
    access = pair.access
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": max(0, int(access.expires_at - now)),
        "expires_at": int(access.expires_at),
        "refresh_token": pair.refresh_token,
        "refresh_expires_at": int(pair.refresh_expires_at),
    }


async def _login(runtime: Runtime, request: Request, username: str, password: str) -> Any:
    # AuthService records the login outcome metrics itself (outcomes=Metrics).
    pair = await runtime.auth.login(
        username, password, ip=client_ip(request), user_agent=user_agent(request)
    )
    request.app.state.metrics.tokens_issued.inc()
    return pair


async def _refresh(runtime: Runtime, request: Request, refresh_token: str) -> Any:
    pair = await runtime.auth.refresh(
        refresh_token, ip=client_ip(request), user_agent=user_agent(request)
    )
    request.app.state.metrics.tokens_issued.inc()
    return pair


def _form_field(form: Any, name: str, *, required: bool = True) -> str | None:
    values = form.getlist(name)
    if len(values) > 1:  # RFC 6749 sec. 3.2: parameters MUST NOT be repeated
        raise InvalidRequest(f"parameter {name} is repeated")
    value = values[0] if values else None
    if value is None or value == "":
        if required:
            raise InvalidRequest(f"missing parameter {name}")
        return None
    if not isinstance(value, str) or len(value) > _MAX_FORM_FIELD:
        raise InvalidRequest(f"invalid parameter {name}")
    return value


_TOKEN_FORM_SCHEMA = form_body_schema(
    ["grant_type"],
    {
        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
    },
)


async def read_form(request: Request) -> Any:
    """Parse an ``application/x-www-form-urlencoded`` body or raise ``InvalidRequest``."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("body must be application/x-www-form-urlencoded")
    try:
        return await request.form(max_files=0, max_fields=16)
    except Exception:  # malformed bodies of any kind are a client error
        raise InvalidRequest("malformed form body") from None


def build_auth_router(auth: ServiceAuth) -> APIRouter:
    """Routes under ``/auth`` (issue 4 sec. 2)."""
    router = APIRouter(prefix="/auth", tags=["auth"])

    @router.post(
        "/login",
        response_model=TokenResponse,
        summary="Log in with username and password (JSON)",
        responses=error_responses(400, 401, 429),
    )
    async def login(
        body: LoginRequest, request: Request, runtime: Runtime = Depends(get_runtime)
    ) -> JSONResponse:
        pair = await _login(runtime, request, body.username, body.password)
        return JSONResponse(token_body(pair, runtime.clock.now()), headers=_NO_STORE)

    @router.post(
        "/token",
        response_model=TokenResponse,
        summary="OAuth 2.0 token endpoint (RFC 6749 sec. 4.3 and 6)",
        responses=error_responses(400, 429),
        openapi_extra=_TOKEN_FORM_SCHEMA,
    )
    async def token(request: Request, runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
        form = await read_form(request)
        grant_type = _form_field(form, "grant_type")
        if grant_type == "password":
            username = _form_field(form, "username") or ""
            password = _form_field(form, "password") or ""
            try:
                pair = await _login(runtime, request, username, password)
            except InvalidCredentials:
                # RFC 6749 sec. 5.2: bad resource-owner credentials are invalid_grant.
                raise InvalidGrant("invalid username or password") from None
        elif grant_type == "refresh_token":
            pair = await _refresh(runtime, request, _form_field(form, "refresh_token") or "")
        else:
            raise UnsupportedGrantType("grant_type must be password or refresh_token")
        return JSONResponse(token_body(pair, runtime.clock.now()), headers=_NO_STORE)

    @router.post(
        "/refresh",
        response_model=TokenResponse,
        summary="Exchange a refresh token (JSON body, or the refresh cookie + X-CSRF-Token)",
        responses=error_responses(400, 403, 429),
    )
    async def refresh(
        request: Request,
        body: RefreshRequest | None = None,
        runtime: Runtime = Depends(get_runtime),
    ) -> Response:
        supplied = body.refresh_token if body is not None else None
        if supplied:
            pair = await _refresh(runtime, request, supplied)
            return JSONResponse(token_body(pair, runtime.clock.now()), headers=_NO_STORE)
        cookie_token = auth.refresh_cookie(request)
        if cookie_token is None:
            raise InvalidRequest("missing refresh_token")
        # K7: a cookie-borne refresh is an unsafe, cookie-authenticated request.
        await auth.check_cookie_refresh(request, runtime, cookie_token)
        pair = await _refresh(runtime, request, cookie_token)
        return auth.cookie_login_response(runtime, pair)

    @router.post(
        "/login-cookie",
        response_model=LoginCookieResponse,
        summary="Log in and receive __Host- cookies plus a CSRF token",
        responses=error_responses(400, 401, 403, 429),
    )
    async def login_cookie(
        body: LoginRequest, request: Request, runtime: Runtime = Depends(get_runtime)
    ) -> Response:
        auth.check_origin(request)  # login CSRF (security profile sec. 5.2)
        pair = await _login(runtime, request, body.username, body.password)
        return auth.cookie_login_response(runtime, pair)

    @router.post(
        "/logout",
        status_code=204,
        summary="End the current session (bearer, cookie or refresh token)",
        responses=error_responses(400, 401, 403),
    )
    async def logout(
        request: Request,
        body: RefreshRequest | None = None,
        runtime: Runtime = Depends(get_runtime),
    ) -> Response:
        refresh_token = body.refresh_token if body is not None else None
        principal = await auth.optional_principal(request)
        if principal is None and refresh_token is None:
            cookie_token = auth.refresh_cookie(request)
            if cookie_token is not None:
                await auth.check_cookie_refresh(request, runtime, cookie_token)
                refresh_token = cookie_token
        if principal is None and refresh_token is None:
            # No credentials at all: RFC 6750 sec. 3.1 challenge without an error code.
            raise TokenwardHTTPException(InvalidToken(), unauthorized_response())
        await runtime.auth.logout(refresh_token=refresh_token, principal=principal)
        response = Response(status_code=204, headers=_NO_STORE)
        auth.clear_cookies(response)
        return response

    @router.post(
        "/logout-all",
        status_code=204,
        summary="End every session of the current user",
        responses=error_responses(401, 403),
    )
    async def logout_all(
        principal: Principal = Depends(auth.principal), runtime: Runtime = Depends(get_runtime)
    ) -> Response:
        await runtime.auth.logout_all(principal.subject)
        response = Response(status_code=204, headers=_NO_STORE)
        auth.clear_cookies(response)
        return response

    return router
