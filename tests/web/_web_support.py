"""Helpers shared by the tokenward.web tests (imported by conftest and test modules)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from fastapi import Depends, FastAPI, Request

from tokenward.validation import Principal
from tokenward.web import Authenticator, principal

ISSUER = "https://auth.example"
AUDIENCE = "api"
ORIGIN = "https://app.example"
CSRF_SECRET = b"c" * 32


class Denylist:
    """A revocation check by jti (sync-capable, like the in-memory store)."""

    def __init__(self) -> None:
        self.jtis: set[str] = set()
        self.calls = 0

    def is_revoked_now(self, *, issuer: str, jti: str | None, **_: Any) -> bool:
        self.calls += 1
        return jti in self.jtis

    async def is_revoked(self, **kwargs: Any) -> bool:
        return self.is_revoked_now(**kwargs)


class AsyncDenylist:
    """An async-only revocation check (like SQL or Redis)."""

    def __init__(self) -> None:
        self.jtis: set[str] = set()
        self.calls = 0

    async def is_revoked(self, *, issuer: str, jti: str | None, **_: Any) -> bool:
        self.calls += 1
        return jti in self.jtis


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge_hs(header: dict[str, Any], claims: dict[str, Any] | bytes, secret: bytes) -> str:
    """A compact JWS HMAC'd with ``secret`` over arbitrary header and claims."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = b64(json.dumps(header).encode()) + "." + b64(payload)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def me_body(p: Principal) -> dict[str, Any]:
    return {"sub": p.subject, "roles": list(p.roles), "sid": p.session_id}


def build_app(auth: Authenticator) -> FastAPI:
    """Routes protected both ways: the fast route class and the Depends API."""
    app = FastAPI()
    auth.install(app)
    fast = auth.protected_router()

    @fast.get("/fast/me")
    async def fast_me(request: Request) -> dict[str, Any]:
        return me_body(principal(request))

    @fast.post("/fast/items")
    async def fast_create(request: Request) -> dict[str, Any]:
        return {"created_by": request.state.principal.subject}

    admin = auth.protected_router(policy="AdminOnly")

    @admin.get("/fast/admin")
    async def fast_admin(request: Request) -> dict[str, Any]:
        return me_body(principal(request))

    maybe = auth.protected_router(optional=True)

    @maybe.get("/fast/maybe")
    async def fast_maybe(request: Request) -> dict[str, Any]:
        found = request.state.principal
        return {"sub": None if found is None else found.subject}

    @auth.route(app, "/direct/admin", policy="AdminOnly")
    async def direct_admin(request: Request) -> dict[str, Any]:
        return me_body(principal(request))

    app.include_router(fast)
    app.include_router(admin)
    app.include_router(maybe)

    @app.get("/me")
    async def me(p: Principal = Depends(auth.current_principal)) -> dict[str, Any]:
        return me_body(p)

    async def items(p: Principal = Depends(auth.current_principal)) -> dict[str, Any]:
        return {"created_by": p.subject}

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        app.add_api_route("/items", items, methods=[method], operation_id=f"items_{method}")

    @app.get("/maybe")
    async def maybe_me(p: Principal | None = Depends(auth.optional_principal)) -> dict[str, Any]:
        return {"sub": None if p is None else p.subject}

    @app.get("/admin")
    async def admin_route(p: Principal = Depends(auth.policy("AdminOnly"))) -> dict[str, Any]:
        return me_body(p)

    @app.get("/tenant")
    async def tenant(p: Principal = Depends(auth.policy("TenantScoped"))) -> dict[str, Any]:
        return {"tenant": p.claim("tenant")}

    @app.get("/alice", dependencies=[Depends(auth.policy("Alice"))])
    async def alice_only() -> dict[str, str]:
        return {"ok": "alice"}

    @app.get("/roles")
    async def roles(
        p: Principal = Depends(auth.require_roles("Editor", "Admin")),
    ) -> dict[str, Any]:
        return me_body(p)

    @app.get("/claims")
    async def claims(
        p: Principal = Depends(auth.require_claims("tenant", plan="gold")),
    ) -> dict[str, Any]:
        return {"tenant": p.claim("tenant")}

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"ok": "public"}

    return app
