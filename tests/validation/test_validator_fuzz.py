"""Hypothesis: mutated and random tokens only ever raise InvalidToken through the validator."""

from __future__ import annotations

import json

import pytest
from _validation_support import b64, good_claims
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenward import Key, TokenIssuer, TokenValidator, ValidationPolicy
from tokenward.clock import FixedClock
from tokenward.errors import InvalidToken

KEY = Key.generate("HS256", kid="fuzz")
POLICY = ValidationPolicy(issuers="https://auth.example.com", audiences="api://orders",
                          algorithms="HS256")  # fmt: skip
TOKEN = (
    TokenIssuer(KEY, issuer="https://auth.example.com", audience="api://orders", lifetime=600)
    .issue("user-1", roles=["r"])
    .token
)
ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n{}"\x00é'


def _refuses(validator: TokenValidator, token: str | bytes) -> None:
    """The token is refused, with an InvalidToken and nothing else."""
    with pytest.raises(InvalidToken):
        validator.validate(token)


def _accepts_or_refuses_cleanly(validator: TokenValidator, token: str | bytes) -> None:
    try:
        validator.validate(token)
    except InvalidToken:
        pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    position=st.integers(min_value=0, max_value=len(TOKEN) - 1),
    replacement=st.text(alphabet=ALPHABET, min_size=0, max_size=3),
)
def test_mutated_tokens_only_raise_invalid_token(position: int, replacement: str) -> None:
    validator = TokenValidator(KEY, POLICY)
    mutated = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    if mutated == TOKEN:
        assert validator.validate(mutated).subject == "user-1"
    else:  # no other string carries this signature (canonical base64url, exact bytes)
        _refuses(validator, mutated)


@settings(max_examples=300)
@given(st.one_of(st.text(alphabet=ALPHABET, max_size=200), st.binary(max_size=200)))
def test_random_input_only_raises_invalid_token(token: str | bytes) -> None:
    _refuses(TokenValidator(KEY, POLICY), token)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["exp", "iat", "nbf", "sub", "jti", "aud", "iss", "roles", "name", "sid"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
            max_leaves=5,
        ),
    )
)
def test_correctly_signed_hostile_claims_only_raise_invalid_token(
    changes: dict[str, object],
) -> None:
    claims = {**good_claims(), **changes}
    try:
        body = json.dumps(claims, allow_nan=False).encode()
    except ValueError:
        return
    si = b64(b'{"alg":"HS256","typ":"at+jwt","kid":"fuzz"}') + "." + b64(body)
    token = si + "." + b64(KEY.sign(si.encode()))
    _accepts_or_refuses_cleanly(TokenValidator(KEY, POLICY, clock=FixedClock()), token)


@pytest.mark.parametrize("token", [TOKEN, TOKEN.encode()])
def test_fuzz_baseline_token_is_valid(token: str | bytes) -> None:
    assert TokenValidator(KEY, POLICY).validate(token).roles == ("r",)


NUMERIC_DATES = (
    st.integers(min_value=-(10**400), max_value=10**400)
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["exp", "iat", "nbf"]), NUMERIC_DATES, min_size=1),
    st.sampled_from([0, 30]),
)
def test_correctly_signed_huge_numeric_dates_only_raise_invalid_token(
    dates: dict[str, int | float], leeway: int
) -> None:
    body = json.dumps({**good_claims(), **dates}).encode()
    si = b64(b'{"alg":"HS256","typ":"at+jwt","kid":"fuzz"}') + "." + b64(body)
    token = si + "." + b64(KEY.sign(si.encode()))
    policy = ValidationPolicy(issuers="https://auth.example.com", audiences="api://orders",
                              algorithms="HS256", leeway=leeway)  # fmt: skip
    _accepts_or_refuses_cleanly(TokenValidator(KEY, policy, clock=FixedClock()), token)
