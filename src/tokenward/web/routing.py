"""The route-class fast path: protected routes with no FastAPI dependency at all.

:func:`make_route_class` builds an ``APIRoute`` subclass whose request handler authenticates
before FastAPI resolves any dependency, which is what keeps a protected route close to the
speed of an unprotected one. :class:`ProtectedRoutes` gives :class:`~tokenward.web.Authenticator`
its ``route_class``, ``route`` and ``protected_router`` methods on top of it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from .errors import TokenwardHTTPException
from .openapi import SecuritySchemes, error_responses

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from tokenward.validation import Principal

    from .policies import Policy

__all__ = ["ProtectedRoutes", "Resolve", "make_route_class"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
#: ``Authenticator.resolve``: authenticate, authorize, leave the principal in the scope
Resolve = Callable[..., Coroutine[Any, Any, "Principal | None"]]


def make_route_class(
    resolve: Resolve, schemes: SecuritySchemes, check: Policy | None, optional: bool
) -> type[APIRoute]:
    """An ``APIRoute`` subclass that runs ``resolve(request, check, optional=...)`` first.

    The subclass is created per call (FastAPI instantiates route classes itself, so the
    configuration lives on the class, never in a module-level registry).
    """
    security = schemes.requirements()
    if optional:
        security = [*security, {}]  # OpenAPI: the empty requirement means "anonymous ok"

    class TokenwardRoute(APIRoute):
        """Authenticates (and authorizes) before the endpoint and its dependencies run."""

        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            extra = dict(kwargs.pop("openapi_extra", None) or {})
            extra["security"] = [*extra.get("security", []), *security]
            responses = {**error_responses(401, 403), **(kwargs.pop("responses", None) or {})}
            super().__init__(path, endpoint, openapi_extra=extra, responses=responses, **kwargs)

        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def protected(request: Request) -> Response:
                try:
                    await resolve(request, check, optional=optional)
                except TokenwardHTTPException as exc:
                    return exc.response
                return await handler(request)

            return protected

    return TokenwardRoute


class ProtectedRoutes:
    """Route registration for :class:`~tokenward.web.Authenticator` (which sets
    ``schemes`` and defines ``resolve`` and ``requirement``)."""

    schemes: SecuritySchemes
    resolve: Resolve
    requirement: Callable[..., Policy | None]

    def route_class(
        self,
        *,
        policy: str | None = None,
        roles: Iterable[str] = (),
        claims: Iterable[str] = (),
        optional: bool = False,
    ) -> type[APIRoute]:
        """An ``APIRoute`` subclass that authenticates before the endpoint runs, with no
        FastAPI dependency (the fastest integration). The endpoint reads the principal
        with :func:`~tokenward.web.principal` or ``request.state.principal``.

        :raises ConfigurationError: for an unknown policy name (at definition time).
        """
        check = self.requirement(policy=policy, roles=roles, claims=claims)
        return make_route_class(self.resolve, self.schemes, check, optional)

    def route(
        self,
        target: FastAPI | APIRouter,
        path: str,
        *,
        methods: Iterable[str] = ("GET",),
        policy: str | None = None,
        roles: Iterable[str] = (),
        claims: Iterable[str] = (),
        optional: bool = False,
        **route_kwargs: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a protected route directly on ``target`` (an app or a
        router), with :meth:`route_class`. Registering on the app itself skips FastAPI's
        per-request cost of included routers::

            @auth.route(app, "/me")
            async def me(request: Request) -> dict: ...
        """
        from fastapi import FastAPI

        router = target.router if isinstance(target, FastAPI) else target
        route_class = self.route_class(policy=policy, roles=roles, claims=claims, optional=optional)

        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            router.add_api_route(
                path,
                endpoint,
                methods=list(methods),
                route_class_override=route_class,
                **route_kwargs,
            )
            return endpoint

        return register

    def protected_router(
        self,
        *,
        policy: str | None = None,
        roles: Iterable[str] = (),
        claims: Iterable[str] = (),
        optional: bool = False,
        **router_kwargs: Any,
    ) -> APIRouter:
        """An ``APIRouter`` whose every route uses :meth:`route_class`."""
        from fastapi import APIRouter

        route_class = self.route_class(policy=policy, roles=roles, claims=claims, optional=optional)
        return APIRouter(route_class=route_class, **router_kwargs)
