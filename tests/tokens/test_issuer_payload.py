"""TokenIssuer writes its payload from pre-encoded pieces: it must be exactly json.dumps.

Also: the pooled jtis stay canonical 128-bit values and are never shared with a fork.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenward import Key, TokenIssuer
from tokenward.clock import FixedClock
from tokenward.errors import ConfigurationError
from tokenward.jose._b64 import b64url_decode
from tokenward.tokens import RESERVED_CLAIMS

ISS, AUD = 'https://auth.example.com/\u00e9"q', ["api://orders", "api://\u2603"]


def _payload(token: str) -> bytes:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _compact(claims: dict[str, Any]) -> bytes:
    return json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    key = Key.generate("HS256", kid="k")
    return TokenIssuer(
        key, issuer=ISS, audience=AUD, lifetime=60, client_id="c\\1", clock=FixedClock(1.8e9)
    )


# any Unicode text the stdlib encoder can write as UTF-8: quotes, backslashes, controls,
# non-ASCII and astral characters, but no lone surrogates
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
ids = text.filter(lambda s: 0 < len(s) <= 256)
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | text
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
custom = st.dictionaries(text.filter(lambda k: k not in RESERVED_CLAIMS), json_value, max_size=4)


@given(
    subject=ids,
    name=st.none() | text,
    roles=st.lists(text, max_size=3),
    session_id=st.none() | ids,
    claims=custom,
)
def test_payload_is_byte_for_byte_what_json_dumps_writes(
    issuer: TokenIssuer,
    subject: str,
    name: str | None,
    roles: list[str],
    session_id: str | None,
    claims: dict[str, Any],
) -> None:
    issued = issuer.issue(subject, name=name, roles=roles, session_id=session_id, claims=claims)
    raw = _payload(issued.token)
    decoded = json.loads(raw)
    assert raw == _compact(decoded)  # compact JSON, and nothing but what it decodes to
    expected: dict[str, Any] = {"iss": ISS, "sub": subject, "aud": AUD, "client_id": "c\\1"}
    expected.update(iat=1_800_000_000, nbf=1_800_000_000, exp=1_800_000_060, jti=issued.jti)
    if name is not None:
        expected["name"] = name
    if roles:
        expected["roles"] = roles
    if session_id is not None:
        expected["sid"] = session_id
    expected.update(claims)
    assert raw == _compact(expected)


@pytest.mark.parametrize("name", [1, True, None, 1.5, ("a",)], ids=repr)
def test_custom_claim_names_must_be_strings(issuer: TokenIssuer, name: Any) -> None:
    # json.dumps would write 1 and True as "1" and "true", next to any claim already named so
    with pytest.raises(ConfigurationError, match="names must be strings"):
        issuer.issue("u", claims={name: "x"})


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), [float("-inf")], {"a": object()}, {1, 2}], ids=repr
)
def test_custom_claim_values_must_be_json(issuer: TokenIssuer, value: Any) -> None:
    with pytest.raises(ConfigurationError, match="JSON"):
        issuer.issue("u", claims={"x": value})


def test_a_self_referencing_claim_is_refused_not_a_crash(issuer: TokenIssuer) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ConfigurationError):
        issuer.issue("u", claims={"x": loop})


@pytest.mark.parametrize("where", ["subject", "name", "roles", "session_id", "claim", "key"])
def test_lone_surrogates_are_refused_wherever_they_are(issuer: TokenIssuer, where: str) -> None:
    bad = "a\udc80"
    kwargs: dict[str, Any] = {
        "subject": {"subject": bad},
        "name": {"subject": "u", "name": bad},
        "roles": {"subject": "u", "roles": [bad]},
        "session_id": {"subject": "u", "session_id": bad},
        "claim": {"subject": "u", "claims": {"x": [bad]}},
        "key": {"subject": "u", "claims": {bad: 1}},
    }[where]
    with pytest.raises(ConfigurationError):
        issuer.issue(**kwargs)


def test_jtis_are_canonical_128_bit_values_across_refills(issuer: TokenIssuer) -> None:
    jtis = [issuer.issue("u").jti for _ in range(700)]  # more than two refills of the pool
    assert len(set(jtis)) == len(jtis)
    assert all(len(jti) == 22 and len(b64url_decode(jti)) == 16 for jti in jtis)
    # the 4 spare bits of the last character are zero; the other 2 take all 4 values
    assert {jti[-1] for jti in jtis} <= set("AQgw") and len({jti[-1] for jti in jtis}) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_reuses_the_parents_pending_jtis() -> None:
    issuer = TokenIssuer(Key.generate("HS256"), issuer="i", audience="a", lifetime=60)
    issuer.issue("u")  # the pool now holds the next jtis
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its jtis, then leave without running pytest's teardown
        try:
            os.write(write_end, ",".join(issuer.issue("u").jti for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 4096).decode().split(",")
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = [issuer.issue("u").jti for _ in range(3)]
    assert len(child) == 3 and not set(child) & set(parent)
