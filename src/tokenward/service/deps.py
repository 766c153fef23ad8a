"""FastAPI dependencies of the service, built from ``tokenward.web``'s pieces.

:class:`ServiceAuth` holds the transports (bearer header first, then the ``__Host-`` access
cookie), the CSRF protector of the runtime and the named policies (``AdminOnly``,
``TenantScoped``, the introspection role). Its dependencies are FastAPI security
dependencies, so OpenAPI marks every protected route and Swagger's Authorize button works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from fastapi import Request
from fastapi.security.base import SecurityBase
from starlette.responses import Response

from tokenward.errors import AccessDenied, InvalidToken, TokenwardError
from tokenward.validation import Principal
from tokenward.web.csrf import CsrfProtector
from tokenward.web.errors import TokenwardHTTPException, error_response, unauthorized_response
from tokenward.web.openapi import SecuritySchemes
from tokenward.web.policies import ClaimPolicy, RolePolicy
from tokenward.web.transports import BearerTransport, CookieTransport

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tokenward.service.runtime import Runtime
    from tokenward.service.settings import Settings

__all__ = ["SAFE_METHODS", "ServiceAuth", "client_ip", "get_runtime", "user_agent"]

log = logging.getLogger("tokenward.service.auth")

#: RFC 9110 sec. 9.2.1: safe methods never change state, so they need no CSRF token
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_UA: Final = 512


def get_runtime(request: Request) -> Runtime:
    """The runtime opened by the app's lifespan."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_ip(request: Request) -> str | None:
    """The peer address (configure the ASGI server's proxy headers to see the real client)."""
    return request.client.host if request.client is not None else None


def user_agent(request: Request) -> str | None:
    value = request.headers.get("user-agent")
    return None if value is None else value[:_MAX_UA]


def _reject(exc: TokenwardError) -> TokenwardHTTPException:
    return TokenwardHTTPException(exc, error_response(exc))


class _Guard(SecurityBase):
    """A FastAPI security dependency: authenticate, then apply ``policy`` (if any)."""

    def __init__(
        self,
        auth: ServiceAuth,
        policy: Callable[[Principal], bool] | None,
        scheme_name: str,
        model: Any,
    ) -> None:
        self.model = model
        self.scheme_name = scheme_name
        self._auth = auth
        self._policy = policy

    async def __call__(self, request: Request) -> Principal:
        principal = await self._auth.authenticate(request)
        if self._policy is not None and not self._policy(principal):
            log.info(
                "policy refused", extra={"sub": principal.subject, "code": "insufficient_scope"}
            )
            raise _reject(AccessDenied())
        return principal


