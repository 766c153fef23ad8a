"""The runtime object graph: no secret in its repr, no connection left open after exit."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tokenward.clock import FixedClock
from tokenward.errors import InvalidCredentials
from tokenward.service import Settings, open_runtime
from tokenward.sessions.passwords import PasswordHasher


async def test_runtime_repr_holds_no_secret(
    make_settings: Callable[..., Settings], clock: FixedClock
) -> None:
    secret = b"c" * 40
    settings = make_settings({"cookies": {"csrf_secret": secret.decode()}})
    async with open_runtime(settings, clock=clock, hasher=PasswordHasher.for_testing()) as rt:
        assert rt.csrf_secret == secret
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
