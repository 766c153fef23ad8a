"""``InvalidToken.jti``: set for failures found after the signature verified, never before.

The web layer logs ``error.jti`` to correlate refusals with revocations. A token whose
signature did not verify is attacker-chosen data, so nothing from it is reported
(RFC 8725 sec. 3.10).
"""

from __future__ import annotations

from typing import Any

import pytest
from _validation_support import NOW, Sign, good_claims

from tokenward import Key, TokenValidator, ValidationPolicy
from tokenward.clock import FixedClock
from tokenward.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidToken,
    InvalidTokenType,
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    RevokedToken,
    StorageUnavailable,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
)


class Revoked:
    """A sync-capable revocation check answering ``answer`` (or raising it)."""

    def __init__(self, answer: bool | Exception = True) -> None:
        self.answer = answer

    def is_revoked_now(self, **kw: Any) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def is_revoked(self, **kw: Any) -> bool:
        return self.is_revoked_now(**kw)


@pytest.fixture(params=[1024, 0], ids=["cache", "no-cache"])
def cache_size(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def make(es_key: Key, policy: ValidationPolicy, clock: FixedClock, cache_size: int) -> Any:
    def _make(revocation: Any = None) -> TokenValidator:
        return TokenValidator(
            es_key.public(), policy, clock=clock, revocation=revocation, cache_size=cache_size
        )

    return _make


# --- failures after the signature verified: error.jti is the token's jti --- #


@pytest.mark.parametrize(
    ("changes", "header_changes", "error"),
    [
        ({"iss": "https://evil.example"}, {}, InvalidIssuer),
        ({"aud": "api://other"}, {}, InvalidAudience),
        ({"sub": ...}, {}, MissingClaim),
        ({"exp": "soon"}, {}, InvalidClaim),
        ({"exp": NOW + 90_000}, {}, LifetimeTooLong),
        ({"roles": [1]}, {}, InvalidClaim),
        ({}, {"typ": ...}, InvalidTokenType),
        ({}, {"typ": "JWT"}, InvalidTokenType),
    ],
    ids=["iss", "aud", "missing-sub", "exp-type", "lifetime", "roles", "no-typ", "typ-value"],
)
def test_claim_and_type_failures_carry_the_verified_jti(
    make: Any, sign: Sign, changes: dict[str, Any], header_changes: dict[str, Any], error: type
) -> None:
    token = sign(good_claims(jti="jti-42", **changes), header_changes=header_changes)
    validator = make()
    for _ in range(2):  # the second call must not be served an accepted entry from the cache
        with pytest.raises(error) as info:
            validator.validate(token)
        assert info.value.jti == "jti-42"


@pytest.mark.parametrize(
    ("offset", "error"),
    [(600 + 30, ExpiredToken), (-31, IssuedInFuture)],
    ids=["expired", "iat-in-future"],
)
def test_clock_failures_carry_the_jti_on_first_and_cached_calls(
    make: Any, sign: Sign, clock: FixedClock, offset: float, error: type
) -> None:
    validator = make()
    token = sign(good_claims(jti="jti-7", nbf=...))
    validator.validate(token)  # accepted now (and cached when the cache is on)
    clock.advance(offset)
    for _ in range(2):
        with pytest.raises(error) as info:
            validator.validate(token)
        assert info.value.jti == "jti-7"


def test_not_yet_valid_carries_the_jti(make: Any, sign: Sign) -> None:
    with pytest.raises(TokenNotYetValid) as info:
        make().validate(sign(good_claims(jti="jti-8", nbf=NOW + 120)))
    assert info.value.jti == "jti-8"


def test_revoked_token_carries_the_jti(make: Any, sign: Sign) -> None:
    with pytest.raises(RevokedToken) as info:
        make(Revoked()).validate(sign(good_claims(jti="jti-9")))
    assert info.value.jti == "jti-9"


async def test_avalidate_failures_carry_the_jti(make: Any, sign: Sign, clock: FixedClock) -> None:
    with pytest.raises(RevokedToken) as revoked:
        await make(Revoked()).avalidate(sign(good_claims(jti="jti-10")))
    assert revoked.value.jti == "jti-10"
    with pytest.raises(InvalidIssuer) as bad_iss:
        await make().avalidate(sign(good_claims(jti="jti-11", iss="x")))
    assert bad_iss.value.jti == "jti-11"
    clock.advance(3600)
    with pytest.raises(ExpiredToken) as expired:
        await make().avalidate(sign(good_claims(jti="jti-12")))
    assert expired.value.jti == "jti-12"


@pytest.mark.parametrize("jti", [7, None, ["a"], {"j": 1}], ids=repr)
def test_a_non_string_jti_is_never_reported(make: Any, sign: Sign, jti: Any) -> None:
    with pytest.raises(InvalidToken) as info:
        make().validate(sign(good_claims(jti=jti, iss="https://evil.example")))
    assert info.value.jti is None


# --- failures before (or instead of) a verified signature: never a jti --- #


def test_forged_signature_never_reports_the_jti(make: Any, sign: Sign, es_key: Key) -> None:
    forger = Key.generate("ES256", kid=es_key.kid)  # same kid, different key
    with pytest.raises(BadSignature) as info:
        make().validate(sign(good_claims(jti="jti-forged", iss="x"), key=forger))
    assert info.value.jti is None


@pytest.mark.parametrize(
    ("header_changes", "error"),
    [({"kid": "nope"}, UnknownKey), ({"alg": "ES384"}, AlgorithmNotAllowed)],
    ids=["unknown-kid", "alg"],
)
def test_header_failures_never_report_the_jti(
    make: Any, sign: Sign, header_changes: dict[str, Any], error: type
) -> None:
    with pytest.raises(error) as info:
        make().validate(sign(good_claims(jti="jti-h"), header_changes=header_changes))
    assert info.value.jti is None


def test_malformed_and_oversized_tokens_never_report_a_jti(make: Any, sign: Sign) -> None:
    head, payload, signature = sign(good_claims(jti="jti-m")).split(".")
    with pytest.raises(MalformedToken) as malformed:
        make().validate(f"{head}.{payload}+.{signature}")
    assert malformed.value.jti is None
    with pytest.raises(TokenTooLarge) as large:
        make().validate(sign(good_claims(jti="jti-m", pad="x" * 9000)))
    assert large.value.jti is None


def test_the_class_default_is_never_changed(make: Any, sign: Sign) -> None:
    with pytest.raises(InvalidIssuer):
        make().validate(sign(good_claims(jti="jti-c", iss="x")))
    assert InvalidToken.jti is None and InvalidIssuer.jti is None
    with pytest.raises(BadSignature) as info:
        make().validate(sign(good_claims(jti="jti-c"), key=Key.generate("ES256", kid="es-1")))
    assert info.value.jti is None


def test_a_broken_sync_revocation_backend_fails_closed(make: Any, sign: Sign) -> None:
    with pytest.raises(StorageUnavailable):
        make(Revoked(OSError("connection refused"))).validate(sign())
