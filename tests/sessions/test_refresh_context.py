"""Refresh reads its decision in one go (``load_refresh_context``) without losing a check.

The joined read answers for the user store and the revocation store only when they are the
refresh store itself (or, for revocations, a cache in front of it); any other store is
still asked. With a Redis cache the durable SQL denylist decides, so a revocation the cache
missed still stops the refresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tokenward.errors import InvalidGrant
from tokenward.storage.memory import MemoryStore
from tokenward.storage.redis import FallbackRevocationStore, RedisRevocationStore, create_redis

from .conftest import PASSWORD, World


async def _deny_session(store: Any, sid: str, now: float) -> None:
    await store.revoke_session(sid, expires_at=now + 3600)


async def _deny_subject(store: Any, sub: str, now: float) -> None:
    await store.revoke_subject(sub, issued_before=now + 1, expires_at=now + 3600)


@pytest.mark.parametrize("deny", [_deny_session, _deny_subject], ids=["sid", "subject"])
async def test_a_separate_revocation_store_is_still_consulted(world: World, deny: Any) -> None:
    denylist = MemoryStore()  # not the refresh store: its entries are not in the joined read
    service = world.make_service(revocations_=denylist)
    user = await service.create_user("alice", PASSWORD)
    pair = await service.login("alice", PASSWORD)
    pair = await service.refresh(pair.refresh_token)
    await deny(denylist, pair.session_id if deny is _deny_session else user.id, world.clock.now())
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


async def test_a_separate_user_store_is_still_consulted(world: World) -> None:
    accounts = MemoryStore()  # the refresh store has no such user: its join finds none
    service = world.make_service(users_=accounts)
    user = await service.create_user("alice", PASSWORD, roles=("user",))
    pair = await service.login("alice", PASSWORD)
    pair = await service.refresh(pair.refresh_token)
    assert (await world.validator.avalidate(pair.access.token)).subject == user.id
    await accounts.update_user(dataclasses.replace(user, disabled=True))
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


@pytest.fixture
async def cached_revocations(
    world: World, redis_url: str, unique_prefix: str
) -> AsyncIterator[FallbackRevocationStore]:
    client = create_redis(redis_url)
    cache = RedisRevocationStore(client, key_prefix=unique_prefix, clock=world.clock)
    store = FallbackRevocationStore(cache, world.store, clock=world.clock)
    try:
        assert await store.rebuild()
        yield store
    finally:
        await cache.clear()
        await client.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("deny", [_deny_session, _deny_subject], ids=["sid", "subject"])
async def test_refresh_trusts_the_durable_denylist_over_a_stale_redis_cache(
    world: World, cached_revocations: FallbackRevocationStore, deny: Any
) -> None:
    service = world.make_service(revocations_=cached_revocations)
    user = await service.create_user("alice", PASSWORD)
    pair = await service.refresh((await service.login("alice", PASSWORD)).refresh_token)
    # written to SQL only, as when a cache write failed: Redis does not know
    await deny(
        world.store, pair.session_id if deny is _deny_session else user.id, world.clock.now()
    )
    check = {"issuer": "", "jti": "", "sid": pair.session_id, "sub": user.id, "iat": 0.0}
    # the access-token path still reads Redis (one round trip) and misses it
    assert not await cached_revocations.is_revoked(**{**check, "iat": world.clock.now()})
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


async def test_revocation_through_the_cache_stops_the_next_refresh(
    world: World, cached_revocations: FallbackRevocationStore
) -> None:
    service = world.make_service(revocations_=cached_revocations)
    await service.create_user("alice", PASSWORD)
    pair = await service.refresh((await service.login("alice", PASSWORD)).refresh_token)
    assert await service.revoke_session(pair.session_id) is True
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)
