"""RevocationStore contract over memory, SQLite, PostgreSQL, Redis and Redis-before-SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tokenward.clock import FixedClock
from tokenward.storage.memory import MemoryStore
from tokenward.storage.redis import FallbackRevocationStore, RedisRevocationStore, create_redis

from .conftest import open_sql_store
from .records import NOW

ISS = "https://issuer.example"
DURABLE = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=[*DURABLE, "redis", "redis+sql"])
async def revocations(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock, unique_prefix: str
) -> AsyncIterator[Any]:
    kind: str = request.param
    if kind == "memory":
        yield MemoryStore()
    elif kind == "sqlite":
        async with open_sql_store(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", None) as sql:
            yield sql
    elif kind == "postgres":
        async with open_sql_store(request.getfixturevalue("pg_url"), unique_prefix) as sql:
            yield sql
    else:
        client = create_redis(request.getfixturevalue("redis_url"))
        cache = RedisRevocationStore(client, key_prefix=unique_prefix, clock=clock)
        try:
            if kind == "redis":
                await cache.rebuild_from(MemoryStore())  # loads nothing, marks the cache ready
                yield cache
            else:
                async with open_sql_store(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", None) as sql:
                    store = FallbackRevocationStore(cache, sql, clock=clock)
                    await store.rebuild()
                    yield store
        finally:
            await cache.clear()
            await client.aclose()


async def _revoked(
    store: Any,
    *,
    jti: str = "j1",
    sid: str | None = "s1",
    sub: str = "u1",
    iat: float = NOW,
    issuer: str = ISS,
) -> bool:
    result: bool = await store.is_revoked(issuer=issuer, jti=jti, sid=sid, sub=sub, iat=iat)
    return result


async def test_nothing_revoked(revocations: Any) -> None:
    assert not await _revoked(revocations)
    assert not await _revoked(revocations, sid=None)


async def test_jti_is_keyed_by_issuer_and_jti(revocations: Any) -> None:
    await revocations.revoke_jti(ISS, "j1", expires_at=NOW + 600)
    assert await _revoked(revocations, jti="j1")
    assert await _revoked(revocations, jti="j1", sid=None)
    assert not await _revoked(revocations, jti="j2")
    assert not await _revoked(revocations, jti="j1", issuer="https://other.example")


async def test_identities_with_separators_do_not_collide(revocations: Any) -> None:
    await revocations.revoke_jti("a:b", "c", expires_at=NOW + 600)
    assert await _revoked(revocations, issuer="a:b", jti="c")
    assert not await _revoked(revocations, issuer="a", jti="b:c")


async def test_session_revocation(revocations: Any) -> None:
    await revocations.revoke_session("s1", expires_at=NOW + 600)
    assert await _revoked(revocations, sid="s1")
    assert not await _revoked(revocations, sid="s2")
    assert not await _revoked(revocations, sid=None)


@pytest.mark.parametrize("hostile", ["a\x00b", "\ud800"])
async def test_unstorable_identities_are_not_revoked_and_leave_other_terms(
    revocations: Any, hostile: str
) -> None:
    # attacker-controlled claims: never a driver error, never "revoked" by accident, and
    # the token's other identities are still checked
    assert not await _revoked(revocations, issuer=hostile, jti=hostile, sid=hostile, sub=hostile)
    await revocations.revoke_session("s1", expires_at=NOW + 600)
    assert await _revoked(revocations, jti=hostile, sid="s1", sub=hostile)
    await revocations.revoke_subject("u1", issued_before=NOW, expires_at=NOW + 600)
    assert await _revoked(revocations, issuer=hostile, sid=hostile, sub="u1", iat=NOW - 1)
    await revocations.revoke_jti(ISS, "j1", expires_at=NOW + 600)
    assert await _revoked(revocations, jti="j1", sid=hostile, sub=hostile)


async def test_subject_cut_off_is_strictly_before(revocations: Any) -> None:
    await revocations.revoke_subject("u1", issued_before=NOW, expires_at=NOW + 600)
    assert await _revoked(revocations, iat=NOW - 1)
    assert not await _revoked(revocations, iat=NOW)
    assert not await _revoked(revocations, iat=NOW - 1, sub="u2")


async def test_later_subject_cut_off_wins(revocations: Any) -> None:
    await revocations.revoke_subject("u1", issued_before=NOW + 10, expires_at=NOW + 600)
    await revocations.revoke_subject("u1", issued_before=NOW, expires_at=NOW + 300)
    assert await _revoked(revocations, iat=NOW + 5)


async def test_re_revoking_with_shorter_expiry_keeps_entry(revocations: Any) -> None:
    await revocations.revoke_jti(ISS, "j1", expires_at=NOW + 600)
    await revocations.revoke_jti(ISS, "j1", expires_at=NOW + 10)
    await revocations.revoke_session("s1", expires_at=NOW + 600)
    await revocations.revoke_session("s1", expires_at=NOW + 10)
    if hasattr(revocations, "dump_revocations"):
        dump = await revocations.dump_revocations(now=NOW + 20)
        assert dump.jtis == ((ISS, "j1", NOW + 600),)
        assert dump.sessions == (("s1", NOW + 600),)
    assert await _revoked(revocations, sid=None)


@pytest.mark.parametrize("revocations", DURABLE, indirect=True)
async def test_prune_and_dump_only_keep_live_entries(revocations: Any) -> None:
    await revocations.revoke_jti(ISS, "old", expires_at=NOW + 10)
    await revocations.revoke_jti(ISS, "new", expires_at=NOW + 600)
    await revocations.revoke_session("s-old", expires_at=NOW + 10)
    await revocations.revoke_subject("u-old", issued_before=NOW, expires_at=NOW + 10)
    await revocations.revoke_subject("u-new", issued_before=NOW, expires_at=NOW + 600)
    dump = await revocations.dump_revocations(now=NOW + 10)
    assert dump.jtis == ((ISS, "new", NOW + 600),)
    assert dump.sessions == ()
    assert dump.subjects == (("u-new", NOW, NOW + 600),)
    assert await revocations.prune_revocations(now=NOW + 10) == 3
    assert not await _revoked(revocations, jti="old", sid="s-old", sub="u-old", iat=NOW - 1)
    assert await _revoked(revocations, jti="new", sid=None)


async def test_memory_sync_check_matches_async() -> None:
    store = MemoryStore()
    await store.revoke_session("s1", expires_at=NOW + 60)
    assert store.is_revoked_now(issuer=ISS, jti="j", sid="s1", sub="u", iat=NOW)
    assert not store.is_revoked_now(issuer=ISS, jti="j", sid=None, sub="u", iat=NOW)
