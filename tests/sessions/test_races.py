"""Concurrent rotation (R2) and revocation racing an in-flight refresh (R3).

The R2 races run real concurrent transactions: on SQL each refresh goes through one of
several engines (several "nodes" sharing the database).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tokenward.errors import InvalidGrant, RevokedToken
from tokenward.sessions.config import SessionConfig, TokenPair
from tokenward.sessions.service import AuthService
from tokenward.storage.base import RefreshRecord, RotateOutcome

from .conftest import PASSWORD, World, assert_family_dead

CONCURRENCY = 20


def _nodes(
    world: World, make_store: Callable[..., Any], backend: str, config: SessionConfig
) -> list[AuthService]:
    """Four services; on SQL each has its own engine, on memory they share the one store."""
    stores = [world.store] * 4 if backend == "memory" else [make_store() for _ in range(4)]
    return [world.make_service(store_=s, config=config) for s in stores]


async def _race(
    nodes: list[AuthService], token: str
) -> tuple[list[TokenPair], list[BaseException]]:
    results = await asyncio.gather(
        *(nodes[i % len(nodes)].refresh(token) for i in range(CONCURRENCY)),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, TokenPair)]
    errors = [r for r in results if isinstance(r, BaseException)]
    return ok, errors


async def test_r2_concurrent_refresh_exactly_one_wins(
    world: World, service: AuthService, alice: Any, make_store: Callable[..., Any], backend: str
) -> None:
    r1 = await service.login("alice", PASSWORD)
    first = await service.refresh_info(r1.refresh_token)
    assert first is not None
    ok, errors = await _race(_nodes(world, make_store, backend, SessionConfig()), r1.refresh_token)
    assert len(ok) == 1
    assert len(errors) == CONCURRENCY - 1
    assert all(type(e) is InvalidGrant for e in errors)
    records = await world.store.list_user_refresh(alice.id)
    children = [r for r in records if r.parent_id == first.id]
    assert len(children) == 1  # never two successors
    consumed = await service.refresh_info(r1.refresh_token)
    assert consumed is not None and consumed.replaced_by == children[0].id
    # the losers presented a consumed token: reuse, so the whole family is dead now
    assert all(r.revoked_at is not None for r in records if r.family_id == r1.session_id)
    with pytest.raises(InvalidGrant):
        await service.refresh(ok[0].refresh_token)
    with pytest.raises(RevokedToken):
        await world.validator.avalidate(ok[0].access.token)


async def test_r2_with_grace_extra_successes_stay_in_family(
    world: World, alice: Any, make_store: Callable[..., Any], backend: str
) -> None:
    config = SessionConfig(grace_period=30)
    service = world.make_service(config=config)
    r1 = await service.login("alice", PASSWORD)
    first = await service.refresh_info(r1.refresh_token)
    assert first is not None
    ok, errors = await _race(_nodes(world, make_store, backend, config), r1.refresh_token)
    # the rotation and at most one grace sibling; every further replay is reuse
    assert 1 <= len(ok) <= 2
    assert len(errors) == CONCURRENCY - len(ok)
    assert all(type(e) is InvalidGrant for e in errors)
    assert {p.session_id for p in ok} == {r1.session_id}
    records = await world.store.list_user_refresh(alice.id)
    assert {r.family_id for r in records} == {r1.session_id}
    consumed = await service.refresh_info(r1.refresh_token)
    assert consumed is not None
    # exactly one rotation consumed R1; grace retries are siblings with R1 as parent
    assert sum(1 for r in records if r.id == consumed.replaced_by) == 1
    assert all(r.parent_id == first.id for r in records if r.id != first.id)
    # one revocation still kills every token minted in the window
    await service.logout(refresh_token=ok[0].refresh_token)
    await assert_family_dead(world, service, ok)


class _Gate:
    """An ``asyncio.Event`` pair: ``entered`` is set when the hook is reached, the hook then
    waits for ``release``. Armed once."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.armed = False

    async def __call__(self) -> None:
        if self.armed:
            self.armed = False
            self.entered.set()
            await self.release.wait()


class _GatedRotate:
    """A refresh store whose ``rotate`` first waits on a gate: the service has read and
    checked the token, but not written yet."""

    def __init__(self, inner: Any, gate: _Gate) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def rotate(self, old_id: str, new: RefreshRecord, *, now: float) -> RotateOutcome:
        await self._gate()
        result: RotateOutcome = await self._inner.rotate(old_id, new, now=now)
        return result


Revoker = Callable[[AuthService, TokenPair, TokenPair], Awaitable[None]]


async def _reuse_old(service: AuthService, r1: TokenPair, _r2: TokenPair) -> None:
    with pytest.raises(InvalidGrant):
        await service.refresh(r1.refresh_token)  # reuse -> family revocation


async def _logout(service: AuthService, _r1: TokenPair, r2: TokenPair) -> None:
    await service.logout(refresh_token=r2.refresh_token)


async def _logout_all(service: AuthService, r1: TokenPair, _r2: TokenPair) -> None:
    principal_sub = await service.refresh_info(r1.refresh_token)
    assert principal_sub is not None
    await service.logout_all(principal_sub.user_id)


@pytest.mark.parametrize(
    "revoke", [_reuse_old, _logout, _logout_all], ids=["reuse", "logout", "logout_all"]
)
async def test_r3_revocation_between_read_and_write(
    world: World, service: AuthService, alice: Any, revoke: Revoker
) -> None:
    """The family is revoked after the refresh read the token but before it writes."""
    r1 = await service.login("alice", PASSWORD)
    r2 = await service.refresh(r1.refresh_token)
    gate = _Gate()
    gated = world.make_service()
    gated._refresh = _GatedRotate(world.store, gate)  # type: ignore[assignment]
    gate.armed = True
    in_flight = asyncio.create_task(gated.refresh(r2.refresh_token))
    await gate.entered.wait()
    await revoke(service, r1, r2)
    gate.release.set()
    with pytest.raises(InvalidGrant):
        await in_flight
    await assert_family_dead(world, service, [r1, r2])


@pytest.mark.parametrize(
    "revoke", [_reuse_old, _logout, _logout_all], ids=["reuse", "logout", "logout_all"]
)
async def test_r3_revocation_during_rotation_write(
    world: World,
    service: AuthService,
    alice: Any,
    make_store: Callable[..., Any],
    backend: str,
    revoke: Revoker,
) -> None:
    """The family is revoked while the rotation's write is open (the store's rotate hook
    holds the transaction): whichever commits first, no live token survives."""
    r1 = await service.login("alice", PASSWORD)
    r2 = await service.refresh(r1.refresh_token)
    gate = _Gate()
    hooked_store = world.store if backend == "memory" else make_store(rotate_hook=gate)
    if backend == "memory":
        world.store._rotate_hook = gate
    hooked = world.make_service(store_=hooked_store)
    gate.armed = True
    in_flight = asyncio.create_task(hooked.refresh(r2.refresh_token))
    await gate.entered.wait()
    revoking = asyncio.create_task(revoke(service, r1, r2))
    for _ in range(20):  # let the revocation reach the store (it may block on the lock)
        await asyncio.sleep(0)
    gate.release.set()
    outcome = (await asyncio.gather(in_flight, revoking, return_exceptions=True))[0]
    pairs = [r1, r2]
    if isinstance(outcome, TokenPair):
        pairs.append(outcome)
    else:
        assert type(outcome) is InvalidGrant
    await assert_family_dead(world, service, pairs)
