"""Protected demo routes: ``/me``, ``/secret``, ``/admin/metrics``, ``/tenant/info``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from tokenward.service.deps import ServiceAuth, get_runtime
from tokenward.service.runtime import Runtime
from tokenward.service.schemas import MeResponse, error_responses

__all__ = ["build_demo_router", "custom_claims"]

#: claims that describe the token itself (``client_id``: the OAuth client, RFC 9068 sec. 2.2),
#: not the user; left out of ``/me``'s ``claims``
_TOKEN_CLAIMS = frozenset(
    {"iss", "sub", "aud", "client_id", "exp", "nbf", "iat", "jti", "name", "roles", "sid"}
)
_E401 = error_responses(401)
_E403 = error_responses(401, 403)


def custom_claims(claims: Any) -> dict[str, Any]:
    """The user's custom claims (e.g. ``tenant``) as plain JSON values."""
    return {k: _thaw(v) for k, v in claims.items() if k not in _TOKEN_CLAIMS}


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if hasattr(value, "items"):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def build_demo_router(auth: ServiceAuth) -> APIRouter:
    """The JwtPlayground-style routes, each protected by a ``tokenward.web`` dependency."""
    router = APIRouter(tags=["demo"])

    @router.get("/me", response_model=MeResponse, summary="Who am I", responses=_E401)
    async def me(principal: Any = Depends(auth.principal)) -> dict[str, Any]:
        return {
            "subject": principal.subject,
            "name": principal.name,
            "roles": list(principal.roles),
            "session_id": principal.session_id,
            "claims": custom_claims(principal.claims),
        }

    @router.get("/secret", summary="Any authenticated user", responses=_E401)
    async def secret(principal: Any = Depends(auth.principal)) -> dict[str, str]:
        return {"message": f"hello {principal.name or principal.subject}, this is protected"}

    @router.get("/admin/metrics", summary="Policy AdminOnly (role Admin)", responses=_E403)
    async def admin_metrics(
        request: Request,
        principal: Any = Depends(auth.admin_only),
        runtime: Runtime = Depends(get_runtime),
    ) -> dict[str, Any]:
        metrics = request.app.state.metrics
        users = await runtime.store.list_users()
        return {
            "users": len(users),
            "tokens_issued": metrics.value("tokens_issued_total"),
            "logins": {
                outcome: metrics.value("logins_total", {"outcome": outcome})
                for outcome in ("ok", "failed", "throttled")
            },
            "active_kid": runtime.keys.active_key.kid,
        }

    @router.get("/tenant/info", summary="Policy TenantScoped (tenant claim)", responses=_E403)
    async def tenant_info(principal: Any = Depends(auth.tenant_scoped)) -> dict[str, Any]:
        return {"tenant": principal.claim("tenant"), "subject": principal.subject}

    return router
