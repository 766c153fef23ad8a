"""The runtime object graph: no secret in its repr, no connection left open after exit."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tokenward.clock import FixedClock
from tokenward.errors import InvalidCredentials
from tokenward.service import Settings, open_runtime
from tokenward.sessions.passwords import PasswordHasher
from tokenward.web import CsrfProtector


async def test_runtime_repr_holds_no_secret(
    make_settings: Callable[..., Settings], clock: FixedClock
) -> None:
    secret = b"c" * 40
    settings = make_settings({"cookies": {"csrf_secret": secret.decode()}})
    async with open_runtime(settings, clock=clock, hasher=PasswordHasher.for_testing()) as rt:
        # The runtime's protector uses the configured key: what another instance sharing
        # it issues verifies here.
        rt.csrf.verify(CsrfProtector(secret, allowed_origins=()).issue("sid-1"), "sid-1")
        text = repr(rt)
        private = rt.keys.active_key.to_jwk(private=True)
    assert text.startswith("Runtime(")
    b64 = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    for needle in (secret.decode(), secret.hex(), b64, repr(secret)):
        assert needle not in text
    assert private["d"] not in text  # the signing key's private part


@pytest.mark.services
async def test_runtime_closes_every_redis_pool_it_opened(
    make_settings: Callable[..., Settings],
    clock: FixedClock,
    redis_url: str,
    unique_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The login throttle shares the runtime client's pool, so the service and every CLI
    command leave no Redis connection behind when open_runtime exits."""
    from redis.asyncio import connection

    pools: list[Any] = []
    original = connection.ConnectionPool.__init__

    def record(self: Any, *args: Any, **kwargs: Any) -> None:
        pools.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(connection.ConnectionPool, "__init__", record)
    settings = make_settings({"redis": {"url": redis_url, "key_prefix": f"{unique_prefix}:"}})
    async with open_runtime(settings, clock=clock, hasher=PasswordHasher.for_testing()) as rt:
        with pytest.raises(InvalidCredentials):  # counted by the Redis throttle
            await rt.auth.login("nobody", "wrong password")
        assert rt.redis is not None
        in_use = [p for p in pools if _connected(p)]
        assert in_use == [rt.redis.connection_pool]  # one pool, the runtime's
    assert pools and not any(_connected(p) for p in pools)


def _connected(pool: Any) -> bool:
    conns = [*pool._available_connections, *pool._in_use_connections]
    return any(c.is_connected for c in conns)


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@pytest.mark.parametrize(
    ("overrides", "client_id"), [({}, "tokenward"), ({"client_id": "web"}, "web")]
)
async def test_access_tokens_carry_the_client_id(
    start_service: Callable[..., Any], overrides: dict[str, str], client_id: str
) -> None:
    """RFC 9068 sec. 2.2: client_id is a required claim of a JWT access token."""
    service = await start_service({"token": overrides})
    pair = await service.login()
    assert _claims(pair["access_token"])["client_id"] == client_id
    # the validator accepts what the issuer signs
    me = await service.client.get(
        "/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.status_code == 200
