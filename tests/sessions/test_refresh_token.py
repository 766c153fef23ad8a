"""Refresh-token format, digests and hostile input (R11, R12; profile sec. 4.1)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import pytest

from tokenward.errors import ConfigurationError, InvalidGrant, Throttled
from tokenward.sessions.config import SessionConfig
from tokenward.sessions.refresh import REFRESH_TOKEN_LENGTH, RefreshTokenCodec
from tokenward.sessions.service import AuthService
from tokenward.sessions.throttle import LoginThrottle, ThrottleConfig, ThrottlePolicy

from .conftest import PASSWORD, World

PEPPER = b"p" * 32


def test_format_selector_and_256_bit_secret() -> None:
    token, parsed = RefreshTokenCodec().new()
    assert len(token) == REFRESH_TOKEN_LENGTH == 69
    assert token == f"rt_{parsed.selector}.{parsed.secret}"
    assert len(parsed.secret) == 43  # token_urlsafe(32): 256 bits
    assert RefreshTokenCodec.parse(token) == parsed
    assert parsed.secret not in repr(parsed)
    tokens = {RefreshTokenCodec().new()[0] for _ in range(200)}
    assert len(tokens) == 200


def test_digest_is_sha256_or_peppered_hmac() -> None:
    _, parsed = RefreshTokenCodec().new()
    plain = RefreshTokenCodec().digest(parsed)
    assert plain == hashlib.sha256(parsed.secret.encode()).digest()
    peppered = RefreshTokenCodec(pepper=PEPPER).digest(parsed)
    assert peppered == hmac.new(PEPPER, parsed.secret.encode(), hashlib.sha256).digest()
    assert RefreshTokenCodec(pepper=PEPPER).matches(parsed, peppered)
    assert not RefreshTokenCodec(pepper=b"q" * 32).matches(parsed, peppered)
    assert not RefreshTokenCodec().matches(parsed, peppered)


def test_short_pepper_refused() -> None:
    with pytest.raises(ConfigurationError):
        RefreshTokenCodec(pepper=b"short")
    with pytest.raises(ConfigurationError):
        SessionConfig(pepper=b"short")


def _valid() -> str:
    return RefreshTokenCodec().new()[0]


MALFORMED: list[Any] = [
    "",
    None,
    42,
    b"rt_" + b"A" * 66,
    ["rt_x"],
    {"refresh_token": "rt_x"},
    "x" * 1_000_000,
    "rt_" + "A" * 22 + "." + "B" * 42,  # short secret
    "rt_" + "A" * 22 + "." + "B" * 44,  # long secret
    "rt_" + "A" * 22 + "." + "B" * 42 + "=",  # padding
    "rt_" + "A" * 22 + "." + "B" * 42 + "+",  # base64 (not url) alphabet
    "rt_" + "A" * 22 + "_" + "B" * 43,  # no dot
    "RT_" + "A" * 22 + "." + "B" * 43,  # prefix is case-sensitive
    "rt_" + "A" * 21 + "é." + "B" * 43,  # non-ASCII
    "rt_" + "A" * 22 + "." + "B" * 42 + "\n",  # trailing newline ($ pitfall)
    " rt_" + "A" * 22 + "." + "B" * 42,
    "rt_" + "\u0661" * 22 + "." + "B" * 43,  # Unicode digits (\d / \w pitfall)
    "rt_" + "A" * 22 + "." + "B" * 42 + "\x00",
]


@pytest.mark.parametrize("token", MALFORMED, ids=range(len(MALFORMED)))
def test_parse_rejects_malformed_with_invalid_grant(token: Any) -> None:
    with pytest.raises(InvalidGrant):
        RefreshTokenCodec.parse(token)
    assert not RefreshTokenCodec.looks_like_refresh_token(token)


@pytest.mark.parametrize("token", MALFORMED, ids=range(len(MALFORMED)))
async def test_r12_malformed_refresh_input_is_invalid_grant(
    service: AuthService, alice: Any, token: Any
) -> None:
    with pytest.raises(InvalidGrant):
        await service.refresh(token)
    assert await service.refresh_info(token) is None
    await service.revoke_token(token)
    await service.logout(refresh_token=token)


async def test_one_generic_error_for_every_failure(
    world: World, service: AuthService, alice: Any
) -> None:
    errors: list[InvalidGrant] = []

    async def fail(token: Any) -> None:
        with pytest.raises(InvalidGrant) as info:
            await service.refresh(token)
        errors.append(info.value)

    used = await service.login("alice", PASSWORD)
    await service.refresh(used.refresh_token)
    revoked = await service.login("alice", PASSWORD)
    await service.logout(refresh_token=revoked.refresh_token)
    wrong_secret = await service.login("alice", PASSWORD)
    expired = await service.login("alice", PASSWORD)
    world.clock.advance(15 * 86_400)
    await fail("not a token")
    await fail(_valid())  # unknown
    await fail(wrong_secret.refresh_token[:-5] + "AAAAA")
    await fail(revoked.refresh_token)
    await fail(expired.refresh_token)
    await fail(used.refresh_token)  # reuse
    assert {(type(e), e.code, e.description, str(e)) for e in errors} == {
        (
            InvalidGrant,
            "invalid_grant",
            "invalid refresh token",
            "invalid_grant: invalid refresh token",
        )
    }


async def test_wrong_secret_does_not_trigger_family_revocation(
    service: AuthService, alice: Any
) -> None:
    """Knowing a selector is not possession: a bad secret must not revoke the session."""
    pair = await service.login("alice", PASSWORD)
    forged = pair.refresh_token[:-43] + secrets.token_urlsafe(32)
    with pytest.raises(InvalidGrant):
        await service.refresh(forged)
    await service.refresh(pair.refresh_token)


async def test_pepper_mismatch_refuses_refresh(world: World, alice: Any) -> None:
    peppered = world.make_service(config=SessionConfig(pepper=PEPPER))
    pair = await peppered.login("alice", PASSWORD)
    record = await peppered.refresh_info(pair.refresh_token)
    assert record is not None
    secret = pair.refresh_token.split(".", 1)[1]
    assert record.digest == hmac.new(PEPPER, secret.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidGrant):
        await world.make_service().refresh(pair.refresh_token)
    await peppered.refresh(pair.refresh_token)


@pytest.mark.parametrize("backend", ["memory"])
async def test_r11_guessing_is_refused_and_rate_limited(world: World, alice: Any) -> None:
    """10^4 random well-formed refresh tokens from one client: every one refused, and after
    ``refresh_ip.free`` failures the client is throttled (429) without any look-up."""
    policy = ThrottlePolicy(free=50)
    service = world.make_service(
        throttle=LoginThrottle.memory(config=ThrottleConfig(refresh_ip=policy))
    )
    live = await service.login("alice", PASSWORD)
    outcomes: dict[str, int] = {"invalid_grant": 0, "throttled": 0}
    for _ in range(10_000):
        try:
            await service.refresh(_valid(), ip="203.0.113.9")
        except InvalidGrant:
            outcomes["invalid_grant"] += 1
        except Throttled as exc:
            assert exc.retry_after >= 1
            outcomes["throttled"] += 1
    assert outcomes == {"invalid_grant": 50, "throttled": 9_950}
    # another client, and the victim's own session, are unaffected
    await service.refresh(live.refresh_token, ip="198.51.100.1")


async def test_r11_guessing_without_ip_all_refused(
    service: AuthService, alice: Any, backend: str
) -> None:
    attempts = 10_000 if backend == "memory" else 300
    for _ in range(attempts):
        with pytest.raises(InvalidGrant):
            await service.refresh(_valid())
