"""How an :class:`Authenticator` plugs into FastAPI as a dependency.

:class:`Guard` is a FastAPI dependency (``Depends(auth.current_principal)``). It is a
``SecurityBase``, so FastAPI marks the route with the OAuth2 scheme in OpenAPI without a
second dependency, and it is ``async``: no threadpool hop. The faster route class (no
dependency at all) lives in :mod:`tokenward.web.routing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.security.base import SecurityBase
from starlette.requests import Request

from tokenward.errors import AccessDenied
from tokenward.validation import Principal

from ._request import SCOPE_KEY

if TYPE_CHECKING:
    from .authenticator import Authenticator
    from .policies import Policy

__all__ = ["Guard"]


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
