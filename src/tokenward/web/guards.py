"""How an :class:`Authenticator` plugs into FastAPI: dependencies and a route class.

* :class:`Guard` is a FastAPI dependency (``Depends(auth.current_principal)``). It is a
  ``SecurityBase``, so FastAPI marks the route with the OAuth2 scheme in OpenAPI without a
  second dependency, and it is ``async``: no threadpool hop.
* :func:`make_route_class` builds an ``APIRoute`` subclass whose request handler
  authenticates before FastAPI resolves any dependency. No dependency at all is added, which
  is what keeps a protected route close to the speed of an unprotected one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from starlette.requests import Request
from starlette.responses import Response

from tokenward.errors import AccessDenied
from tokenward.validation import Principal

from ._request import SCOPE_KEY
from .errors import TokenwardHTTPException
from .openapi import error_responses

if TYPE_CHECKING:
    from .authenticator import Authenticator
    from .policies import Policy

__all__ = ["Guard", "make_route_class"]


class Guard(SecurityBase):
    """A FastAPI dependency resolving to the request's :class:`Principal`.

    Inside a route already protected by the route class it reuses the principal found
    there instead of validating twice; the ``check`` still runs.
    """

    def __init__(
        self, authenticator: Authenticator, check: Policy | None, *, optional: bool = False
    ) -> None:
        self.model = authenticator.schemes.oauth2_model()
        self.scheme_name = authenticator.schemes.oauth2_name
        self._auth = authenticator
        self._check = check
        self._optional = optional

    async def __call__(self, request: Request) -> Principal | None:
        found = request.scope.get(SCOPE_KEY)
        if found is None:
            return await self._auth.resolve(request, self._check, optional=self._optional)
        if self._check is not None and not self._check(found):
            raise self._auth._refuse(request, AccessDenied(), found)
        return found  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Guard(check={self._check!r}, optional={self._optional})"


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def make_route_class(
    authenticator: Authenticator, check: Policy | None, optional: bool
) -> type[APIRoute]:
    """An ``APIRoute`` subclass protecting its endpoint with ``authenticator``.

    The subclass is created per call (FastAPI instantiates route classes itself, so the
    configuration lives on the class, never in a module-level registry).
    """
    resolve = authenticator.resolve
    security = authenticator.schemes.requirements()
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
