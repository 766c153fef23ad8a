"""Account-wide revocation (R9), storage hygiene (R10), jti revocation (R13), RFC 7009."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tokenward.errors import (
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    RevokedToken,
    StorageUnavailable,
)
from tokenward.sessions.revocation import StoreRevocationCheck, SyncStoreRevocationCheck
from tokenward.sessions.service import AuthService
from tokenward.validation import SyncRevocationCheck, TokenValidator

from .conftest import PASSWORD, World, assert_family_dead


@pytest.mark.parametrize("action", ["set_password", "disable_user", "logout_all"])
async def test_r9_account_actions_revoke_every_session(
    world: World, service: AuthService, alice: Any, action: str
) -> None:
    sessions = [await service.login("alice", PASSWORD) for _ in range(3)]
    rotated = await service.refresh(sessions[0].refresh_token)
    world.clock.advance(5)
    if action == "set_password":
        await service.set_password(alice.id, "a brand new password")
    else:
        await getattr(service, action)(alice.id)
    for pair in [*sessions[1:], rotated]:
        await assert_family_dead(world, service, [pair])
    user = await world.store.get_user(alice.id)
    assert user.tokens_valid_after == world.clock.now()
    records = await world.store.list_user_refresh(alice.id)
    assert records and all(r.revoked_at is not None for r in records)


async def test_r9_new_login_after_password_change_works_in_same_second(
    world: World, service: AuthService, alice: Any
) -> None:
    old = await service.login("alice", PASSWORD)
    await service.set_password(alice.id, "a brand new password")
    with pytest.raises(InvalidCredentials):
        await service.login("alice", PASSWORD)
    fresh = await service.login("alice", "a brand new password")
    assert (await world.validator.avalidate(fresh.access.token)).subject == alice.id
    await service.refresh(fresh.refresh_token)
    await assert_family_dead(world, service, [old])


async def test_r9_disabled_user_cannot_login_until_enabled(
    world: World, service: AuthService, alice: Any
) -> None:
    await service.disable_user(alice.id)
    with pytest.raises(InvalidCredentials):
        await service.login("alice", PASSWORD)
    await service.enable_user(alice.id)
    pair = await service.login("alice", PASSWORD)
    await world.validator.avalidate(pair.access.token)


async def test_roles_and_claims_reach_the_next_refresh(
    world: World, service: AuthService, alice: Any
) -> None:
    pair = await service.login("alice", PASSWORD)
    await service.set_roles(alice.id, ["admin"])
    await service.set_claims(alice.id, {"tenant": "t2"})
    principal = await world.validator.avalidate(
        (await service.refresh(pair.refresh_token)).access.token
    )
    assert principal.roles == ("admin",)
    assert principal.claim("tenant") == "t2"


async def _stored_text(world: World, backend: str, request: pytest.FixtureRequest) -> str:
    """Everything the backend persisted, as text (raw file bytes for SQLite)."""
    if backend == "memory":
        return repr(vars(world.store))
    if backend == "sqlite":
        assert world.sql_path is not None
        paths = [
            p for p in world.sql_path.parent.iterdir() if p.name.startswith(world.sql_path.name)
        ]
        return "".join(Path(p).read_bytes().decode("latin-1") for p in paths)
    from sqlalchemy import text

    from tokenward.storage.sql import create_engine

    schema = request.getfixturevalue("unique_prefix")
    engine = create_engine(request.getfixturevalue("pg_url"), schema=schema)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": schema},
                )
            ).scalars()
            dump = []
            for table in list(tables):
                rows = await conn.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
                dump.extend(rows.scalars())
        return "\n".join(dump)
    finally:
        await engine.dispose()


async def test_r10_no_raw_refresh_token_in_storage_or_logs(
    world: World,
    service: AuthService,
    alice: Any,
    backend: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issued: list[str] = []
    with caplog.at_level(logging.DEBUG):
        r1 = await service.login("alice", PASSWORD)
        r2 = await service.refresh(r1.refresh_token)
        r3 = await service.refresh(r2.refresh_token)
        with pytest.raises(InvalidGrant):
            await service.refresh(r1.refresh_token)  # reuse: logs a security event
        other = await service.login("alice", PASSWORD)
        await service.logout(refresh_token=other.refresh_token)
        issued = [p.refresh_token for p in (r1, r2, r3, other)]
    stored = await _stored_text(world, backend, request)
    logged = "\n".join(f"{r.getMessage()} {vars(r)!r}" for r in caplog.records)
    assert any(r.getMessage() == "refresh_token_reuse_detected" for r in caplog.records)
    assert stored  # the dump really contains the rows
    for token in issued:
        secret = token.split(".", 1)[1]
        for haystack in (stored, logged):
            assert token not in haystack
            assert secret not in haystack
        assert secret not in repr(await service.refresh_info(token))
    assert "rt_" not in repr(r1) and r1.access.token not in repr(r1)


async def test_r13_jti_revocation_is_immediate_on_every_node(
    world: World, service: AuthService, alice: Any, make_store: Any, backend: str
) -> None:
    pair = await service.login("alice", PASSWORD)
    sibling = await service.refresh(pair.refresh_token)
    other_store = world.store if backend == "memory" else make_store()
    node_b = TokenValidator(
        world.key.public(),
        world.validator.policy,
        clock=world.clock,
        revocation=world.make_service(store_=other_store).revocation_check,
    )
    await node_b.avalidate(pair.access.token)
    await service.revoke_token(pair.access.token)  # RFC 7009 with an access token
    for validator in (world.validator, node_b):  # shared store: propagation bound 0
        with pytest.raises(RevokedToken):
            await validator.avalidate(pair.access.token)
        # only that jti: the session and its newer access token live on
        await validator.avalidate(sibling.access.token)
    await service.refresh(sibling.refresh_token)


async def test_rfc7009_refresh_token_revokes_family(
    world: World, service: AuthService, alice: Any
) -> None:
    pair = await service.login("alice", PASSWORD)
    await service.revoke_token(pair.refresh_token)
    await assert_family_dead(world, service, [pair])


@pytest.mark.parametrize(
    "token", ["", "garbage", "rt_" + "A" * 22 + "." + "B" * 43, "e30.e30.e30", "x" * 100_000]
)
async def test_rfc7009_invalid_tokens_are_ignored(
    service: AuthService, alice: Any, token: str
) -> None:
    pair = await service.login("alice", PASSWORD)
    await service.revoke_token(token)
    await service.refresh(pair.refresh_token)


async def test_revocation_check_is_sync_only_on_memory(service: AuthService, backend: str) -> None:
    check = service.revocation_check
    if backend == "memory":
        assert isinstance(check, SyncStoreRevocationCheck)
        assert isinstance(check, SyncRevocationCheck)
    else:
        assert type(check) is StoreRevocationCheck
        assert not hasattr(check, "is_revoked_now")


async def test_revocation_check_missing_iat_fails_closed(
    world: World, service: AuthService, alice: Any
) -> None:
    await service.logout_all(alice.id)
    check = service.revocation_check
    assert await check.is_revoked(issuer="i", jti=None, sid=None, sub=alice.id, iat=None)
    assert not await check.is_revoked(issuer="i", jti=None, sid=None, sub="someone", iat=None)


@pytest.mark.parametrize("backend", ["memory"])
async def test_sync_validator_sees_revocation_on_memory(
    world: World, service: AuthService, alice: Any
) -> None:
    validator = TokenValidator(
        world.key.public(),
        world.validator.policy,
        clock=world.clock,
        revocation=service.revocation_check,
    )
    pair = await service.login("alice", PASSWORD)
    assert validator.validate(pair.access.token).subject == alice.id
    await service.logout(refresh_token=pair.refresh_token)
    with pytest.raises(RevokedToken):
        validator.validate(pair.access.token)


class _DownRevocations:
    async def is_revoked(self, **_: Any) -> bool:
        raise StorageUnavailable("down")


@pytest.mark.parametrize("backend", ["memory"])
async def test_rfc7009_storage_outage_is_not_swallowed(world: World, alice: Any) -> None:
    """An access token cannot be checked while storage is down: say so (503), never
    pretend it was revoked."""
    down = TokenValidator(
        world.key.public(), world.validator.policy, clock=world.clock, revocation=_DownRevocations()
    )
    service = world.make_service(validator_=down)
    pair = await service.login("alice", PASSWORD)
    with pytest.raises(StorageUnavailable):
        await service.revoke_token(pair.access.token)


async def test_revoke_session_kills_one_family_and_its_live_access_tokens(
    world: World, service: AuthService, alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    target = await service.login("alice", PASSWORD)
    rotated = await service.refresh(target.refresh_token)
    other = await service.login("alice", PASSWORD)
    with caplog.at_level(logging.WARNING, logger="tokenward.sessions"):
        assert await service.revoke_session(target.session_id) is True
    await assert_family_dead(world, service, [rotated])
    with pytest.raises(RevokedToken):
        await world.validator.avalidate(target.access.token)  # issued before the rotation
    # the user's other session is untouched
    assert (await world.validator.avalidate(other.access.token)).session_id == other.session_id
    await service.refresh(other.refresh_token)
    [event] = [r for r in caplog.records if r.getMessage() == "session_family_revoked"]
    assert (event.sid, event.reason) == (target.session_id, "admin")  # type: ignore[attr-defined]


async def test_revoke_session_reports_unknown_or_already_revoked(
    world: World, service: AuthService, alice: Any
) -> None:
    pair = await service.login("alice", PASSWORD)
    world.clock.advance(60)
    assert await service.revoke_session(pair.session_id, reason="incident") is True
    # the sid stays denied until the family's own expiry + the longest access token + margin
    config = service.config
    kept = dict((await world.store.dump_revocations(now=world.clock.now())).sessions)
    login_at = world.clock.now() - 60
    assert kept[pair.session_id] == pytest.approx(
        login_at + config.family_lifetime + config.access_lifetime_bound + config.revocation_margin,
        abs=1e-3,
    )
    assert await service.revoke_session(pair.session_id) is False  # nothing left to revoke
    assert await service.revoke_session("no-such-session") is False
    records = await world.store.list_user_refresh(alice.id)
    assert [r.revoked_reason for r in records] == ["incident"]
    with pytest.raises(RevokedToken):  # still denied after the second call
        await world.validator.avalidate(pair.access.token)


@pytest.mark.parametrize("bad", ["", None, 7])
async def test_revoke_session_refuses_a_malformed_id(service: AuthService, bad: Any) -> None:
    with pytest.raises(InvalidRequest):
        await service.revoke_session(bad)


def test_public_names_come_from_the_package_root() -> None:
    import tokenward.sessions as root
    from tokenward.sessions import passwords, refresh, service, throttle

    assert root.AuthService is service.AuthService
    assert root.PasswordHasher is passwords.PasswordHasher
    assert root.RefreshTokenCodec is refresh.RefreshTokenCodec
    assert root.LoginThrottle is throttle.LoginThrottle
    for name in root.__all__:
        assert getattr(root, name) is not None, name
    assert {"SessionConfig", "TokenPair", "revocation_check_for"} <= set(root.__all__)
