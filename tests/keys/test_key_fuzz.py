"""Property tests: JWK, JWKS and PEM import either succeed or raise ``InvalidKey``."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenward import Key, KeySet
from tokenward.errors import InvalidKey

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEMPLATES = [
    Key.generate(alg).to_jwk(private=True) for alg in ("HS256", "RS256", "ES256", "ES512", "EdDSA")
]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


member_values = st.one_of(
    st.binary(max_size=80).map(b64),
    st.text(max_size=20),
    st.integers(),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=8), max_size=3),
    st.sampled_from(["sig", "enc", "EC", "RSA", "oct", "OKP", "P-256", "Ed25519", "X25519",
                     "HS256", "ES256", "RS256", "EdDSA", "none", "A256GCM", "AQAB"]),
)  # fmt: skip
member_names = st.sampled_from(
    ["kty", "alg", "kid", "use", "key_ops", "crv", "x", "y", "d", "n", "e", "p", "q", "dp",
     "dq", "qi", "k", "oth", "x5c"]
)  # fmt: skip


def import_or_invalid(jwk: Any) -> None:
    try:
        key = Key.from_jwk(jwk)
    except InvalidKey:
        return
    assert key.alg and key.kid  # an accepted key is fully formed
    key.public().thumbprint()


@FUZZ
@given(st.sampled_from(TEMPLATES), st.dictionaries(member_names, member_values, max_size=4))
def test_mutated_jwks_import_or_raise_invalid_key(
    template: dict[str, Any], changes: dict[str, Any]
) -> None:
    import_or_invalid({**template, **changes})


@FUZZ
@given(st.sampled_from(TEMPLATES), st.sets(member_names, max_size=4))
def test_jwks_with_members_removed_import_or_raise_invalid_key(
    template: dict[str, Any], removed: set[str]
) -> None:
    import_or_invalid({k: v for k, v in template.items() if k not in removed})


@FUZZ
@given(st.dictionaries(member_names, member_values, max_size=8))
def test_random_jwks_import_or_raise_invalid_key(jwk: dict[str, Any]) -> None:
    import_or_invalid(jwk)


@FUZZ
@given(
    st.lists(st.sampled_from(TEMPLATES) | st.dictionaries(member_names, member_values), max_size=4)
)
def test_random_jwk_sets_import_or_raise_invalid_key(keys: list[Any]) -> None:
    for skip in (False, True):
        try:
            KeySet.from_jwks({"keys": keys}, skip_unusable=skip)
        except InvalidKey:
            pass


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_random_pem_input_raises_invalid_key(data: bytes | str) -> None:
    for prefix in ("", "-----BEGIN PUBLIC KEY-----\n", "-----BEGIN PRIVATE KEY-----\n"):
        payload: bytes | str = prefix.encode() + data if isinstance(data, bytes) else prefix + data
        with pytest.raises(InvalidKey):
            Key.from_pem(payload, alg="ES256")
