"""``/auth``: login (JSON, OAuth form, cookie), refresh, logout, pre-session CSRF token.

Every response carrying tokens is ``Cache-Control: no-store`` + ``Pragma: no-cache`` (RFC 6749
sec. 5.1; ``tokenward.web.errors.NO_STORE``). Errors go through ``tokenward.web``'s one error
map; the OAuth token endpoint re-labels a bad password as ``invalid_grant`` as RFC 6749
sec. 5.2 requires.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from tokenward.errors import (
    CSRFError,
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    UnsupportedGrantType,
)
from tokenward.observability import security_event
from tokenward.service.deps import ServiceAuth, client_ip, get_runtime, user_agent
from tokenward.service.runtime import Runtime
from tokenward.service.schemas import (
    CsrfTokenResponse,
    LoginCookieResponse,
    LoginRequest,
    RefreshRequest,
    TokenResponse,
    error_responses,
    form_body_schema,
)
from tokenward.validation import Principal
from tokenward.web.errors import NO_STORE, TokenwardHTTPException, unauthorized_response

__all__ = ["build_auth_router", "token_body"]

log = logging.getLogger("tokenward.service")

_MAX_FORM_FIELD = 1024
#: lifetime of the pre-session ``__Host-csrf`` cookie: long enough to fill in a login form
_PRE_SESSION_MAX_AGE = 3600

_LOGIN_COOKIE_DESCRIPTION = """\
Cookie-mode login. Login CSRF defence (security profile sec. 5.2, OWASP "Possible CSRF
Vulnerabilities in Login Forms"): first `GET /auth/csrf`, then send its token in
`X-CSRF-Token`; it must equal the `__Host-csrf` cookie and be a valid *pre-session* token
(a session-bound token is refused), and the request must pass the Fetch-Metadata / Origin
check. Any failure is 403 `csrf_failed`. On success the response sets `__Host-at`,
`__Secure-rt` and a new, session-bound `__Host-csrf` (also returned as `csrf_token`): the
pre-session token is no longer accepted anywhere.
"""

_LOGIN_COOKIE_EXTRA = {
    "parameters": [
        {
            "name": "X-CSRF-Token",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "the pre-session token from GET /auth/csrf",
        },
        {
            "name": "__Host-csrf",
            "in": "cookie",
            "required": True,
            "schema": {"type": "string"},
            "description": "set by GET /auth/csrf; must equal X-CSRF-Token",
        },
    ]
}


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


def _token_response(runtime: Runtime, pair: Any) -> JSONResponse:
    """A token pair as the bearer-mode JSON body, never cached (RFC 6749 sec. 5.1)."""
    return JSONResponse(token_body(pair, runtime.clock.now()), headers=NO_STORE)


def _logged_out(auth: ServiceAuth) -> Response:
    """204 for every successful logout, expiring the three cookies with the attributes they
    were set with (security profile 5.1, K8)."""
    response = Response(status_code=204, headers=NO_STORE)
    auth.clear_cookies(response)
    return response


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


def _login_csrf(auth: ServiceAuth, request: Request, *, pre_session: bool) -> None:
    """Login CSRF (security profile sec. 5.2): the Fetch-Metadata / Origin layer and, with
    ``pre_session``, the pre-session double submit (header == cookie, valid signature).

    :raises CSRFError: when a check fails (logged as the ``csrf_failed`` security event).
    """
    scope = request.scope
    try:
        if pre_session:
            header, cookie = auth.cookies.read_csrf(scope)
            auth.csrf.check_pre_session_request(scope, header_token=header, cookie_token=cookie)
        else:
            auth.csrf.check_origin(scope)
    except CSRFError as exc:
        security_event(log, "csrf_failed", code=exc.code, reason=exc.description)
        raise


async def _logout_principal(
    auth: ServiceAuth, request: Request, *, has_refresh: bool
) -> Principal | None:
    """The access principal of a logout (None without one).

    An expired or invalid access token must not keep a session alive: when the request still
    names its session by a refresh token (body, or the refresh cookie), the stale credential
    is ignored and the refresh token ends the family (RFC 7009 sec. 2.1: revoking a refresh
    token ends its grant). Without a refresh token it is refused (401) as everywhere; CSRF
    and backend failures are always raised.
    """
    try:
        return await auth.optional_principal(request)
    except TokenwardHTTPException as exc:
        usable = has_refresh or auth.refresh_cookie(request) is not None
        if not isinstance(exc.error, InvalidToken) or not usable:
            raise
        return None


def build_auth_router(auth: ServiceAuth) -> APIRouter:
    """Routes under ``/auth`` (issue 4 sec. 2)."""
    router = APIRouter(prefix="/auth", tags=["auth"])

    @router.post(
        "/login",
        response_model=TokenResponse,
        summary="Log in with username and password (JSON)",
        description=(
            "Bearer mode: the tokens are returned in the body and no cookie is set, so no "
            "CSRF token is needed (a browser never adds an Authorization header on its own). "
            "Browser apps using cookies log in with `GET /auth/csrf` + "
            "`POST /auth/login-cookie` instead."
        ),
        responses=error_responses(400, 401, 429),
    )
    async def login(
        body: LoginRequest, request: Request, runtime: Runtime = Depends(get_runtime)
    ) -> JSONResponse:
        pair = await _login(runtime, request, body.username, body.password)
        return _token_response(runtime, pair)

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
        return _token_response(runtime, pair)

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
            return _token_response(runtime, pair)
        cookie_token = auth.refresh_cookie(request)
        if cookie_token is None:
            raise InvalidRequest("missing refresh_token")
        # K7: a cookie-borne refresh is an unsafe, cookie-authenticated request.
        await auth.check_cookie_refresh(request, runtime, cookie_token)
        pair = await _refresh(runtime, request, cookie_token)
        return auth.cookie_login_response(runtime, pair)

    @router.get(
        "/csrf",
        response_model=CsrfTokenResponse,
        summary="Pre-session CSRF token for the cookie login form (sets __Host-csrf)",
        description=(
            "Safe: stores nothing on the server. Returns a pre-session CSRF token, bound to a "
            "random pre-session id, and sets it as the `__Host-csrf` cookie (`Secure; "
            "SameSite=Strict; Path=/`, readable by script). Send it in `X-CSRF-Token` to "
            "`POST /auth/login-cookie`; no other check accepts it. Fetching it replaces a "
            "session's CSRF cookie, so call it from the login form only. Cross-site requests "
            "(`Sec-Fetch-Site: cross-site`, a foreign `Origin`) get 403 `csrf_failed` and no "
            "cookie."
        ),
        responses=error_responses(403),
    )
    async def csrf_token(request: Request) -> Response:
        # Safe method (RFC 9110 sec. 9.2.1): nothing is stored, only a cookie is set. A
        # cross-site navigation (W3C Fetch Metadata sec. 2.1) must not overwrite the
        # victim's session-bound CSRF cookie, so the origin layer applies here too.
        _login_csrf(auth, request, pre_session=False)
        token = auth.csrf.issue_pre_session()
        body = {"csrf_token": token, "expires_in": _PRE_SESSION_MAX_AGE}
        response = JSONResponse(body, headers=NO_STORE)
        auth.cookies.set_csrf_cookie(response, token, max_age=_PRE_SESSION_MAX_AGE)
        return response

    @router.post(
        "/login-cookie",
        response_model=LoginCookieResponse,
        summary="Log in and receive __Host- cookies plus a CSRF token (needs GET /auth/csrf)",
        description=_LOGIN_COOKIE_DESCRIPTION,
        responses=error_responses(400, 401, 403, 429),
        openapi_extra=_LOGIN_COOKIE_EXTRA,
    )
    async def login_cookie(
        body: LoginRequest, request: Request, runtime: Runtime = Depends(get_runtime)
    ) -> Response:
        # Before the password is checked: a refused request costs no hash, no throttle count.
        _login_csrf(auth, request, pre_session=True)
        pair = await _login(runtime, request, body.username, body.password)
        # New session id and a new, session-bound CSRF token (OWASP: rotate at login).
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
        principal = await _logout_principal(auth, request, has_refresh=bool(refresh_token))
        if principal is None and not refresh_token:
            cookie_token = auth.refresh_cookie(request)
            if cookie_token is not None:
                # A cookie-borne logout is an unsafe cookie-authenticated request: the CSRF
                # token bound to that refresh token's session is required (profile K7).
                await auth.check_cookie_refresh(request, runtime, cookie_token)
                refresh_token = cookie_token
        if principal is None and not refresh_token:
            # No credentials at all: RFC 6750 sec. 3.1 challenge without an error code.
            raise TokenwardHTTPException(InvalidToken(), unauthorized_response())
        await runtime.auth.logout(refresh_token=refresh_token, principal=principal)
        return _logged_out(auth)

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
        return _logged_out(auth)

    return router
