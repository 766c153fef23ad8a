"""``/.well-known``: the JWKS and the RFC 8414 / OpenID discovery metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tokenward.service.deps import get_runtime
from tokenward.service.runtime import Runtime

__all__ = ["build_wellknown_router", "server_metadata"]


def server_metadata(runtime: Runtime, base_url: str) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414 sec. 2), also served as OpenID configuration.

    Endpoint URLs are built from the issuer when it is an https/http URL (RFC 8414 sec. 3:
    the metadata lives under the issuer), else from the request's base URL.
    """
    settings = runtime.settings
    issuer = settings.token.issuer or ""
    base = issuer if issuer.startswith(("https://", "http://")) else base_url
    base = base.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/auth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": ["password", "refresh_token"],
        # Only the token endpoint exists; no authorization endpoint, hence no response types.
        "response_types_supported": [],
        # RFC 8414 sec. 2: public clients only ("none"). No
        # token_endpoint_auth_signing_alg_values_supported: it applies to private_key_jwt /
        # client_secret_jwt, which this server does not accept.
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "service_documentation": f"{base}/docs",
    }


def build_wellknown_router() -> APIRouter:
    """Routes: ``GET /.well-known/jwks.json``, ``/oauth-authorization-server``,
    ``/openid-configuration``."""
    router = APIRouter(prefix="/.well-known", tags=["discovery"])

    @router.get("/jwks.json", summary="Public signing keys (RFC 7517)")
    async def jwks(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
        # KeySet.to_jwks never emits private members or oct keys (profile B9).
        body = runtime.keys.current_keys().to_jwks()
        max_age = runtime.settings.service.jwks_max_age
        return JSONResponse(body, headers={"Cache-Control": f"public, max-age={max_age}"})

    async def metadata(request: Request, runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
        body = server_metadata(runtime, str(request.base_url))
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=3600"})

    router.add_api_route(
        "/oauth-authorization-server",
        metadata,
        methods=["GET"],
        summary="Authorization server metadata (RFC 8414)",
    )
    router.add_api_route(
        "/openid-configuration",
        metadata,
        methods=["GET"],
        summary="The same metadata at the OpenID discovery path",
    )
    return router
