"""TokenValidator: claim rules (profile sec. 1 rule 11), cache, revocation, key sources."""

from __future__ import annotations

from typing import Any

import pytest
from _validation_support import AUD, ISS, NOW, Sign, good_claims

from tokenward import Key, KeySet, TokenValidator, ValidationPolicy
from tokenward.clock import FixedClock
from tokenward.errors import (
    ConfigurationError,
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


class MemoryRevocation:
    """Sync-capable revocation check recording every call."""

    def __init__(self) -> None:
        self.revoked: set[tuple[str, str]] = set()
        self.calls: list[dict[str, Any]] = []

    def is_revoked_now(self, **kw: Any) -> bool:
        self.calls.append(kw)
        return (kw["issuer"], kw["jti"]) in self.revoked

    async def is_revoked(self, **kw: Any) -> bool:
        return self.is_revoked_now(**kw)


class AsyncOnlyRevocation:
    def __init__(self, answer: bool | Exception = False) -> None:
        self.answer = answer
        self.calls = 0

    async def is_revoked(self, **kw: Any) -> bool:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Source:
    """A KeySource whose set can be swapped."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys

    def current_keys(self) -> KeySet:
        return self.keys


def test_valid_token_is_accepted(validator: TokenValidator, sign: Sign) -> None:
    assert validator.validate(sign()).subject == "user-1"


def test_bytes_token_is_accepted(validator: TokenValidator, sign: Sign) -> None:
    assert validator.validate(sign().encode()).jti == "jti-1"


@pytest.mark.parametrize("offset", [-29, 0, 599, 629.999])
def test_exp_with_leeway_accepts_until_the_boundary(
    validator: TokenValidator, sign: Sign, clock: FixedClock, offset: float
) -> None:
    clock.set(NOW + offset)
    validator.validate(sign())


@pytest.mark.parametrize("offset", [630, 631, 10_000])
def test_now_at_or_after_exp_plus_leeway_is_expired(
    validator: TokenValidator, sign: Sign, clock: FixedClock, offset: float
) -> None:
    clock.set(NOW + offset)
    with pytest.raises(ExpiredToken):
        validator.validate(sign())


def test_expiry_is_checked_on_every_call_even_when_cached(
    validator: TokenValidator, sign: Sign, clock: FixedClock
) -> None:
    token = sign()
    validator.validate(token)
    validator.validate(token)
    clock.advance(630)
    with pytest.raises(ExpiredToken):
        validator.validate(token)


def test_nbf_in_the_future_beyond_leeway_is_refused(
    validator: TokenValidator, sign: Sign, clock: FixedClock
) -> None:
    token = sign(good_claims(nbf=NOW + 31))
    with pytest.raises(TokenNotYetValid):
        validator.validate(token)
    clock.advance(1)  # now == nbf - leeway: valid from this instant
    assert validator.validate(token).subject == "user-1"


def test_iat_in_the_future_beyond_leeway_is_refused(validator: TokenValidator, sign: Sign) -> None:
    with pytest.raises(IssuedInFuture):
        validator.validate(sign(good_claims(iat=NOW + 31, nbf=...)))
    validator.validate(sign(good_claims(iat=NOW + 30, nbf=...)))


def test_lifetime_longer_than_max_is_refused(validator: TokenValidator, sign: Sign) -> None:
    with pytest.raises(LifetimeTooLong):
        validator.validate(sign(good_claims(exp=NOW + 86401)))
    validator.validate(sign(good_claims(exp=NOW + 86400)))


def test_lifetime_without_iat_is_measured_from_now(
    es_key: Key, sign: Sign, clock: FixedClock
) -> None:
    policy = ValidationPolicy(
        issuers=ISS, audiences=AUD, algorithms="ES256", required_claims=("exp",)
    )
    validator = TokenValidator(es_key.public(), policy, clock=clock)
    with pytest.raises(LifetimeTooLong):
        validator.validate(sign(good_claims(iat=..., exp=NOW + 86401)))
    assert validator.validate(sign(good_claims(iat=..., exp=NOW + 86400))).issued_at is None


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sub", "iss", "aud"])
def test_required_claims_must_be_present(validator: TokenValidator, sign: Sign, claim: str) -> None:
    with pytest.raises(MissingClaim) as info:
        validator.validate(sign(good_claims(**{claim: ...})))
    assert info.value.claim == claim


def test_extra_required_claims_are_enforced(es_key: Key, sign: Sign, clock: FixedClock) -> None:
    policy = ValidationPolicy(
        issuers=ISS, audiences=AUD, algorithms="ES256", required_claims=("exp", "sid")
    )
    validator = TokenValidator(es_key.public(), policy, clock=clock)
    with pytest.raises(MissingClaim):
        validator.validate(sign())
    assert validator.validate(sign(good_claims(sid="s"))).session_id == "s"


@pytest.mark.parametrize("iss", ["https://other", ISS + "/", ISS.upper(), [ISS], None])
def test_issuer_must_match_exactly(validator: TokenValidator, sign: Sign, iss: Any) -> None:
    with pytest.raises(InvalidIssuer):
        validator.validate(sign(good_claims(iss=iss)))


def test_one_of_several_issuers_and_audiences(es_key: Key, sign: Sign, clock: FixedClock) -> None:
    policy = ValidationPolicy(issuers=("https://a", ISS), audiences=("x", AUD), algorithms="ES256")
    validator = TokenValidator(es_key.public(), policy, clock=clock)
    assert validator.validate(sign(good_claims(aud=["x"]))).issuer == ISS


@pytest.mark.parametrize("claim", ["sub", "jti", "sid"])
@pytest.mark.parametrize("value", ["", 7, ["a"], {"a": 1}, None, True, "x" * 257])
def test_identifiers_are_bounded_non_empty_strings(
    validator: TokenValidator, sign: Sign, claim: str, value: Any
) -> None:
    with pytest.raises(InvalidClaim) as info:
        validator.validate(sign(good_claims(**{claim: value})))
    assert info.value.claim == claim


@pytest.mark.parametrize("roles", [[1], [["a"]], {"a": 1}, 5, None, ["a", None]])
def test_roles_must_be_a_string_or_an_array_of_strings(
    validator: TokenValidator, sign: Sign, roles: Any
) -> None:
    with pytest.raises(InvalidClaim) as info:
        validator.validate(sign(good_claims(roles=roles)))
    assert info.value.claim == "roles"


def test_single_string_role_becomes_a_one_tuple(validator: TokenValidator, sign: Sign) -> None:
    assert validator.validate(sign(good_claims(roles="admin"))).roles == ("admin",)


@pytest.mark.parametrize("name", [1, ["Ada"], True])
def test_name_claim_must_be_a_string(validator: TokenValidator, sign: Sign, name: Any) -> None:
    with pytest.raises(InvalidClaim):
        validator.validate(sign(good_claims(name=name)))


@pytest.mark.parametrize(
    ("typ", "accepted"),
    [
        ("at+jwt", True),
        ("application/at+jwt", True),
        # Pinned decision: typ is a media type, whose names are case-insensitive
        # (RFC 6838 sec. 4.2; RFC 7515 sec. 4.1.9 implies "application/" when absent).
        ("AT+JWT", True),
        ("Application/At+Jwt", True),
        ("JWT", False),
        ("jwt", False),
        ("rt+jwt", False),
        ("id_token+jwt", False),
        ("at+jwt ", False),
        ("text/at+jwt", False),
        ("application/", False),
        ("", False),
        (None, False),
        (["at+jwt"], False),
        (..., False),
    ],
)
def test_typ_header_is_required_and_compared_as_a_media_type(
    validator: TokenValidator, sign: Sign, typ: Any, accepted: bool
) -> None:
    token = sign(header_changes={"typ": typ})
    if accepted:
        validator.validate(token)
    else:
        with pytest.raises(InvalidTokenType):
            validator.validate(token)


@pytest.mark.parametrize("token", [None, 7, ["a.b.c"], {"t": 1}, bytearray(b"a.b.c")])
def test_non_string_input_is_malformed(validator: TokenValidator, token: Any) -> None:
    with pytest.raises(MalformedToken):
        validator.validate(token)


def test_size_cap_is_the_policy_one(es_key: Key, sign: Sign, clock: FixedClock) -> None:
    token = sign(good_claims(pad="x" * 300))
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms="ES256", max_token_bytes=256)
    with pytest.raises(TokenTooLarge):
        TokenValidator(es_key.public(), policy, clock=clock).validate(token)


# --- the verified-token cache --- #


def test_cache_is_bounded(es_key: Key, policy: ValidationPolicy, sign: Sign) -> None:
    validator = TokenValidator(es_key.public(), policy, clock=FixedClock(NOW), cache_size=2)
    tokens = [sign(good_claims(jti=f"j{i}")) for i in range(5)]
    for token in tokens:
        validator.validate(token)
    assert len(validator._cache) == 2
    assert all(validator.validate(t).jti == f"j{i}" for i, t in enumerate(tokens))


def test_cache_disabled_keeps_nothing(es_key: Key, policy: ValidationPolicy, sign: Sign) -> None:
    validator = TokenValidator(es_key.public(), policy, clock=FixedClock(NOW), cache_size=0)
    token = sign()
    validator.validate(token)
    assert validator._cache == {}


def test_cached_token_is_refused_once_its_key_leaves_the_key_set(
    es_key: Key, hs_key: Key, policy: ValidationPolicy, sign: Sign, clock: FixedClock
) -> None:
    source = Source(KeySet([es_key.public(), hs_key]))
    validator = TokenValidator(source, policy, clock=clock)
    token = sign()
    assert validator.validate(token).subject == "user-1"
    source.keys = KeySet([hs_key])  # ES key retired: the cache must not vouch for it
    with pytest.raises(UnknownKey):
        validator.validate(token)


def test_clear_cache_forgets_verified_tokens(validator: TokenValidator, sign: Sign) -> None:
    token = sign()
    validator.validate(token)
    assert list(validator._cache) == [token]
    validator.clear_cache()
    assert validator._cache == {}
    assert validator.validate(token).subject == "user-1"  # verified again, not refused


def test_cache_never_accepts_a_different_token_string(
    validator: TokenValidator, sign: Sign
) -> None:
    token = sign()
    validator.validate(token)
    h, p, s = token.split(".")
    with pytest.raises(InvalidToken):
        validator.validate(f"{h}.{p}.{s[:-2]}AA")


# --- revocation --- #


def test_sync_revocation_runs_on_every_call_with_identity_arguments(
    es_key: Key, policy: ValidationPolicy, sign: Sign, clock: FixedClock
) -> None:
    revocation = MemoryRevocation()
    validator = TokenValidator(es_key.public(), policy, clock=clock, revocation=revocation)
    token = sign(good_claims(sid="s-1"))
    validator.validate(token)
    validator.validate(token)
    assert len(revocation.calls) == 2
    assert revocation.calls[0] == {
        "issuer": ISS,
        "jti": "jti-1",
        "sid": "s-1",
        "sub": "user-1",
        "iat": NOW,
    }
    revocation.revoked.add((ISS, "jti-1"))
    with pytest.raises(RevokedToken):
        validator.validate(token)


def test_validate_refuses_when_revocation_is_async_only(
    es_key: Key, policy: ValidationPolicy, sign: Sign, clock: FixedClock
) -> None:
    revocation = AsyncOnlyRevocation()
    validator = TokenValidator(es_key.public(), policy, clock=clock, revocation=revocation)
    with pytest.raises(ConfigurationError):
        validator.validate(sign())
    assert revocation.calls == 0


async def test_avalidate_awaits_the_revocation_check(
    es_key: Key, policy: ValidationPolicy, sign: Sign, clock: FixedClock
) -> None:
    revocation = AsyncOnlyRevocation()
    validator = TokenValidator(es_key.public(), policy, clock=clock, revocation=revocation)
    token = sign()
    assert (await validator.avalidate(token)).subject == "user-1"
    revocation.answer = True
    with pytest.raises(RevokedToken):
        await validator.avalidate(token)
    assert revocation.calls == 2


async def test_avalidate_fails_closed_when_the_revocation_backend_breaks(
    es_key: Key, policy: ValidationPolicy, sign: Sign, clock: FixedClock
) -> None:
    revocation = AsyncOnlyRevocation(OSError("connection refused"))
    validator = TokenValidator(es_key.public(), policy, clock=clock, revocation=revocation)
    with pytest.raises(StorageUnavailable):
        await validator.avalidate(sign())


async def test_avalidate_applies_the_same_claim_rules(
    validator: TokenValidator, sign: Sign, clock: FixedClock
) -> None:
    with pytest.raises(InvalidAudience):
        await validator.avalidate(sign(good_claims(aud="other")))
    clock.advance(630)
    with pytest.raises(ExpiredToken):
        await validator.avalidate(sign())


@pytest.mark.parametrize(
    "kwargs",
    [{"cache_size": -1}, {"cache_size": 1.5}, {"revocation": object()}],
    ids=repr,
)
def test_bad_validator_arguments_are_refused(
    es_key: Key, policy: ValidationPolicy, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        TokenValidator(es_key.public(), policy, **kwargs)


@pytest.mark.parametrize("keys", [None, "secret", b"k", {"keys": []}])
def test_keys_must_be_a_key_keyset_or_source(policy: ValidationPolicy, keys: Any) -> None:
    with pytest.raises(ConfigurationError):
        TokenValidator(keys, policy)
