"""Protect Starlette/FastAPI routes with tokenward access tokens.

The pieces (the tokenward service is built from the same ones):

* :class:`Authenticator`: validator + transports + CSRF + named policies; gives FastAPI
  dependencies (``current_principal``, ``optional_principal``, ``require_roles``,
  ``require_claims``, ``policy(name)``) and a fast route class (``protected_router``).
* :class:`BearerTransport`, :class:`CookieTransport`: where tokens travel.
* :class:`CsrfProtector`: signed, session-bound double-submit tokens + origin checks.
* :class:`RolePolicy`, :class:`ClaimPolicy`, :class:`AllOf`: ready-made policies.
* :mod:`tokenward.web.errors`: the one map from error codes to HTTP responses.

See ``docs/integration.md``.
"""

from __future__ import annotations

from tokenward.web.authenticator import SAFE_METHODS, Authenticator, FailureHook, principal
from tokenward.web.csrf import CsrfProtector
from tokenward.web.errors import (
    TokenwardHTTPException,
    error_body,
    error_response,
    install_error_handlers,
    status_for,
)
from tokenward.web.guards import Guard
from tokenward.web.openapi import ErrorBody, SecuritySchemes
from tokenward.web.policies import AllOf, ClaimPolicy, Policy, RolePolicy
from tokenward.web.transports import BearerTransport, CookieTransport

__all__ = [
    # authentication
    "Authenticator",
    "FailureHook",
    "Guard",
    "SAFE_METHODS",
    "principal",
    # transports and CSRF
    "BearerTransport",
    "CookieTransport",
    "CsrfProtector",
    # policies
    "AllOf",
    "ClaimPolicy",
    "Policy",
    "RolePolicy",
    # errors and OpenAPI
    "ErrorBody",
    "SecuritySchemes",
    "TokenwardHTTPException",
    "error_body",
    "error_response",
    "install_error_handlers",
    "status_for",
]
