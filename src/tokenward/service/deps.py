"""FastAPI dependencies of the service, built from ``tokenward.web``'s pieces.

:class:`ServiceAuth` holds the transports (bearer header first, then the ``__Host-`` access
cookie), the CSRF protector of the runtime and the named policies (``AdminOnly``,
``TenantScoped``, the introspection role). Its dependencies are FastAPI security
dependencies, so OpenAPI marks every protected route and Swagger's Authorize button works.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from fastapi import Request
from fastapi.security.base import SecurityBase
from starlette.responses import Response

from tokenward.errors import InvalidToken, TokenwardError
from tokenward.validation import Principal
from tokenward.web import (
    Authenticator,
    BearerTransport,
    ClaimPolicy,
    CookieTransport,
    CsrfProtector,
    Policy,
    RolePolicy,
    SecuritySchemes,
)
from tokenward.web.errors import NO_STORE

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tokenward.observability import Metrics
    from tokenward.service.runtime import Runtime
    from tokenward.service.settings import Settings

__all__ = ["ServiceAuth", "client_ip", "get_runtime", "user_agent"]

log = logging.getLogger("tokenward.service.auth")

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


class _Guard(SecurityBase):
    """A FastAPI security dependency (OpenAPI marks the route) that delegates to the
    runtime's ``tokenward.web.Authenticator``: authenticate, CSRF for cookies, then
    ``policy``."""

    def __init__(self, auth: ServiceAuth, policy: Policy | None) -> None:
        self.model = auth.schemes.oauth2_model()
        self.scheme_name = auth.schemes.oauth2_name
        self._auth = auth
        self._policy = policy

    async def __call__(self, request: Request) -> Principal:
        auth = self._auth
        found = await auth.authenticator.resolve(request, self._policy)
        assert found is not None  # resolve raises unless optional
        auth.metrics.validation(None)
        return found


class ServiceAuth:
    """Authentication and authorization of the service's routes.

    The dependencies exist when the app is built; the ``Authenticator`` behind them is built
    from the runtime's validator and CSRF protector when the lifespan starts (:meth:`bind`).
    """

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        #: the app's metrics (validations are counted here)
        self.metrics = metrics
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
        service = settings.service
        #: the named policies (ASP.NET-style), registered once
        self.policies: dict[str, Policy] = {
            "AdminOnly": RolePolicy((service.admin_role,)),
            "TenantScoped": ClaimPolicy(("tenant",)),
            "Introspection": RolePolicy((service.introspection_role,)),
        }
        self._authenticator: Authenticator | None = None
        self._runtime: Runtime | None = None
        #: any authenticated principal
        self.principal = _Guard(self, None)
        #: policy AdminOnly: the admin role (default ``Admin``)
        self.admin_only = _Guard(self, self.policies["AdminOnly"])
        #: policy TenantScoped: a non-empty ``tenant`` claim
        self.tenant_scoped = _Guard(self, self.policies["TenantScoped"])
        #: RFC 7662 callers: the configured introspection role
        self.introspector = _Guard(self, self.policies["Introspection"])

    def bind(self, runtime: Runtime) -> None:
        """Build the ``Authenticator`` over the opened runtime (called by the lifespan)."""

        metrics = self.metrics

        def on_failure(request: Request, exc: TokenwardError) -> None:
            if isinstance(exc, InvalidToken):
                metrics.validation(exc)

        self._runtime = runtime
        self._authenticator = Authenticator(
            runtime.validator,
            # Header first: when both are present the Authorization header wins (issue 4).
            transports=(self.bearer, self.cookies),
            csrf=runtime.csrf,
            policies=self.policies,
            on_failure=on_failure,
            logger=log,
        )

    @property
    def authenticator(self) -> Authenticator:
        if self._authenticator is None:
            raise RuntimeError("the app's lifespan has not started")
        return self._authenticator

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the app's lifespan has not started")
        return self._runtime

    def install_openapi(self, app: FastAPI) -> None:
        """Declare the security schemes on ``app``'s OpenAPI document."""
        self.schemes.install(app)

    @property
    def csrf(self) -> CsrfProtector:
        csrf: CsrfProtector = self.runtime.csrf
        return csrf

    async def optional_principal(self, request: Request) -> Principal | None:
        """The principal when the request carries an access token (bearer or cookie),
        None without credentials; invalid credentials are refused like everywhere."""
        return await self.authenticator.resolve(request, None, optional=True)

    # --- cookie mode --- #

    def refresh_cookie(self, request: Request) -> str | None:
        """The refresh-token cookie, or None."""
        return self.cookies.read_refresh_token(request.scope)

    async def check_cookie_refresh(
        self, request: Request, runtime: Runtime, refresh_token: str
    ) -> None:
        """K7: a refresh (or logout) driven by the refresh cookie needs the CSRF token bound
        to that refresh token's session, in the header and the cookie."""
        record = await runtime.auth.refresh_info(refresh_token)
        session_id = None if record is None else record.family_id
        self.authenticator.check_csrf(request, session_id)

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
        response = JSONResponse(body, headers=NO_STORE)
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
