"""Login flow (security profile sec. 6: L2-L7) and user creation."""

from __future__ import annotations

import dataclasses
from typing import Any

import argon2
import pytest

from tokenward.errors import InvalidCredentials, InvalidRequest, Throttled, UserExists
from tokenward.sessions.passwords import TEST_PARAMETERS, PasswordHasher
from tokenward.sessions.service import AuthService
from tokenward.sessions.throttle import LoginThrottle

from .conftest import PASSWORD, World


class CountingArgon2:
    """Wraps argon2-cffi's hasher and counts real Argon2 computations."""

    def __init__(self, inner: argon2.PasswordHasher) -> None:
        self.inner = inner
        self.hashes = 0
        self.verifies = 0

    def hash(self, password: bytes) -> str:
        self.hashes += 1
        return self.inner.hash(password)

    def verify(self, stored: str, password: bytes) -> bool:
        self.verifies += 1
        return self.inner.verify(stored, password)

    def check_needs_rehash(self, stored: str) -> bool:
        return self.inner.check_needs_rehash(stored)


@pytest.fixture
def counter(hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch) -> CountingArgon2:
    spy = CountingArgon2(hasher._hasher)
    monkeypatch.setattr(hasher, "_hasher", spy)
    return spy


async def _failure(service: AuthService, username: Any, password: Any) -> InvalidCredentials:
    with pytest.raises(InvalidCredentials) as info:
        await service.login(username, password)
    return info.value


async def test_l4_unknown_user_costs_one_argon2_verification(
    service: AuthService, alice: Any, counter: CountingArgon2, world: World
) -> None:
    """Deterministic stand-in for a timing test: every failure path runs exactly one
    Argon2id verification with the same parameters (the dummy hash for unknown users)."""
    await service.disable_user((await service.create_user("Dora", PASSWORD)).id)
    for username, password in [
        ("nobody", PASSWORD),
        ("alice", "wrong password"),
        ("dora", PASSWORD),
    ]:
        before = counter.verifies
        await _failure(service, username, password)
        assert counter.verifies == before + 1, username
    dummy = service._hasher._dummy_hash
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(
        (await world.store.get_user(alice.id)).password_hash
    )


async def test_l5_one_generic_failure(service: AuthService, alice: Any) -> None:
    await service.disable_user((await service.create_user("Dora", PASSWORD)).id)
    failures = [
        await _failure(service, "nobody", PASSWORD),
        await _failure(service, "alice", "wrong password"),
        await _failure(service, "dora", PASSWORD),
    ]
    assert {(type(e), e.code, e.description, str(e)) for e in failures} == {
        (
            InvalidCredentials,
            "invalid_credentials",
            "invalid username or password",
            "invalid_credentials: invalid username or password",
        )
    }


@pytest.mark.parametrize("password", ["x" * 1_000_000, "é" * 513, None, 5, ["pw"], "\udc80"])
async def test_l6_oversized_or_malformed_password_rejected_before_hashing(
    service: AuthService, alice: Any, counter: CountingArgon2, password: Any
) -> None:
    with pytest.raises(InvalidRequest):
        await service.login("alice", password)
    with pytest.raises(InvalidRequest):
        await service.create_user("bob", password)
    assert counter.hashes == 0 and counter.verifies == 0


async def test_l7_rehash_on_login_when_parameters_change(world: World, alice: Any) -> None:
    stronger = PasswordHasher(
        parameters=dataclasses.replace(TEST_PARAMETERS, time_cost=2, memory_cost=16)
    )
    service = world.make_service(hasher_=stronger)
    old_hash = (await world.store.get_user(alice.id)).password_hash
    await _failure(service, "alice", "wrong password")
    assert (await world.store.get_user(alice.id)).password_hash == old_hash  # no rehash on failure
    await service.login("alice", PASSWORD)
    new_hash = (await world.store.get_user(alice.id)).password_hash
    assert new_hash != old_hash
    assert argon2.extract_parameters(new_hash).time_cost == 2
    assert not stronger.needs_rehash(new_hash)
    await service.login("alice", PASSWORD)
    assert (await world.store.get_user(alice.id)).password_hash == new_hash  # stable now


