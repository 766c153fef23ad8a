"""Authenticator construction rules, the async validation path and the failure hook."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _web_support import AsyncDenylist, Denylist
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request

from tokenward.clock import FixedClock
from tokenward.errors import (
    BadSignature,
    ConfigurationError,
    InvalidClaim,
    InvalidToken,
    RevokedToken,
    TokenwardError,
)
from tokenward.keys import KeySet
from tokenward.tokens import TokenIssuer
from tokenward.validation import Principal, TokenValidator, ValidationPolicy
from tokenward.web import (
    Authenticator,
    BearerTransport,
    CookieTransport,
    CsrfProtector,
    principal,
)


def _app(auth: Authenticator, policy: str | None) -> FastAPI:
    app = FastAPI()
    auth.install(app)
    router = auth.protected_router(policy=policy)

    @router.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return {"sub": principal(request).subject}

    app.include_router(router)
    return app


async def _get(auth: Authenticator, token: str, policy: str | None = None) -> httpx.Response:
    app = _app(auth, policy)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://api") as client:
            return await client.get("/me", headers={"Authorization": f"Bearer {token}"})


def test_cookie_transport_without_csrf_is_refused(keys: KeySet, policy: ValidationPolicy) -> None:
    with pytest.raises(ConfigurationError, match="CsrfProtector"):
        Authenticator(keys, policy, transports=(BearerTransport(), CookieTransport()))


def test_keys_need_a_policy(keys: KeySet) -> None:
    with pytest.raises(ConfigurationError):
        Authenticator(keys)


def test_a_validator_carries_its_own_policy(keys: KeySet, policy: ValidationPolicy) -> None:
    with pytest.raises(ConfigurationError):
        Authenticator(TokenValidator(keys, policy), policy)


def test_unknown_policy_name_fails_at_definition_time(
    keys: KeySet, policy: ValidationPolicy
) -> None:
    auth = Authenticator(keys, policy, policies={"AdminOnly": lambda p: p.has_role("Admin")})
    with pytest.raises(ConfigurationError):
        auth.policy("AdminOnyl")
    with pytest.raises(ConfigurationError):
        auth.route_class(policy="nope")


@pytest.mark.parametrize("bad", [{"": lambda p: True}, {"X": "Admin"}])
def test_policies_must_be_named_callables(
    keys: KeySet, policy: ValidationPolicy, bad: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        Authenticator(keys, policy, policies=bad)


async def test_async_only_revocation_is_awaited(
    keys: KeySet, policy: ValidationPolicy, clock: FixedClock, issuer: TokenIssuer
) -> None:
    revocations = AsyncDenylist()
    auth = Authenticator(keys, policy, clock=clock, revocation=revocations)
    issued = issuer.issue("alice")
    assert (await _get(auth, issued.token)).status_code == 200
    revocations.jtis.add(issued.jti)
    assert (await _get(auth, issued.token)).status_code == 401
    assert revocations.calls == 2


async def test_ready_validator_with_sync_revocation(
    keys: KeySet, policy: ValidationPolicy, clock: FixedClock, issuer: TokenIssuer
) -> None:
    revocations = Denylist()
    validator = TokenValidator(keys, policy, clock=clock, revocation=revocations)
    auth = Authenticator(validator)
    issued = issuer.issue("alice")
    revocations.jtis.add(issued.jti)
    assert (await _get(auth, issued.token)).status_code == 401
    assert revocations.calls == 1


async def test_expiry_follows_the_injected_clock(
    keys: KeySet, policy: ValidationPolicy, clock: FixedClock, issuer: TokenIssuer
) -> None:
    auth = Authenticator(keys, policy, clock=clock)
    token = issuer.issue("alice").token  # 900 s lifetime
    assert (await _get(auth, token)).status_code == 200  # also fills the verified cache
    clock.advance(900 + policy.leeway)
    assert (await _get(auth, token)).status_code == 401  # the cache never outlives exp


async def test_on_failure_hook_sees_every_refusal(
    keys: KeySet, policy: ValidationPolicy, clock: FixedClock, issuer: TokenIssuer
) -> None:
    seen: list[str] = []

    def hook(request: Any, error: TokenwardError) -> None:
        seen.append(f"{request.url.path}:{error.code}")

    auth = Authenticator(
        keys, policy, clock=clock, on_failure=hook, policies={"No": lambda p: False}
    )
    await _get(auth, "garbage")
    await _get(auth, issuer.issue("alice").token, policy="No")
    assert seen == ["/me:malformed", "/me:insufficient_scope"]


async def test_realm_appears_in_challenges(
    keys: KeySet, policy: ValidationPolicy, clock: FixedClock
) -> None:
    auth = Authenticator(keys, policy, clock=clock, realm="orders")
    response = await _get(auth, "garbage")
    assert response.headers["www-authenticate"] == 'Bearer realm="orders", error="invalid_token"'


def test_csrf_protector_is_exposed_for_login_routes(
    keys: KeySet, policy: ValidationPolicy, csrf: CsrfProtector
) -> None:
    cookies = CookieTransport()
    auth = Authenticator(keys, policy, transports=(BearerTransport(), cookies), csrf=csrf)
    assert auth.cookie_transport is cookies
    assert auth.csrf is csrf


class _Refusing(TokenValidator):
    """A validator that refuses every token with a prepared error (the log contract)."""

    def __init__(self, keys: KeySet, policy: ValidationPolicy, error: InvalidToken) -> None:
        super().__init__(keys, policy)
        self.error = error

    def validate(self, token: str | bytes) -> Principal:
        raise self.error

    async def avalidate(self, token: str | bytes) -> Principal:
        raise self.error


def _with_jti(error: InvalidToken, jti: str | None) -> InvalidToken:
    error.jti = jti
    return error


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (_with_jti(RevokedToken(), "jti-verified-1"), "jti-verified-1"),
        (_with_jti(InvalidClaim("expired"), "jti-verified-2"), "jti-verified-2"),
        (BadSignature(), None),  # no verified jti: nothing from the token reaches the log
    ],
)
async def test_refusal_log_carries_the_error_jti_never_the_token(
    keys: KeySet,
    policy: ValidationPolicy,
    error: InvalidToken,
    logged: str | None,
    issuer: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = Authenticator(_Refusing(keys, policy, error))
    token = issuer.issue("alice").token
    with caplog.at_level("INFO", logger="tokenward.web"):
        assert (await _get(auth, token)).status_code == 401
    [record] = [r for r in caplog.records if r.name == "tokenward.web"]
    assert record.jti == logged  # type: ignore[attr-defined]
    assert record.code == error.code  # type: ignore[attr-defined]
    assert token not in str(vars(record))


async def test_ready_validator_with_async_only_revocation_is_awaited(
    keys: KeySet, policy: ValidationPolicy, clock: FixedClock, issuer: TokenIssuer
) -> None:
    revocations = AsyncDenylist()
    validator = TokenValidator(keys, policy, clock=clock, revocation=revocations)
    assert validator.needs_await
    auth = Authenticator(validator)
    issued = issuer.issue("alice")
    assert (await _get(auth, issued.token)).status_code == 200
    revocations.jtis.add(issued.jti)
    assert (await _get(auth, issued.token)).status_code == 401
    assert revocations.calls == 2
