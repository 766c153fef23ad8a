"""The example app (examples/remote_jwks_app.py) against a live JWKS endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tokenward.clock import FixedClock
from tokenward.keys import Key
from tokenward.tokens import TokenIssuer

JWKS_URL = "http://127.0.0.1:8000/.well-known/jwks.json"
ISSUER, AUDIENCE = "http://127.0.0.1:8000", "tokenward"


class JwksServer:
    """A tokenward-like JWKS endpoint whose key list the test can rotate."""

    def __init__(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.app = Starlette(routes=[Route("/.well-known/jwks.json", self.jwks)])

    async def jwks(self, request: Request) -> JSONResponse:
        self.requests += 1
        return JSONResponse({"keys": [key.public().to_jwk() for key in self.keys]})


@pytest.fixture(scope="module")
def rs1() -> Key:
    return Key.generate("RS256", kid="rs1")


@pytest.fixture(scope="module")
def rs2() -> Key:
    return Key.generate("RS256", kid="rs2")


@pytest.fixture(scope="module")
def example(script: Callable[[str], Any]) -> Any:
    """examples/remote_jwks_app.py, imported as a module."""
    return script("examples/remote_jwks_app.py")


@pytest.fixture
def server(rs1: Key) -> JwksServer:
    return JwksServer(rs1)


@pytest.fixture
async def client(
    example: Any, server: JwksServer, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    jwks_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app))
    app = example.create_app(
        jwks_url=JWKS_URL, issuer=ISSUER, audience=AUDIENCE, client=jwks_client, clock=clock
    )
    async with jwks_client, LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as c:
            yield c


def token(key: Key, clock: FixedClock, **kwargs: Any) -> str:
    issuer = TokenIssuer(key, issuer=ISSUER, audience=AUDIENCE, lifetime=900, clock=clock)
    return issuer.issue("alice", **kwargs).token


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_keys_are_loaded_at_startup(client: httpx.AsyncClient, server: JwksServer) -> None:
    assert server.requests == 1


async def test_protected_route_accepts_service_tokens(
    client: httpx.AsyncClient, rs1: Key, clock: FixedClock
) -> None:
    response = await client.get("/orders", headers=bearer(token(rs1, clock)))
    assert response.status_code == 200
    assert response.json()["owner"] == "alice"
    assert (await client.get("/orders")).status_code == 401


async def test_named_policy(client: httpx.AsyncClient, rs1: Key, clock: FixedClock) -> None:
    admin = await client.get("/admin/report", headers=bearer(token(rs1, clock, roles=["Admin"])))
    user = await client.get("/admin/report", headers=bearer(token(rs1, clock, roles=["User"])))
    assert (admin.status_code, user.status_code) == (200, 403)


async def test_key_rotation_reaches_the_app_through_one_refetch(
    client: httpx.AsyncClient, server: JwksServer, rs1: Key, rs2: Key, clock: FixedClock
) -> None:
    server.keys = [rs2, rs1]  # the service rotated: rs2 now signs
    response = await client.get("/orders", headers=bearer(token(rs2, clock)))
    assert response.status_code == 200
    assert server.requests == 2


async def test_unknown_kids_cannot_make_the_app_hammer_the_service(
    client: httpx.AsyncClient, server: JwksServer, clock: FixedClock
) -> None:
    for number in range(5):
        stranger = Key.generate("RS256", kid=f"stranger{number}")
        response = await client.get("/orders", headers=bearer(token(stranger, clock)))
        assert response.status_code == 401
    assert server.requests == 2  # start-up + one refresh, then the cooldown holds


async def test_foreign_hs256_token_is_refused(client: httpx.AsyncClient, clock: FixedClock) -> None:
    forged = token(Key.from_secret(b"x" * 32, alg="HS256", kid="rs1"), clock)
    assert (await client.get("/orders", headers=bearer(forged))).status_code == 401


async def test_openapi_of_the_example_is_valid(client: httpx.AsyncClient) -> None:
    from openapi_spec_validator import validate

    document = (await client.get("/openapi.json")).json()
    validate(document)
    assert {"BearerJWT": []} in document["paths"]["/orders"]["get"]["security"]


async def test_unreachable_jwks_is_503_not_500(example: Any, rs1: Key, clock: FixedClock) -> None:
    async def broken(request: Request) -> JSONResponse:
        return JSONResponse({"error": "down"}, status_code=500)

    down = Starlette(routes=[Route("/.well-known/jwks.json", broken)])
    jwks_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=down))
    app = example.create_app(
        jwks_url=JWKS_URL, issuer=ISSUER, audience=AUDIENCE, client=jwks_client, clock=clock
    )
    async with jwks_client, LifespanManager(app) as manager:  # start-up only logs a warning
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as c:
            response = await c.get("/orders", headers=bearer(token(rs1, clock)))
    assert response.status_code == 503
    assert response.json()["error"] == "jwks_unavailable"
    assert response.headers["retry-after"] == "5"
