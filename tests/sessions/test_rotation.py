"""Refresh-token rotation and reuse detection (security profile sec. 4.4: R1, R4, R5, R6, R8)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tokenward.errors import InvalidCredentials, InvalidGrant, InvalidToken, RevokedToken
from tokenward.sessions.config import SessionConfig
from tokenward.sessions.service import AuthService

from .conftest import PASSWORD, World, assert_family_dead

DAY = 86_400.0


async def test_login_returns_pair_with_sid_and_claims(
    world: World, service: AuthService, alice: Any
) -> None:
    pair = await service.login("alice", PASSWORD)
    principal = await world.validator.avalidate(pair.access.token)
    assert principal.subject == alice.id
    assert principal.session_id == pair.session_id
    assert principal.roles == ("user",)
    assert principal.claim("tenant") == "t1"
    assert principal.name == "Alice"
    assert pair.refresh_token.startswith("rt_")
    assert pair.refresh_expires_at == world.clock.now() + 14 * DAY


async def test_refresh_rotates_and_keeps_family(
    world: World, service: AuthService, alice: Any
) -> None:
    first = await service.login("alice", PASSWORD)
    world.clock.advance(60)
    second = await service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    principal = await world.validator.avalidate(second.access.token)
    assert principal.session_id == first.session_id
    old = await service.refresh_info(first.refresh_token)
    assert old is not None and old.used_at == world.clock.now() and old.replaced_by is not None
    new = await service.refresh_info(second.refresh_token)
    assert new is not None and new.parent_id == old.id and old.replaced_by == new.id


async def test_r1_reuse_revokes_family_and_its_access_tokens(
    world: World, service: AuthService, alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r1 = await service.login("alice", PASSWORD)
    world.clock.advance(10)
    r2 = await service.refresh(r1.refresh_token)
    replayed = await service.refresh_info(r1.refresh_token)
    assert replayed is not None
    world.clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="tokenward"):
        with pytest.raises(InvalidGrant):
            await service.refresh(r1.refresh_token)
    # R2 (the live successor) is dead too
    with pytest.raises(InvalidGrant):
        await service.refresh(r2.refresh_token)
    # every access token carrying the family's sid is refused
    for pair in (r1, r2):
        with pytest.raises(RevokedToken):
            await world.validator.avalidate(pair.access.token)
    events = [
        r for r in caplog.records if getattr(r, "event", None) == "refresh_token_reuse_detected"
    ]
    assert len(events) == 1
    assert events[0].levelno == logging.WARNING
    assert getattr(events[0], "sid", None) == r1.session_id
    # the replayed token's selector (not secret) survives the log redaction
    assert getattr(events[0], "refresh_id", None) == replayed.id
    # other sessions of the same user are untouched
    other = await service.login("alice", PASSWORD)
    assert (await world.validator.avalidate(other.access.token)).subject == alice.id
    await service.refresh(other.refresh_token)


async def test_r4_grace_only_for_immediate_parent(world: World, alice: Any) -> None:
    service = world.make_service(config=SessionConfig(grace_period=30))
    r1 = await service.login("alice", PASSWORD)
    r2 = await service.refresh(r1.refresh_token)
    world.clock.advance(5)
    # within grace, the immediate parent may be retried: same family, new token
    retry = await service.refresh(r1.refresh_token)
    assert retry.session_id == r1.session_id
    assert retry.refresh_token not in (r1.refresh_token, r2.refresh_token)
    await world.validator.avalidate(retry.access.token)
    # R1 -> R2 -> R3; R1 again (now a grandparent) is reuse even inside the window
    r3 = await service.refresh(r2.refresh_token)
    world.clock.advance(1)
    with pytest.raises(InvalidGrant):
        await service.refresh(r1.refresh_token)
    await assert_family_dead(world, service, [r3, retry])


async def test_r4_second_replay_of_parent_in_grace_is_reuse(world: World, alice: Any) -> None:
    # one grace sibling per parent: a second replay (a retry storm, or a thief holding the
    # parent) is reuse and revokes the family, including the sibling's chain
    service = world.make_service(config=SessionConfig(grace_period=30))
    r1 = await service.login("alice", PASSWORD)
    r2 = await service.refresh(r1.refresh_token)
    world.clock.advance(1)
    sibling = await service.refresh(r1.refresh_token)
    world.clock.advance(1)
    with pytest.raises(InvalidGrant):
        await service.refresh(r1.refresh_token)
    await assert_family_dead(world, service, [r2, sibling])


async def test_grace_window_expires(world: World, alice: Any) -> None:
    service = world.make_service(config=SessionConfig(grace_period=30))
    r1 = await service.login("alice", PASSWORD)
    r2 = await service.refresh(r1.refresh_token)
    world.clock.advance(31)
    with pytest.raises(InvalidGrant):
        await service.refresh(r1.refresh_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(r2.refresh_token)


async def test_grace_default_is_zero(world: World, service: AuthService, alice: Any) -> None:
    assert service.config.grace_period == 0
    r1 = await service.login("alice", PASSWORD)
    await service.refresh(r1.refresh_token)
    with pytest.raises(InvalidGrant):  # an immediate retry is already reuse
        await service.refresh(r1.refresh_token)


@pytest.mark.parametrize(
    ("advance", "config"),
    [
        pytest.param(14 * DAY, SessionConfig(), id="idle-timeout"),
        pytest.param(14 * DAY + 1, SessionConfig(), id="idle-timeout-past"),
        pytest.param(2 * DAY, SessionConfig(family_lifetime=2 * DAY), id="family-lifetime"),
    ],
)
async def test_r5_expired_tokens_refused(
    world: World, alice: Any, advance: float, config: SessionConfig
) -> None:
    service = world.make_service(config=config)
    pair = await service.login("alice", PASSWORD)
    world.clock.advance(advance)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)
    record = await service.refresh_info(pair.refresh_token)
    assert record is not None and record.used_at is None and record.replaced_by is None


async def test_r5_family_lifetime_caps_rotations(world: World, alice: Any) -> None:
    service = world.make_service(
        config=SessionConfig(refresh_idle_lifetime=DAY, family_lifetime=3 * DAY)
    )
    pair = await service.login("alice", PASSWORD)
    start = world.clock.now()
    for _ in range(2):
        world.clock.advance(DAY - 60)
        pair = await service.refresh(pair.refresh_token)
    # the idle expiry of the newest token never passes the family's absolute expiry
    world.clock.advance(DAY - 60)
    pair = await service.refresh(pair.refresh_token)
    assert pair.refresh_expires_at == start + 3 * DAY
    world.clock.set(start + 3 * DAY)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token)


async def test_r6_token_kinds_not_interchangeable(
    world: World, service: AuthService, alice: Any
) -> None:
    pair = await service.login("alice", PASSWORD)
    with pytest.raises(InvalidToken):
        await world.validator.avalidate(pair.refresh_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.access.token)


async def test_r8_logout_revokes_family_and_access_token(
    world: World, service: AuthService, alice: Any
) -> None:
    pair = await service.login("alice", PASSWORD)
    principal = await world.validator.avalidate(pair.access.token)
    other = await service.login("alice", PASSWORD)
    await service.logout(refresh_token=pair.refresh_token, principal=principal)
    await assert_family_dead(world, service, [pair])
    # the user's other session is untouched
    await world.validator.avalidate(other.access.token)
    await service.refresh(other.refresh_token)


@pytest.mark.parametrize("with_refresh", [True, False], ids=["refresh-token", "principal-only"])
async def test_r8_logout_with_either_credential(
    world: World, service: AuthService, alice: Any, with_refresh: bool
) -> None:
    pair = await service.login("alice", PASSWORD)
    if with_refresh:
        await service.logout(refresh_token=pair.refresh_token)
    else:
        await service.logout(principal=await world.validator.avalidate(pair.access.token))
    await assert_family_dead(world, service, [pair])


async def test_logout_is_idempotent_and_ignores_garbage(service: AuthService, alice: Any) -> None:
    pair = await service.login("alice", PASSWORD)
    await service.logout(refresh_token=pair.refresh_token)
    await service.logout(refresh_token=pair.refresh_token)
    await service.logout(refresh_token="rt_garbage")
    await service.logout()


class _Outcomes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def login_outcome(self, outcome: str) -> None:
        self.seen.append(("login", outcome))

    def refresh_outcome(self, outcome: str) -> None:
        self.seen.append(("refresh", outcome))


@pytest.mark.parametrize("backend", ["memory"])
async def test_outcomes_are_reported_for_metrics(world: World, alice: Any) -> None:
    from tokenward.observability import Metrics

    sink = _Outcomes()
    service = world.make_service()
    service._outcomes = sink
    r1 = await service.login("alice", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await service.login("alice", "wrong password")
    await service.refresh(r1.refresh_token)
    for token in ("garbage", r1.refresh_token, r1.refresh_token):
        with pytest.raises(InvalidGrant):
            await service.refresh(token)
    expiring = await service.login("alice", PASSWORD)
    world.clock.advance(15 * DAY)
    with pytest.raises(InvalidGrant):
        await service.refresh(expiring.refresh_token)
    assert sink.seen == [
        ("login", "ok"),
        ("login", "failed"),
        ("refresh", "rotated"),
        ("refresh", "invalid"),
        ("refresh", "reuse_detected"),
        ("refresh", "revoked"),
        ("login", "ok"),
        ("refresh", "expired"),
    ]
    # the service's Metrics fits the Protocol
    metrics = Metrics()
    service._outcomes = metrics
    await service.login("alice", PASSWORD)
    assert metrics.value("logins_total", {"outcome": "ok"}) == 1.0
