"""Redis revocation cache: one round trip, TTLs, rebuild, and never failing open."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from tokenward.clock import FixedClock
from tokenward.errors import ConfigurationError, StorageUnavailable
from tokenward.storage.memory import MemoryStore
from tokenward.storage.redis import (
    DEFAULT_READY_TTL,
    FallbackRevocationStore,
    RedisRevocationStore,
    create_redis,
)
from tokenward.storage.sql import SqlStore

from .conftest import open_sql_store
from .records import NOW

ISS = "https://issuer.example"
READY_TTL = 30.0
CHECK = {"issuer": ISS, "jti": "j1", "sid": "s1", "sub": "u1", "iat": NOW}


@pytest.fixture
async def sql(tmp_path: Path) -> AsyncIterator[SqlStore]:
    async with open_sql_store(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", None) as store:
        yield store


@pytest.fixture
async def cache(redis_url: str, unique_prefix: str, clock: FixedClock) -> AsyncIterator[Any]:
    client = create_redis(redis_url)
    store = RedisRevocationStore(client, key_prefix=unique_prefix, clock=clock)
    try:
        yield store
    finally:
        await store.clear()
        await client.aclose()


@pytest.fixture
async def dead_cache(clock: FixedClock) -> AsyncIterator[RedisRevocationStore]:
    """A cache pointing at a closed local port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = create_redis(f"redis://127.0.0.1:{port}/0")
    try:
        yield RedisRevocationStore(client, key_prefix="tw_dead", clock=clock)
    finally:
        await client.aclose()


