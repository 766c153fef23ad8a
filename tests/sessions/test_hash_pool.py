"""Argon2 runs on the hasher's own bounded pool; a saturated pool refuses fast (429)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import argon2
import pytest

from tokenward.errors import InvalidCredentials, Throttled
from tokenward.sessions.passwords import PasswordHasher
from tokenward.sessions.service import AuthService

from .conftest import PASSWORD, World


class GatedArgon2:
    """argon2-cffi's hasher whose verifications wait for ``gate`` and record their thread."""

    def __init__(self, inner: argon2.PasswordHasher) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.threads: list[str] = []

    def hash(self, password: bytes) -> str:
        return self.inner.hash(password)

    def verify(self, stored: str, password: bytes) -> bool:
        self.threads.append(threading.current_thread().name)
        assert self.gate.wait(timeout=10)
        return self.inner.verify(stored, password)

    def check_needs_rehash(self, stored: str) -> bool:
        return self.inner.check_needs_rehash(stored)


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[PasswordHasher, GatedArgon2]]:
    """One hashing thread, one waiting slot; asyncio's default pool is off limits."""
    hasher = PasswordHasher.for_testing(max_workers=1, max_waiting=1)
    gated = GatedArgon2(hasher._hasher)
    monkeypatch.setattr(hasher, "_hasher", gated)

    def no_default_pool(*_: Any, **__: Any) -> Any:
        raise AssertionError("password hashing must not use asyncio's default pool")

    monkeypatch.setattr(asyncio, "to_thread", no_default_pool)
    try:
        yield hasher, gated
    finally:
        gated.gate.set()
        hasher.close()


async def _until_pending(hasher: PasswordHasher, jobs: int) -> None:
    for _ in range(10_000):  # yields to the loop, no timing involved
        if hasher.pending >= jobs:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{jobs} hash jobs never submitted")


async def test_saturated_pool_refuses_login_without_hashing(
    world: World, small_pool: tuple[PasswordHasher, GatedArgon2]
) -> None:
    hasher, gated = small_pool
    service: AuthService = world.make_service(hasher_=hasher)
    alice = await service.create_user("alice", PASSWORD)
    running = asyncio.create_task(service.login("alice", PASSWORD))
    waiting = asyncio.create_task(service.login("nobody", PASSWORD))  # dummy path: same pool
    await _until_pending(hasher, 2)
    with pytest.raises(Throttled) as refused:
        await service.login("alice", PASSWORD)
    assert refused.value.retry_after == 1
    gated.gate.set()
    pair = await running
    assert (await world.validator.avalidate(pair.access.token)).subject == alice.id
    with pytest.raises(InvalidCredentials):
        await waiting
    # two verifications ran (the refused login computed nothing), on the dedicated pool
    assert len(gated.threads) == 2
    assert all(name.startswith("tokenward-argon2") for name in gated.threads)
    assert hasher.pending == 0
    await service.login("alice", PASSWORD)  # capacity is back


async def test_cancelled_waiter_frees_its_slot(
    small_pool: tuple[PasswordHasher, GatedArgon2],
) -> None:
    hasher, gated = small_pool
    stored = hasher.hash(PASSWORD)
    running = asyncio.create_task(hasher.averify(stored, PASSWORD))
    queued = asyncio.create_task(hasher.averify(stored, PASSWORD))
    await _until_pending(hasher, 2)
    with pytest.raises(Throttled):
        await hasher.averify_dummy(PASSWORD)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert hasher.pending == 1  # the queued job never ran
    gated.gate.set()
    assert await running
    assert not await hasher.averify_dummy(PASSWORD)
    assert len(gated.threads) == 2


async def test_pool_is_lazy_and_reopens_after_close() -> None:
    hasher = PasswordHasher.for_testing(max_workers=2)
    assert hasher._executor is None
    stored = await hasher.ahash(PASSWORD)
    assert await hasher.averify(stored, PASSWORD)
    await hasher.aclose()
    assert hasher._executor is None
    assert not await hasher.averify(stored, "wrong")  # a new pool on demand
    hasher.close()
    hasher.close()  # idempotent


@pytest.mark.parametrize(("workers", "waiting"), [(0, 1), (1, -1)])
def test_pool_bounds_are_validated(workers: int, waiting: int) -> None:
    with pytest.raises(ValueError):
        PasswordHasher.for_testing(max_workers=workers, max_waiting=waiting)