async def test_l2_account_locked_after_failures_from_many_ips(
    service: AuthService, alice: Any
) -> None:
    outcomes: list[str] = []
    for i in range(100):
        try:
            await service.login("alice", "wrong password", ip=f"192.0.2.{i}")
        except InvalidCredentials:
            outcomes.append("invalid")
        except Throttled as exc:
            assert 1 <= exc.retry_after <= 900
            outcomes.append("throttled")
    # 5 free attempts, then the account is locked whatever the source address
    assert outcomes == ["invalid"] * 5 + ["throttled"] * 95
    # per policy: while locked, even the correct password is refused without being checked
    with pytest.raises(Throttled):
        await service.login("alice", PASSWORD, ip="198.51.100.1")
    # other accounts are unaffected
    await service.create_user("bob", PASSWORD)
    await service.login("bob", PASSWORD, ip="192.0.2.1")


async def test_l3_ip_throttle_trips_across_many_accounts(world: World, alice: Any) -> None:
    service = world.make_service(throttle=LoginThrottle.memory())
    outcomes = {"invalid": 0, "throttled": 0}
    for i in range(1000):
        try:
            await service.login(f"user{i}", "wrong password", ip="2001:db8:1:2::7")
        except InvalidCredentials:
            outcomes["invalid"] += 1
        except Throttled:
            outcomes["throttled"] += 1
    assert outcomes == {"invalid": 20, "throttled": 980}
    # the same /64 is the same client; another /64 is not
    with pytest.raises(Throttled):
        await service.login("alice", PASSWORD, ip="2001:db8:1:2:ffff::1")
    await service.login("alice", PASSWORD, ip="2001:db8:1:3::7")


async def test_success_resets_account_counter(service: AuthService, alice: Any) -> None:
    for _ in range(4):
        await _failure(service, "alice", "wrong password")
    await service.login("alice", PASSWORD)
    for _ in range(4):  # four more failures do not lock: the counter started again
        await _failure(service, "alice", "wrong password")
    await service.login("alice", PASSWORD)


async def test_create_user_normalises_key_and_keeps_username(
    world: World, service: AuthService
) -> None:
    user = await service.create_user("Ｄöra", PASSWORD, roles=["r1"], claims={"tenant": "x"})
    assert user.username == "Ｄöra"
    assert user.username_key == "döra"
    assert (await world.store.get_user(user.id)).username == "Ｄöra"
    with pytest.raises(UserExists):
        await service.create_user("DÖRA", PASSWORD)
    pair = await service.login("dÖrA", PASSWORD)
    assert (await world.validator.avalidate(pair.access.token)).name == "Ｄöra"


@pytest.mark.parametrize(
    ("kwargs", "password"),
    [
        ({}, "short"),
        ({"roles": "admin"}, PASSWORD),
        ({"roles": [""]}, PASSWORD),
        ({"roles": [1]}, PASSWORD),
        ({"claims": {"sub": "someone-else"}}, PASSWORD),
        ({"claims": {"sid": "x"}}, PASSWORD),
        ({"claims": {1: "x"}}, PASSWORD),
        ({"claims": {"x": object()}}, PASSWORD),
        ({"claims": {"x": float("nan")}}, PASSWORD),
        ({"claims": {"x": "\ud800"}}, PASSWORD),
        ({"claims": {"x": "y" * 3000}}, PASSWORD),
        ({"roles": 5}, PASSWORD),
    ],
)
async def test_create_user_validates_input(
    service: AuthService, kwargs: dict[str, Any], password: str
) -> None:
    with pytest.raises(InvalidRequest):
        await service.create_user("eve", password, **kwargs)
