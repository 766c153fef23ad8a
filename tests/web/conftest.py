"""Fixtures for tokenward.web: real keys, real tokens, a small FastAPI app per test.

Every test app runs through ``httpx.ASGITransport`` inside ``asgi_lifespan.LifespanManager``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from _web_support import AUDIENCE, CSRF_SECRET, ISSUER, ORIGIN, Denylist, build_app
from asgi_lifespan import LifespanManager

from tokenward.clock import FixedClock
from tokenward.keys import Key, KeySet
from tokenward.tokens import TokenIssuer
from tokenward.validation import ValidationPolicy
from tokenward.web import (
    Authenticator,
    BearerTransport,
    ClaimPolicy,
    CookieTransport,
    CsrfProtector,
    RolePolicy,
)


@pytest.fixture(scope="session")
def hs_secret() -> bytes:
    return b"k" * 32


@pytest.fixture(scope="session")
def hs_key(hs_secret: bytes) -> Key:
    return Key.from_secret(hs_secret, alg="HS256", kid="hs1")


@pytest.fixture(scope="session")
def rs_key() -> Key:
    return Key.generate("RS256", kid="rs1")


@pytest.fixture
def policy() -> ValidationPolicy:
    return ValidationPolicy(issuers=ISSUER, audiences=AUDIENCE, algorithms=("HS256", "RS256"))


@pytest.fixture
def keys(hs_key: Key, rs_key: Key) -> KeySet:
    return KeySet([hs_key, rs_key.public()])


@pytest.fixture
def issuer(hs_key: Key, clock: FixedClock) -> TokenIssuer:
    return TokenIssuer(hs_key, issuer=ISSUER, audience=AUDIENCE, lifetime=900, clock=clock)


@pytest.fixture
def rs_issuer(rs_key: Key, clock: FixedClock) -> TokenIssuer:
    return TokenIssuer(rs_key, issuer=ISSUER, audience=AUDIENCE, lifetime=900, clock=clock)


@pytest.fixture
def denylist() -> Denylist:
    return Denylist()


@pytest.fixture
def csrf() -> CsrfProtector:
    return CsrfProtector(CSRF_SECRET, allowed_origins=[ORIGIN])


@pytest.fixture
def cookie_transport() -> CookieTransport:
    return CookieTransport()


@pytest.fixture
def auth(
    keys: KeySet,
    policy: ValidationPolicy,
    clock: FixedClock,
    denylist: Denylist,
    csrf: CsrfProtector,
    cookie_transport: CookieTransport,
) -> Authenticator:
    return Authenticator(
        keys,
        policy,
        clock=clock,
        revocation=denylist,
        transports=(BearerTransport(), cookie_transport),
        csrf=csrf,
        policies={
            "AdminOnly": RolePolicy(("Admin",)),
            "TenantScoped": ClaimPolicy(("tenant",)),
            "Alice": lambda p: p.subject == "alice",
        },
    )


@pytest.fixture
async def client(auth: Authenticator) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(auth)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as c:
            yield c
