"""Property tests: whatever the input, ``jws.verify`` and ``decode_jwt`` either succeed or
raise an ``InvalidToken`` subclass; nothing else ever escapes (security profile sec. 1)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenward import Key, KeySet, jws
from tokenward.errors import InvalidToken
from tokenward.jose import decode_jwt

KEYS = {alg: Key.generate(alg, kid=alg) for alg in ("HS256", "ES256", "EdDSA")}
KEYSET = KeySet([KEYS["HS256"], KEYS["ES256"].public(), KEYS["EdDSA"].public()])
VALID = {
    alg: jws.sign(json.dumps({"sub": "alice", "exp": 1}).encode(), key, header={"typ": "at+jwt"})
    for alg, key in KEYS.items()
}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\x00é{}\"'"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(token: Any, resolver: Any) -> object:
    return decode_jwt(token, resolver, algorithms=("HS256", "ES256"), max_bytes=4096)


def check(token: Any, *, refused: bool = False) -> None:
    """Every entry point either returns or raises InvalidToken (always raises if ``refused``)."""
    for resolver in (KEYSET, KEYS["HS256"], KEYS["ES256"].public()):
        for entry_point in (jws.verify, _decode):
            try:
                entry_point(token, resolver)
            except InvalidToken:
                continue
            assert not refused, "input without a real signature was accepted"


@FUZZ
@given(st.text(alphabet=ALPHABET, max_size=300))
def test_random_text_only_raises_invalid_token(token: str) -> None:
    check(token, refused=True)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_invalid_token(token: bytes) -> None:
    check(token, refused=True)


@FUZZ
@given(st.text(max_size=100))
def test_random_unicode_only_raises_invalid_token(token: str) -> None:
    check(token, refused=True)


@FUZZ
@given(
    st.sampled_from(sorted(VALID)),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(ALPHABET)),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["replace", "insert", "delete"]),
)
def test_mutated_valid_tokens_only_raise_invalid_token(
    alg: str, edits: list[tuple[int, str]], how: str
) -> None:
    token = VALID[alg]
    for position, char in edits:
        i = position % len(token)
        if how == "replace":
            token = token[:i] + char + token[i + 1 :]
        elif how == "insert":
            token = token[:i] + char + token[i:]
        else:
            token = token[:i] + token[i + 1 :]
    if token == VALID[alg]:
        return
    with pytest.raises(InvalidToken):
        jws.verify(token, KEYSET)
    check(token, refused=True)


@FUZZ
@given(json_values, json_values)
def test_signed_arbitrary_json_header_and_payload_only_raise_invalid_token(
    header: Any, payload: Any
) -> None:
    # correctly signed with the real HMAC key: only the header/payload content varies
    key = KEYS["HS256"]
    data = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    check(f"{data}.{b64(key.sign(data.encode()))}")


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "cty", "jwk", "b64", "x"]),
        json_values | st.sampled_from(["HS256", "ES256", "EdDSA", "none"]),
        max_size=5,
    ),
    st.binary(max_size=64),
)
def test_signed_header_permutations_only_raise_invalid_token(
    header: dict[str, Any], payload: bytes
) -> None:
    key = KEYS["HS256"]
    data = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    check(f"{data}.{b64(key.sign(data.encode()))}")


@FUZZ
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_signed_raw_bytes_only_raise_invalid_token(header: bytes, payload: bytes) -> None:
    key = KEYS["HS256"]
    data = f"{b64(header)}.{b64(payload)}"
    check(f"{data}.{b64(key.sign(data.encode()))}")