class ServiceAuth:
    """Authentication and authorization of the service's routes."""

    def __init__(self, settings: Settings) -> None:
        cookies = settings.cookies
        self.bearer = BearerTransport()
        self.cookies = CookieTransport(
            access_cookie=cookies.access_name,
            refresh_cookie=cookies.refresh_name,
            csrf_cookie=cookies.csrf_name,
        )
        self.schemes = SecuritySchemes(
            token_url="/auth/token",  # noqa: S106 - a URL, not a password
            access_cookie=cookies.access_name,
        )
        self._runtime: Runtime | None = None
        service = settings.service
        model = self.schemes.oauth2_model()
        name = self.schemes.oauth2_name
        #: any authenticated principal
        self.principal = _Guard(self, None, name, model)
        #: policy AdminOnly: the admin role (default ``Admin``)
        self.admin_only = _Guard(self, RolePolicy((service.admin_role,)), name, model)
        #: policy TenantScoped: a non-empty ``tenant`` claim
        self.tenant_scoped = _Guard(self, ClaimPolicy(("tenant",)), name, model)
        #: RFC 7662 callers: the configured introspection role
        self.introspector = _Guard(self, RolePolicy((service.introspection_role,)), name, model)

    def bind(self, runtime: Runtime) -> None:
        """Attach the opened runtime (called by the lifespan)."""
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the app's lifespan has not started")
        return self._runtime

    def install_openapi(self, app: FastAPI) -> None:
        """Declare the security schemes on ``app``'s OpenAPI document."""
        from fastapi.encoders import jsonable_encoder

        self.schemes.install(app)
        marked = app.openapi
        cache: dict[str, Any] = {}

        def openapi() -> dict[str, Any]:
            # JSON-normalise once (enum members in the scheme models) and cache the result.
            if "schema" not in cache:
                cache["schema"] = jsonable_encoder(marked())
            schema: dict[str, Any] = cache["schema"]
            return schema

        app.openapi = openapi  # type: ignore[method-assign]

    @property
    def csrf(self) -> CsrfProtector:
        csrf: CsrfProtector = self.runtime.csrf
        return csrf

    # --- authentication --- #

    async def authenticate(self, request: Request) -> Principal:
        """Validate the bearer header (which wins) or the access cookie.

        Cookie-authenticated unsafe requests must pass the CSRF check (profile sec. 5.2).
        Every invalid token gets the identical 401 (RFC 6750 sec. 3.1); the reason is logged
        with its code only, never the token.
        """
        scope = request.scope
        if b"access_token=" in scope.get("query_string", b""):
            # RFC 6750 sec. 5.3: tokens in URLs leak into logs; refuse instead of ignoring.
            raise _reject(InvalidToken("token in query string"))
        token = self.bearer.read_token(scope)
        via_cookie = False
        if token is None:
            token = self.cookies.read_token(scope)
            via_cookie = token is not None
        if token is None:
            raise TokenwardHTTPException(InvalidToken(), unauthorized_response())
        runtime = self.runtime
        metrics = request.app.state.metrics
        try:
            principal: Principal = await runtime.validator.avalidate(token)
        except InvalidToken as exc:
            metrics.validation(exc)
            log.info(
                "access token rejected",
                extra={"code": exc.code, "request_id": _request_id(request)},
            )
            raise _reject(exc) from None
        metrics.validation(None)
        if via_cookie and request.method not in SAFE_METHODS:
            header, cookie = self.cookies.read_csrf(scope)
            self._csrf_check(request, header=header, cookie=cookie, session_id=principal.session_id)
        request.state.principal = principal
        return principal

    async def optional_principal(self, request: Request, runtime: Runtime) -> Principal | None:
        """The principal when the request carries an access token (bearer or cookie)."""
        scope = request.scope
        if self.bearer.read_token(scope) is None and self.cookies.read_token(scope) is None:
            return None
        return await self.authenticate(request)

    # --- cookie mode --- #

    def _csrf_check(
        self, request: Request, *, header: str | None, cookie: str | None, session_id: str | None
    ) -> None:
        try:
            self.csrf.check_request(
                request.scope, header_token=header, cookie_token=cookie, session_id=session_id
            )
        except TokenwardError as exc:
            log.warning(
                "csrf_failed",
                extra={
                    "event": "csrf_failed",
                    "code": exc.code,
                    "request_id": _request_id(request),
                },
            )
            raise

    def check_origin(self, request: Request) -> None:
        """The Fetch-Metadata / Origin layer alone (login CSRF, profile sec. 5.2)."""
        self.csrf.check_origin(request.scope)

    def refresh_cookie(self, request: Request) -> str | None:
        """The refresh-token cookie, or None."""
        return self.cookies.read_refresh_token(request.scope)

    async def check_cookie_refresh(
        self, request: Request, runtime: Runtime, refresh_token: str
    ) -> None:
        """K7: a refresh (or logout) driven by the refresh cookie needs the CSRF token bound
        to that refresh token's session, in the header and the cookie."""
        record = await runtime.auth.refresh_info(refresh_token)
        header, cookie = self.cookies.read_csrf(request.scope)
        self._csrf_check(
            request,
            header=header,
            cookie=cookie,
            session_id=None if record is None else record.family_id,
        )

    def cookie_login_response(self, runtime: Runtime, pair: Any) -> Response:
        """JSON body (expiries + CSRF token) and the three ``Set-Cookie`` headers."""
        from fastapi.responses import JSONResponse

        now = runtime.clock.now()
        csrf_token = self.csrf.issue(pair.session_id)
        access_age = max(0, int(pair.access.expires_at - now))
        refresh_age = max(0, int(pair.refresh_expires_at - now))
        body = {
            "token_type": "Cookie",
            "expires_in": access_age,
            "expires_at": int(pair.access.expires_at),
            "refresh_expires_at": int(pair.refresh_expires_at),
            "csrf_token": csrf_token,
        }
        response = JSONResponse(body, headers={"Cache-Control": "no-store"})
        self.cookies.set_login_cookies(
            response,
            access_token=pair.access.token,
            access_max_age=access_age,
            refresh_token=pair.refresh_token,
            refresh_max_age=refresh_age,
            csrf_token=csrf_token,
        )
        return response

    def clear_cookies(self, response: Response) -> None:
        """Expire the login cookies with their original attributes (K8)."""
        self.cookies.clear_cookies(response)


def _request_id(request: Request) -> str | None:
    state: Any = request.scope.get("state", {})
    value = state.get("request_id") if isinstance(state, dict) else None
    return value if isinstance(value, str) else None
