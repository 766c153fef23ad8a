"""``Authenticator``: find, validate and authorize the access token of a request.

One object per app, built once::

    auth = Authenticator(keys, policy, policies={"AdminOnly": RolePolicy(("Admin",))})
    auth.install(app)                                  # error handlers + OpenAPI schemes

    @auth.route(app, "/me")                            # fastest: no FastAPI dependency
    async def me(request: Request) -> dict:
        return {"sub": principal(request).subject}
    router = auth.protected_router(prefix="/orders")   # the same for a whole router

    @app.get("/admin", dependencies=[Depends(auth.policy("AdminOnly"))])   # Depends style
    async def admin() -> dict: ...

Every failure is logged with its reason code (and the ``jti`` when known), never the token,
and answered with the one generic response of :mod:`tokenward.web.errors`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.types import Scope

from tokenward.errors import (
    AccessDenied,
    ConfigurationError,
    CSRFError,
    InvalidToken,
    KeySetUnavailable,
    MalformedToken,
    TokenwardError,
)
from tokenward.keys import Key, KeySet
from tokenward.observability import security_event
from tokenward.validation import Principal, RevocationCheck, TokenValidator, ValidationPolicy

from ._request import SAFE_METHODS, SCOPE_KEY, principal, query_has_token, set_state
from .csrf import CsrfProtector
from .errors import TokenwardHTTPException, error_response, install_error_handlers
from .errors import unauthorized_response as _unauthorized
from .openapi import SecuritySchemes
from .policies import ClaimPolicy, Policy, RolePolicy, combine
from .routing import ProtectedRoutes
from .transports import BearerTransport, CookieTransport

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tokenward.keys.remote import RemoteKeySet
    from tokenward.validation import KeySource

    from .guards import Guard

__all__ = ["SAFE_METHODS", "SCOPE_KEY", "Authenticator", "FailureHook", "principal"]

#: called with the request and the error for every refused request (metrics, audit)
FailureHook = Callable[[Request, TokenwardError], None]


class Authenticator(ProtectedRoutes):
    """Authenticates requests with tokenward access tokens.

    :param source: a ready :class:`TokenValidator`, or the keys to build one from (a
        :class:`Key`, :class:`KeySet` or ``KeySource`` such as a key manager or
        ``RemoteKeySet``), in which case ``policy`` is required.
    :param policy: the :class:`ValidationPolicy` (only with keys).
    :param transports: where tokens are looked for, in order; default bearer header only.
        Put ``BearerTransport`` first: when a request carries both, the header wins and
        the cookie is ignored (security profile 5.2).
    :param csrf: required with a :class:`CookieTransport`: every unsafe request
        authenticated by cookie must pass its check.
    :param policies: named policies (``Principal -> bool``), registered once.
    :param on_failure: called for every refused request (cannot change the response).
    :param logger: where refusals are logged (default ``tokenward.web``).
    :param clock: passed to the validator built from keys.
    :param revocation: revocation check passed to the validator built from keys.
    :param realm: optional ``realm`` of the ``WWW-Authenticate`` challenges.
    :param token_url: token endpoint for the OpenAPI OAuth2 password flow.
    :raises ConfigurationError: for an inconsistent configuration.
    """

    def __init__(
        self,
        source: TokenValidator | Key | KeySet | KeySource,
        policy: ValidationPolicy | None = None,
        *,
        transports: Iterable[BearerTransport | CookieTransport] | None = None,
        csrf: CsrfProtector | None = None,
        policies: Mapping[str, Policy] | None = None,
        on_failure: FailureHook | None = None,
        logger: logging.Logger | None = None,
        clock: Any | None = None,
        revocation: RevocationCheck | None = None,
        realm: str | None = None,
        token_url: str = "/auth/token",
    ) -> None:
        if isinstance(source, TokenValidator):
            if policy is not None or revocation is not None or clock is not None:
                raise ConfigurationError("pass policy/clock/revocation to the TokenValidator")
            validator = source
            self._source: Key | KeySet | KeySource | None = None
        elif policy is None:
            raise ConfigurationError("a ValidationPolicy is required to validate tokens")
        else:
            validator = TokenValidator(source, policy, clock=clock, revocation=revocation)
            self._source = source
        #: the validator every token goes through
        self.validator = validator
        # Await only what must be awaited: an async-only revocation check (SQL, Redis) or a
        # remote key set, whose scheduled refresh only avalidate() performs.
        self._await = validator.needs_await
        self._validate = validator.validate
        self._avalidate = validator.avalidate
        self._transports = tuple((BearerTransport(),) if transports is None else transports)
        if not self._transports:
            raise ConfigurationError("at least one transport is required")
        cookie = next((t for t in self._transports if isinstance(t, CookieTransport)), None)
        if cookie is not None and csrf is None:
            # Cookies ride along on cross-site requests: no CSRF check, no cookie auth.
            raise ConfigurationError("a CookieTransport needs a CsrfProtector (csrf=...)")
        #: the cookie transport, if any (login routes use it to set and clear cookies)
        self.cookie_transport: CookieTransport | None = cookie
        #: the CSRF protector (login routes use it to issue tokens)
        self.csrf = csrf
        self._on_failure = on_failure
        self._log = logger if logger is not None else logging.getLogger("tokenward.web")
        self._realm = realm
        #: OpenAPI security schemes (see :meth:`install`)
        self.schemes = SecuritySchemes(
            token_url=token_url, access_cookie=None if cookie is None else cookie.access_cookie
        )
        from .guards import Guard  # guards.py imports this module for typing only

        self._guard_type = Guard
        named = dict(policies or {})
        for name, check in named.items():
            if not isinstance(name, str) or not name or not callable(check):
                raise ConfigurationError(f"policy {name!r} must be a callable Principal -> bool")
        self._policies: Mapping[str, Policy] = MappingProxyType(named)
        self._policy_guards: Mapping[str, Guard] = MappingProxyType(
            {name: Guard(self, check) for name, check in named.items()}
        )
        #: dependency: the authenticated :class:`Principal` (401 without a valid token)
        self.current_principal: Guard = Guard(self, None)
        #: dependency: the :class:`Principal`, or None when the request has no credentials
        self.optional_principal: Guard = Guard(self, None, optional=True)

    @classmethod
    def from_jwks_url(
        cls,
        url: str,
        policy: ValidationPolicy,
        *,
        refresh_interval: float = 3600,
        unknown_kid_cooldown: float = 300,
        client: Any | None = None,
        **kwargs: Any,
    ) -> Authenticator:
        """An authenticator whose keys come from a tokenward service's JWKS URL.

        Keys are fetched on first use (or by :meth:`startup`), refreshed every
        ``refresh_interval`` seconds and, at most once per ``unknown_kid_cooldown``, when a
        token names an unknown ``kid`` (key rotation). ``kwargs`` go to the constructor.
        """
        from tokenward.keys.remote import RemoteKeySet

        remote = RemoteKeySet(
            url,
            refresh_interval=refresh_interval,
            unknown_kid_cooldown=unknown_kid_cooldown,
            clock=kwargs.get("clock"),
            client=client,
        )
        return cls(remote, policy, **kwargs)

    # --- lifecycle --- #

    @property
    def remote_keys(self) -> RemoteKeySet | None:
        """The remote key set when built by :meth:`from_jwks_url`."""
        from tokenward.keys.remote import RemoteKeySet

        return self._source if isinstance(self._source, RemoteKeySet) else None

    async def startup(self, *, require_keys: bool = False) -> None:
        """Fetch a remote key set now instead of on the first request.

        :raises KeySetUnavailable: only when ``require_keys`` and the fetch failed.
        """
        remote = self.remote_keys
        if remote is None:
            return
        try:
            await remote.aget_keys()
        except KeySetUnavailable as exc:
            if require_keys:
                raise
            self._log.warning("JWKS not loaded at start-up", extra={"code": exc.code})

    async def aclose(self) -> None:
        """Release the remote key set's HTTP client, if any."""
        remote = self.remote_keys
        if remote is not None:
            await remote.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """A lifespan context: :meth:`startup` on entry, :meth:`aclose` on exit."""
        await self.startup()
        try:
            yield
        finally:
            await self.aclose()

    def install(self, app: FastAPI) -> None:
        """Install the error handlers and the OpenAPI security schemes on ``app``."""
        install_error_handlers(app, realm=self._realm)
        self.schemes.install(app)

    # --- the hot path --- #

    async def authenticate(self, scope: Scope) -> Principal | None:
        """Find and validate the token of ``scope``; run the CSRF check for cookies.

        :returns: the principal, or None when the request carries no credentials at all.
        :raises TokenwardError: ``InvalidToken`` (any reason), ``CSRFError``, or a backend
            error (``StorageUnavailable``, ``KeySetUnavailable``).
        """
        query = scope.get("query_string")
        if query and query_has_token(query):
            # RFC 6750 sec. 2.3/5.3: tokens in URLs leak; refused even beside a header.
            raise MalformedToken("access token in the query string")
        for transport in self._transports:
            token = transport.read_token(scope)
            if token is not None:
                break
        else:
            return None
        if not token:
            raise MalformedToken("malformed credentials")
        # The sync path skips a coroutine per request; it is taken only when nothing needs
        # awaiting (no async revocation check, no remote key set to refresh).
        principal_ = await self._avalidate(token) if self._await else self._validate(token)
        if transport.uses_cookies and scope["method"] not in SAFE_METHODS:
            self._check_cookie_csrf(scope, transport, principal_)  # type: ignore[arg-type]
        return principal_

    def _check_cookie_csrf(
        self, scope: Scope, transport: CookieTransport, principal_: Principal
    ) -> None:
        assert self.csrf is not None
        header, cookie = transport.read_csrf(scope)
        try:
            self.csrf.check_request(
                scope, header_token=header, cookie_token=cookie, session_id=principal_.session_id
            )
        except CSRFError as exc:
            exc.jti = principal_.jti  # type: ignore[attr-defined]  # for the log line
            raise

    def check_csrf(self, request: Request, session_id: str | None) -> None:
        """The full CSRF check for an unsafe cookie request that is not authenticated by
        the access cookie (the refresh and logout endpoints, profile K7).

        :raises CSRFError: when it fails (the failure is logged).
        :raises ConfigurationError: when no cookie transport is configured.
        """
        if self.cookie_transport is None or self.csrf is None:
            raise ConfigurationError("no CookieTransport/CsrfProtector configured")
        header, cookie = self.cookie_transport.read_csrf(request.scope)
        try:
            self.csrf.check_request(
                request.scope, header_token=header, cookie_token=cookie, session_id=session_id
            )
        except CSRFError as exc:
            self._record(request, exc, None)
            raise

    async def resolve(
        self, request: Request, check: Policy | None = None, *, optional: bool = False
    ) -> Principal | None:
        """Authenticate ``request`` and apply ``check``; leave the principal in the scope.

        :returns: the principal, or None (only when ``optional`` and no credentials).
        :raises TokenwardHTTPException: carrying the complete error response.
        """
        scope = request.scope
        try:
            found = await self.authenticate(scope)
        except TokenwardError as exc:
            raise self._refuse(request, exc) from None
        if found is None:
            if optional:
                set_state(scope, None)
                return None
            self._record(request, None, None)
            raise TokenwardHTTPException(
                InvalidToken("no credentials"), _unauthorized(realm=self._realm)
            )
        if check is not None and not check(found):
            raise self._refuse(request, AccessDenied(), found)
        scope[SCOPE_KEY] = found
        set_state(scope, found)
        return found

    def _refuse(
        self, request: Request, exc: TokenwardError, found: Principal | None = None
    ) -> TokenwardHTTPException:
        self._record(request, exc, found)
        return TokenwardHTTPException(exc, error_response(exc, realm=self._realm))

    def _record(
        self, request: Request, exc: TokenwardError | None, found: Principal | None
    ) -> None:
        code = "no_credentials" if exc is None else exc.code
        # The jti only, never the token (RFC 6750 sec. 5.3). InvalidToken.jti is set only
        # once the signature verified, so an attacker cannot plant a value in the log.
        jti = found.jti if found is not None else getattr(exc, "jti", None)
        if isinstance(exc, CSRFError):
            security_event(self._log, "csrf_failed", code=code, jti=jti, reason=exc.description)
        else:
            extra = {"event": "request_refused", "code": code, "jti": jti}
            self._log.info("request refused: %s", code, extra=extra)
        hook = self._on_failure
        if hook is not None and exc is not None:
            hook(request, exc)

    # --- dependencies and routes --- #

    def require_roles(self, *roles: str) -> Guard:
        """Dependency: a principal with at least one of ``roles`` (else 403)."""
        return self._guard_type(self, RolePolicy(tuple(roles)))

    def require_claims(self, *names: str, **values: Any) -> Guard:
        """Dependency: a principal holding every claim in ``names`` and every
        ``claim=value`` in ``values`` (an array claim must contain the value), else 403."""
        return self._guard_type(self, ClaimPolicy(tuple(names), values))

    def policy(self, name: str) -> Guard:
        """Dependency for the named policy registered in the constructor.

        :raises ConfigurationError: for an unknown name (at route definition time).
        """
        try:
            return self._policy_guards[name]
        except KeyError:
            raise ConfigurationError(f"unknown policy {name!r}") from None

    def requirement(
        self,
        *,
        policy: str | None = None,
        roles: Iterable[str] = (),
        claims: Iterable[str] = (),
    ) -> Policy | None:
        """The combined check for a named policy, roles (any of) and required claims."""
        if policy is not None and policy not in self._policies:
            raise ConfigurationError(f"unknown policy {policy!r}")
        named = None if policy is None else self._policies[policy]
        return combine(named, roles=tuple(roles), claims=tuple(claims))
