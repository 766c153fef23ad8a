"""An app that trusts a running tokenward service, knowing only its JWKS URL.

The service signs access tokens; this app fetches the service's public keys from
``/.well-known/jwks.json`` (refreshed hourly, and at most once per cooldown when a token
names a key it has not seen: that is how a key rotation reaches it) and protects its own
routes with them. No shared secret, no call to the service per request.

Run against ``make run`` (the service on port 8000)::

    TOKENWARD_JWKS_URL=http://127.0.0.1:8000/.well-known/jwks.json \\
    TOKENWARD_ISSUER=http://127.0.0.1:8000 TOKENWARD_AUDIENCE=tokenward \\
    python examples/remote_jwks_app.py          # serves on http://127.0.0.1:8001

See examples/README.md for the curl commands.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI, Request

from tokenward.validation import Principal, ValidationPolicy
from tokenward.web import Authenticator, ClaimPolicy, RolePolicy, principal


def create_app(
    *,
    jwks_url: str,
    issuer: str,
    audience: str,
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA"),
    client: Any = None,
    clock: Any = None,
) -> FastAPI:
    """The example app. ``client`` (an ``httpx.AsyncClient``) and ``clock`` are for tests."""
    policy = ValidationPolicy(issuers=issuer, audiences=audience, algorithms=algorithms)
    auth = Authenticator.from_jwks_url(
        jwks_url,
        policy,
        client=client,
        clock=clock,
        policies={"AdminOnly": RolePolicy(("Admin",)), "TenantScoped": ClaimPolicy(("tenant",))},
    )
    # The lifespan loads the JWKS at start-up and closes the HTTP client at shutdown.
    app = FastAPI(title="orders (protected by tokenward)", lifespan=auth.lifespan)
    auth.install(app)  # tokenward error bodies + Swagger "Authorize" button

    # The fast way: every route of this router is authenticated before it runs.
    orders = auth.protected_router(prefix="/orders", tags=["orders"])

    @orders.get("")
    async def list_orders(request: Request) -> dict[str, Any]:
        user = principal(request)
        return {"owner": user.subject, "orders": [{"id": 1, "item": "tea"}]}

    app.include_router(orders)

    # The Depends way, with a named policy.
    @app.get("/admin/report", tags=["admin"])
    async def admin_report(user: Principal = Depends(auth.policy("AdminOnly"))) -> dict[str, Any]:
        return {"report": "all good", "requested_by": user.subject}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn

    app = create_app(
        jwks_url=os.environ.get(
            "TOKENWARD_JWKS_URL", "http://127.0.0.1:8000/.well-known/jwks.json"
        ),
        issuer=os.environ.get("TOKENWARD_ISSUER", "http://127.0.0.1:8000"),
        audience=os.environ.get("TOKENWARD_AUDIENCE", "tokenward"),
    )
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8001")))


if __name__ == "__main__":
    main()
