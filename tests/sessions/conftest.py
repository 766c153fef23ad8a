"""Session-service fixtures: an AuthService over memory, SQLite or PostgreSQL.

Each SQL test gets its own SQLite file or PostgreSQL schema (migrated with the shipped Alembic
migrations) and disposes its engines afterwards. Passwords use the cheap test parameters
except where a test checks the default parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tokenward.clock import FixedClock
from tokenward.errors import InvalidGrant, RevokedToken
from tokenward.keys import Key
from tokenward.sessions.config import SessionConfig, TokenPair
from tokenward.sessions.passwords import PasswordHasher
from tokenward.sessions.revocation import revocation_check_for
from tokenward.sessions.service import AuthService
from tokenward.sessions.throttle import LoginThrottle
from tokenward.tokens import TokenIssuer
from tokenward.validation import TokenValidator, ValidationPolicy

ISSUER = "https://auth.test"
AUDIENCE = "api"
PASSWORD = "correct horse battery"


@dataclass
class World:
    """Everything a session test touches; ``make_service`` builds more services on it."""

    store: Any
    clock: FixedClock
    key: Key
    validator: TokenValidator
    make_service: Callable[..., AuthService]
    sql_path: Path | None = None
    services: list[AuthService] = field(default_factory=list)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def signing_key() -> Key:
    return Key.generate("ES256")


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher.for_testing()
    yield hasher
    hasher.close()


@pytest.fixture
def world(
    make_store: Callable[..., Any],
    clock: FixedClock,
    signing_key: Key,
    hasher: PasswordHasher,
    backend: str,
    sqlite_url: str,
) -> World:
    store = make_store()
    issuer = TokenIssuer(signing_key, issuer=ISSUER, audience=AUDIENCE, lifetime=600, clock=clock)
    policy = ValidationPolicy(issuers=(ISSUER,), audiences=(AUDIENCE,), algorithms=("ES256",))
    validator = TokenValidator(
        signing_key.public(), policy, clock=clock, revocation=revocation_check_for(store)
    )

    def make_service(
        *,
        store_: Any = None,
        config: SessionConfig | None = None,
        throttle: LoginThrottle | None = None,
        hasher_: PasswordHasher | None = None,
        validator_: TokenValidator | None = None,
        users_: Any = None,
        revocations_: Any = None,
    ) -> AuthService:
        target = store if store_ is None else store_
        service = AuthService(
            users=target if users_ is None else users_,
            refresh=target,
            revocations=target if revocations_ is None else revocations_,
            throttle=LoginThrottle.memory() if throttle is None else throttle,
            issuer=lambda: issuer,
            hasher=hasher if hasher_ is None else hasher_,
            config=SessionConfig() if config is None else config,
            clock=clock,
            validator=validator if validator_ is None else validator_,
        )
        return service

    return World(
        store=store,
        clock=clock,
        key=signing_key,
        validator=validator,
        make_service=make_service,
        sql_path=Path(sqlite_url.split(":///", 1)[1]) if backend == "sqlite" else None,
    )


@pytest.fixture
def service(world: World) -> AuthService:
    return world.make_service()


@pytest.fixture
async def alice(service: AuthService) -> Any:
    return await service.create_user("Alice", PASSWORD, roles=("user",), claims={"tenant": "t1"})


async def assert_family_dead(world: World, service: AuthService, pairs: list[TokenPair]) -> None:
    """Every pair's refresh token is refused and its access token is revoked."""
    for pair in pairs:
        with pytest.raises(InvalidGrant):
            await service.refresh(pair.refresh_token)
        with pytest.raises(RevokedToken):
            await world.validator.avalidate(pair.access.token)
