"""Network round trips per operation on PostgreSQL (and Redis), counted by a TCP proxy
(issue 3 sec. 6), down to a full ``AuthService.refresh``.

Every client->server burst the proxy sees is one round trip (a burst split by TCP can only
over-count), so these tests can only pass if the claimed bounds really hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tokenward.clock import FixedClock
from tokenward.keys import Key
from tokenward.sessions import AuthService, LoginThrottle, PasswordHasher
from tokenward.storage.redis import FallbackRevocationStore, RedisRevocationStore, create_redis
from tokenward.storage.sql import SqlStore, create_engine
from tokenward.tokens import TokenIssuer

from .conftest import open_sql_store
from .records import NOW, make_refresh, successor


@dataclass
class Proxy:
    port: int = 0
    bursts: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, on_data: Any) -> None:
    try:
        while data := await reader.read(65536):
            on_data()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def counting_proxy(host: str, port: int) -> AsyncIterator[Proxy]:
    """A TCP proxy on 127.0.0.1 to ``host:port`` counting client->server bursts."""
    proxy = Proxy()

    def count() -> None:
        proxy.bursts += 1

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        for task in (
            asyncio.create_task(_pump(client_r, server_w, count)),
            asyncio.create_task(_pump(server_r, client_w, lambda: None)),
        ):
            proxy.tasks.add(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for task in proxy.tasks:
            task.cancel()
        await asyncio.gather(*proxy.tasks, return_exceptions=True)
        await server.wait_closed()


@pytest.fixture
async def pg_proxy(pg_url: str) -> AsyncIterator[Proxy]:
    target = make_url(pg_url)
    async with counting_proxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        yield proxy


@pytest.fixture
async def proxied_store(
    pg_url: str, unique_prefix: str, pg_proxy: Proxy
) -> AsyncIterator[SqlStore]:
    async with open_sql_store(pg_url, unique_prefix):
        url = make_url(pg_url).set(host="127.0.0.1", port=pg_proxy.port)
        engine = create_engine(url, schema=unique_prefix, pool_size=1, max_overflow=0)
        try:
            yield SqlStore(engine)
        finally:
            await engine.dispose()


async def _rotate_once(store: SqlStore) -> None:
    old = make_refresh()
    await store.create_refresh(old)
    looked_up = await store.get_refresh(old.id)
    assert looked_up is not None
    assert (await store.rotate(old.id, successor(looked_up), now=NOW + 60)).rotated


async def test_rotation_costs_two_round_trips(proxied_store: SqlStore, pg_proxy: Proxy) -> None:
    await _rotate_once(proxied_store)  # warm up: connect, type codecs, prepared statements
    old = make_refresh()
    await proxied_store.create_refresh(old)
    before = pg_proxy.bursts
    looked_up = await proxied_store.get_refresh(old.id)
    assert looked_up is not None
    assert (await proxied_store.rotate(old.id, successor(looked_up), now=NOW + 60)).rotated
    assert pg_proxy.bursts - before <= 2


async def test_revocation_check_is_one_round_trip(proxied_store: SqlStore, pg_proxy: Proxy) -> None:
    args: dict[str, Any] = {"issuer": "i", "jti": "j", "sid": "s", "sub": "u", "iat": NOW}
    await proxied_store.revoke_session("s", expires_at=NOW + 60)
    assert await proxied_store.is_revoked(**args)  # warm up
    before = pg_proxy.bursts
    assert await proxied_store.is_revoked(**args)
    assert pg_proxy.bursts - before == 1


async def test_proxy_counts_transaction_round_trips(
    proxied_store: SqlStore, pg_proxy: Proxy
) -> None:
    # the meter itself: an explicit transaction (BEGIN, 2 UPDATEs, COMMIT) shows up as such
    old = make_refresh()
    await proxied_store.create_refresh(old)
    await proxied_store.revoke_family(old.family_id, now=NOW, reason="warm-up")
    before = pg_proxy.bursts
    await proxied_store.revoke_family(old.family_id, now=NOW, reason="again")
    assert pg_proxy.bursts - before >= 4


# --- the user-visible rotation: a full AuthService.refresh (issue 3 sec. 6) --- #


def _auth_service(store: SqlStore, revocations: Any, clock: FixedClock) -> AuthService:
    issuer = TokenIssuer(
        Key.generate("ES256"), issuer="https://rt", audience="api", lifetime=600, clock=clock
    )
    return AuthService(
        users=store,
        refresh=store,
        revocations=revocations,
        throttle=LoginThrottle.memory(),
        issuer=lambda: issuer,
        hasher=PasswordHasher.for_testing(),
        clock=clock,
    )


async def _refresh_round_trips(
    service: AuthService, clock: FixedClock, *proxies: Proxy
) -> list[int]:
    """Round trips per proxy of one successful refresh (after a warm-up refresh)."""
    user = await service.create_user("alice", "correct horse battery")
    pair = await service.start_session(user)
    clock.advance(1)
    pair = await service.refresh(pair.refresh_token)  # warm up: prepared statements
    clock.advance(1)
    before = [p.bursts for p in proxies]
    rotated = await service.refresh(pair.refresh_token)
    counts = [p.bursts - b for p, b in zip(proxies, before, strict=True)]
    assert rotated.session_id == pair.session_id and rotated.refresh_token != pair.refresh_token
    return counts


async def test_full_refresh_costs_at_most_two_round_trips(
    proxied_store: SqlStore, pg_proxy: Proxy, clock: FixedClock
) -> None:
    # token + user + session and subject denylist in one read, then the rotate CTE
    service = _auth_service(proxied_store, proxied_store, clock)
    [pg] = await _refresh_round_trips(service, clock, pg_proxy)
    assert pg <= 2, pg


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[Proxy]:
    target = make_url(redis_url)
    async with counting_proxy(target.host or "127.0.0.1", target.port or 6379) as proxy:
        yield proxy


async def test_full_refresh_with_redis_cache_needs_no_redis_round_trip(
    proxied_store: SqlStore,
    pg_proxy: Proxy,
    redis_proxy: Proxy,
    unique_prefix: str,
    clock: FixedClock,
) -> None:
    client = create_redis(f"redis://127.0.0.1:{redis_proxy.port}/0")
    cache = RedisRevocationStore(client, key_prefix=unique_prefix, clock=clock)
    revocations = FallbackRevocationStore(cache, proxied_store, clock=clock)
    try:
        assert await revocations.rebuild()
        service = _auth_service(proxied_store, revocations, clock)
        pg, redis = await _refresh_round_trips(service, clock, pg_proxy, redis_proxy)
        assert pg <= 2 and redis == 0, (pg, redis)
    finally:
        await cache.clear()
        await client.aclose()
