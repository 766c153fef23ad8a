"""Request and response bodies of the service's HTTP API (documented in OpenAPI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tokenward.web.openapi import ErrorBody

__all__ = [
    "CsrfTokenResponse",
    "ErrorBody",
    "error_responses",
    "form_body_schema",
    "IntrospectionResponse",
    "LoginCookieResponse",
    "LoginRequest",
    "MeResponse",
    "RefreshRequest",
    "TokenResponse",
]

# Bounded inputs: a password or refresh token is never allowed to be a megabyte (L6, R12).
_MAX_USERNAME = 256
_MAX_PASSWORD = 1024
_MAX_REFRESH = 256


class LoginRequest(BaseModel):
    """``POST /auth/login``: extra members are ignored and never copied into claims (E13)."""

    model_config = ConfigDict(extra="ignore")

    username: str = Field(min_length=1, max_length=_MAX_USERNAME)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


class RefreshRequest(BaseModel):
    """``POST /auth/refresh`` and ``/auth/logout``; in cookie mode the body may be empty."""

    model_config = ConfigDict(extra="ignore")

    refresh_token: str | None = Field(None, max_length=_MAX_REFRESH)


class TokenResponse(BaseModel):
    """A new token pair (RFC 6749 sec. 5.1 plus absolute expiry times)."""

    access_token: str
    token_type: str = Field("Bearer", description="always Bearer (RFC 6750)")
    expires_in: int = Field(description="seconds until the access token expires")
    expires_at: int = Field(description="access token expiry, POSIX seconds")
    refresh_token: str
    refresh_expires_at: int = Field(description="refresh token idle expiry, POSIX seconds")


class LoginCookieResponse(BaseModel):
    """``POST /auth/login-cookie``: tokens travel in cookies; the CSRF token is echoed here."""

    token_type: str = "Cookie"  # noqa: S105
    expires_in: int
    expires_at: int
    refresh_expires_at: int
    csrf_token: str = Field(description="send back in X-CSRF-Token on unsafe requests")


class CsrfTokenResponse(BaseModel):
    """``GET /auth/csrf``: a pre-session CSRF token for the cookie login form."""

    csrf_token: str = Field(
        description="send back in X-CSRF-Token on POST /auth/login-cookie (the same value is "
        "set in the __Host-csrf cookie); only a login accepts it"
    )
    expires_in: int = Field(description="seconds the __Host-csrf cookie holding it lives")


class MeResponse(BaseModel):
    """``GET /me``: who the access token speaks for."""

    subject: str
    name: str | None
    roles: list[str]
    session_id: str | None
    claims: dict[str, Any] = Field(description="custom claims such as tenant")


class IntrospectionResponse(BaseModel):
    """RFC 7662 sec. 2.2; only ``active`` when the token is not active."""

    model_config = ConfigDict(extra="allow")

    active: bool


_STATUS_TEXT = {
    400: "Invalid request or grant (RFC 6749 sec. 5.2)",
    401: "Missing, invalid or expired credentials",
    403: "Forbidden (insufficient_scope, csrf_failed)",
    429: "Throttled; see Retry-After",
    503: "A backend is unavailable; see Retry-After",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for tokenward error statuses."""
    return {s: {"model": ErrorBody, "description": _STATUS_TEXT[s]} for s in statuses}


def form_body_schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting an ``application/x-www-form-urlencoded`` body (routes
    that parse the form themselves to answer with OAuth error bodies)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }
