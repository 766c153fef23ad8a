"""OpenAPI security schemes, so Swagger UI's *Authorize* button works.

Three schemes (OpenAPI 3.1 sec. 4.8.27), offered as alternatives on every protected route:

* ``OAuth2Password``: OAuth 2.0 password flow against the token URL (RFC 6749 sec. 4.3);
  Swagger asks for a username and password, calls the token endpoint and then sends
  ``Authorization: Bearer``.
* ``BearerJWT``: HTTP bearer (RFC 6750); paste an access token.
* ``AccessCookie`` (only with a ``CookieTransport``): documents the access cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowPassword, OAuthFlows
from pydantic import BaseModel

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ErrorBody", "SecuritySchemes", "error_responses"]


class ErrorBody(BaseModel):
    """The body of every tokenward error response."""

    error: str
    error_description: str


_ERROR_TEXT = {
    401: "Missing, invalid or expired access token",
    403: "Forbidden (insufficient_scope, csrf_failed)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting tokenward error statuses."""
    return {s: {"model": ErrorBody, "description": _ERROR_TEXT[s]} for s in statuses}


def _inline_error(description: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
        "required": ["error", "error_description"],
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@dataclass(frozen=True, slots=True, kw_only=True)
class SecuritySchemes:
    """Names and parameters of the OpenAPI security schemes."""

    #: token endpoint for the OAuth2 password flow (relative URLs resolve against the docs)
    token_url: str = "/auth/token"  # noqa: S105
    oauth2_name: str = "OAuth2Password"
    bearer_name: str = "BearerJWT"
    cookie_name: str = "AccessCookie"
    #: the access cookie name when a cookie transport is configured
    access_cookie: str | None = None

    def oauth2_model(self) -> OAuth2Model:
        """The OAuth2 password-flow model (what a FastAPI ``SecurityBase`` carries)."""
        return OAuth2Model(flows=OAuthFlows(password=OAuthFlowPassword(tokenUrl=self.token_url)))

    def components(self) -> dict[str, dict[str, Any]]:
        """``components.securitySchemes`` entries."""
        schemes: dict[str, dict[str, Any]] = {
            self.oauth2_name: self.oauth2_model().model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
            self.bearer_name: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        }
        if self.access_cookie is not None:
            schemes[self.cookie_name] = {
                "type": "apiKey",
                "in": "cookie",
                "name": self.access_cookie,
                "description": "Access token cookie; unsafe methods also need X-CSRF-Token",
            }
        return schemes

    def requirements(self) -> list[dict[str, list[str]]]:
        """An operation's ``security``: any one of the schemes (OpenAPI: list = OR)."""
        return [{name: []} for name in self.components()]

    def install(self, app: FastAPI) -> None:
        """Make ``app.openapi()`` declare the schemes and mark every route protected by a
        tokenward dependency with all of them (FastAPI itself only names the first)."""
        original: Callable[[], dict[str, Any]] = app.openapi

        def openapi() -> dict[str, Any]:
            schema = original()
            self._apply(schema)
            return schema

        app.openapi = openapi  # type: ignore[method-assign]

    def _apply(self, schema: dict[str, Any]) -> None:
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.update(self.components())
        wanted = self.requirements()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                security = operation.get("security") if isinstance(operation, dict) else None
                if not security or not any(self.oauth2_name in req for req in security):
                    continue
                unique: list[dict[str, list[str]]] = []
                for requirement in [*security, *wanted]:
                    if requirement not in unique:
                        unique.append(requirement)
                operation["security"] = unique
                responses = operation.setdefault("responses", {})
                for status, description in _ERROR_TEXT.items():
                    responses.setdefault(str(status), _inline_error(description))