async def test_is_revoked_is_one_round_trip(cache: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await cache.rebuild_from(MemoryStore())
    await cache.revoke_session("s1", expires_at=NOW + 60)
    calls: list[tuple[Any, ...]] = []
    original = cache._redis.execute_command

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await original(*args, **kwargs)

    monkeypatch.setattr(cache._redis, "execute_command", counting)
    assert await cache.is_revoked(**CHECK)
    assert [c[0] for c in calls] == ["MGET"]


async def test_entries_expire_with_the_token(cache: Any, clock: FixedClock) -> None:
    await cache.revoke_jti(ISS, "j1", expires_at=NOW + 120)
    await cache.revoke_jti(ISS, "gone", expires_at=NOW)  # already expired: not written
    ttl = await cache._redis.pttl(cache._key("jti", ISS, "j1"))
    assert 110_000 < ttl <= 120_000
    assert await cache._redis.exists(cache._key("jti", ISS, "gone")) == 0


async def test_unloaded_cache_never_answers_not_revoked(cache: Any, sql: SqlStore) -> None:
    await sql.revoke_jti(ISS, "j1", expires_at=NOW + 60)
    with pytest.raises(StorageUnavailable):
        await cache.is_revoked(**CHECK)
    assert await cache.rebuild_from(sql) == 1
    assert await cache.is_revoked(**CHECK)


async def test_fallback_survives_redis_flush(cache: Any, sql: SqlStore, clock: FixedClock) -> None:
    store = FallbackRevocationStore(cache, sql, clock=clock)
    assert await store.rebuild()
    await store.revoke_jti(ISS, "j1", expires_at=NOW + 60)
    await cache.clear()  # Redis restarted empty
    assert await store.is_revoked(**CHECK)  # answered by SQL
    assert await store.is_revoked(**CHECK)  # cache rebuilt on the way
    assert await cache.is_revoked(**CHECK)


@pytest.mark.parametrize("fail_closed", [False, True])
async def test_redis_down_falls_back_to_sql_or_fails_closed(
    dead_cache: RedisRevocationStore, sql: SqlStore, clock: FixedClock, fail_closed: bool
) -> None:
    store = FallbackRevocationStore(dead_cache, sql, clock=clock, fail_closed=fail_closed)
    assert not await store.rebuild()
    await store.revoke_session("s1", expires_at=NOW + 60)  # durable write still happens
    assert await sql.is_revoked(**CHECK)
    if fail_closed:
        with pytest.raises(StorageUnavailable):
            await store.is_revoked(**CHECK)
    else:
        assert await store.is_revoked(**CHECK)
        assert not await store.is_revoked(**{**CHECK, "sid": "other"})
    clock.advance(10)  # circuit closes again; Redis is still down: same answer
    if fail_closed:
        with pytest.raises(StorageUnavailable):
            await store.is_revoked(**CHECK)
    else:
        assert await store.is_revoked(**CHECK)


class FailingWrites:
    """A ``redis.asyncio.Redis`` stand-in whose writes (the upsert script) and deletes fail,
    as when Redis times out on them; reads and the ready marker go through."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def register_script(self, _script: str) -> Any:
        async def timed_out(*_: Any, **__: Any) -> None:
            raise RedisTimeoutError("injected write timeout")

        return timed_out

    async def delete(self, *_: Any) -> int:
        raise RedisTimeoutError("injected delete timeout")


@pytest.fixture
async def two_instances(
    redis_url: str, unique_prefix: str, sql: SqlStore, clock: FixedClock
) -> AsyncIterator[tuple[FallbackRevocationStore, FallbackRevocationStore, Any]]:
    """Instances A (every Redis write of A fails) and B, sharing one Redis prefix and SQL."""
    client = create_redis(redis_url)
    cache_a = RedisRevocationStore(
        FailingWrites(client), key_prefix=unique_prefix, clock=clock, ready_ttl=READY_TTL
    )
    cache_b = RedisRevocationStore(
        client, key_prefix=unique_prefix, clock=clock, ready_ttl=READY_TTL
    )
    a = FallbackRevocationStore(cache_a, sql, clock=clock)
    b = FallbackRevocationStore(cache_b, sql, clock=clock)
    try:
        yield a, b, cache_b
    finally:
        await cache_b.clear()
        await client.aclose()


async def test_failed_cache_write_is_never_trusted(
    two_instances: tuple[FallbackRevocationStore, FallbackRevocationStore, Any],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, cache = two_instances
    assert await b.rebuild()
    assert not await b.is_revoked(**CHECK)

    async def broken(*_: Any, **__: Any) -> None:
        raise StorageUnavailable("injected")

    # A's write misses Redis but its marker delete succeeds: B stops trusting at once
    with monkeypatch.context() as patch:
        patch.setattr(a._cache, "revoke_jti", broken)
        patch.setattr(a._cache, "invalidate", cache.invalidate)
        await a.revoke_jti(ISS, "j1", expires_at=NOW + 60)
    assert await cache.lookup(**CHECK) is None
    assert await b.is_revoked(**CHECK)  # from SQL (bound 0)
    assert await b.is_revoked(**CHECK)  # B rebuilt the cache from SQL
    assert await cache.lookup(**CHECK) is True
    assert await a.is_revoked(**CHECK)


async def test_failed_write_and_invalidate_bounded_by_ready_ttl(
    two_instances: tuple[FallbackRevocationStore, FallbackRevocationStore, Any],
    clock: FixedClock,
) -> None:
    a, b, cache = two_instances
    assert await b.rebuild()
    clock.advance(READY_TTL / 2)  # the marker is half-way through its life
    await a.revoke_jti(ISS, "j1", expires_at=NOW + 600)  # Redis write and invalidate fail
    assert await a.is_revoked(**CHECK)  # the writer reads SQL at once
    # B may still use the (incomplete) cache, but never past the marker's deadline
    clock.advance(READY_TTL / 2)
    assert await cache.lookup(**CHECK) is None
    assert await b.is_revoked(**CHECK)  # from SQL
    assert await b.is_revoked(**CHECK)  # from the cache B rebuilt from SQL
    assert await cache.lookup(**CHECK) is True


async def test_rebuild_marker_counts_from_before_the_read(
    cache: Any, sql: SqlStore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a revocation committed while a rebuild reads SQL is covered by the same deadline
    original = sql.dump_revocations

    async def slow_dump(*, now: float) -> Any:
        dump = await original(now=now)
        clock.advance(10)
        return dump

    monkeypatch.setattr(sql, "dump_revocations", slow_dump)
    await cache.rebuild_from(sql)
    clock.advance(DEFAULT_READY_TTL - 10)
    assert await cache.lookup(**CHECK) is None
    ttl_ms = await cache._redis.pttl(cache._key("ready"))
    assert 0 < ttl_ms <= (DEFAULT_READY_TTL - 10) * 1000


@pytest.mark.parametrize("ready_ttl", [0, -1, 3601])
def test_ready_ttl_is_bounded(clock: FixedClock, ready_ttl: float) -> None:
    with pytest.raises(ConfigurationError):
        RedisRevocationStore(Any, key_prefix="tw", clock=clock, ready_ttl=ready_ttl)  # type: ignore[arg-type]
