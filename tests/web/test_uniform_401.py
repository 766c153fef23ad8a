"""Security profile F3/K9: every rejected token gets the identical 401, by header or cookie."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from _web_support import AUDIENCE, ISSUER, Denylist, forge_hs

from tokenward.clock import FixedClock
from tokenward.keys import Key
from tokenward.tokens import TokenIssuer

Forge = Callable[[TokenIssuer, Key, Key, FixedClock, Denylist], str]


def _claims(clock: FixedClock, **overrides: object) -> dict[str, object]:
    now = int(clock.now())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "jti": "j-forged",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _issuer(key: Key, clock: FixedClock, **kwargs: object) -> TokenIssuer:
    options: dict[str, object] = {"issuer": ISSUER, "audience": AUDIENCE, "lifetime": 900}
    options.update(kwargs)
    return TokenIssuer(key, clock=clock, **options)  # type: ignore[arg-type]


def _flip_signature(token: str) -> str:
    head, _, sig = token.rpartition(".")
    middle = len(sig) // 2
    return f"{head}.{sig[:middle]}{'A' if sig[middle] != 'A' else 'B'}{sig[middle + 1 :]}"


def _revoked(issuer: TokenIssuer, denylist: Denylist) -> str:
    issued = issuer.issue("alice")
    denylist.jtis.add(issued.jti)
    return issued.token


HS = {"alg": "HS256", "typ": "at+jwt", "kid": "hs1"}
SECRET = b"k" * 32

CASES: dict[str, Forge] = {
    "expired": lambda i, hs, rs, c, d: _issuer(hs, FixedClock(c.now() - 3600)).issue("a").token,
    "bad_signature": lambda i, hs, rs, c, d: _flip_signature(i.issue("alice").token),
    "wrong_audience": lambda i, hs, rs, c, d: _issuer(hs, c, audience="other").issue("a").token,
    "wrong_issuer": lambda i, hs, rs, c, d: _issuer(hs, c, issuer="https://evil").issue("a").token,
    "iat_in_future": lambda i, hs, rs, c, d: (
        _issuer(hs, FixedClock(c.now() + 3600)).issue("a").token
    ),
    "lifetime_too_long": lambda i, hs, rs, c, d: i.issue("alice", lifetime=10 * 86400).token,
    "typ_jwt": lambda i, hs, rs, c, d: _issuer(hs, c, token_type="JWT").issue("a").token,
    "unknown_kid": lambda i, hs, rs, c, d: (
        _issuer(Key.from_secret(b"z" * 32, alg="HS256"), c).issue("a").token
    ),
    "revoked": lambda i, hs, rs, c, d: _revoked(i, d),
    "alg_none": lambda i, hs, rs, c, d: (
        forge_hs({**HS, "alg": "none"}, _claims(c), SECRET).rpartition(".")[0] + "."
    ),
    # profile A3: the RSA public key (PEM SPKI) used as the HMAC secret, kid of the RSA key
    "hs_with_rsa_public_key": lambda i, hs, rs, c, d: forge_hs(
        {**HS, "kid": "rs1"}, _claims(c), rs.public().to_pem()
    ),
    "missing_jti": lambda i, hs, rs, c, d: forge_hs(HS, _claims(c, jti=None), SECRET),
    "exp_as_string": lambda i, hs, rs, c, d: forge_hs(HS, _claims(c, exp="9999999999"), SECRET),
    "crit_header": lambda i, hs, rs, c, d: forge_hs({**HS, "crit": ["exp"]}, _claims(c), SECRET),
    "jku_header": lambda i, hs, rs, c, d: forge_hs(
        {**HS, "jku": "http://127.0.0.1/jwks"}, _claims(c), SECRET
    ),
    "duplicate_claim": lambda i, hs, rs, c, d: forge_hs(
        HS, b'{"sub":"alice","sub":"admin","iss":"' + ISSUER.encode() + b'"}', SECRET
    ),
    "two_segments": lambda i, hs, rs, c, d: i.issue("alice").token.rpartition(".")[0],
    "garbage": lambda i, hs, rs, c, d: "not-a-token",
    "oversized": lambda i, hs, rs, c, d: "a" * 9000 + "." + "b" * 10 + "." + "c" * 10,
    "padding": lambda i, hs, rs, c, d: i.issue("alice").token + "==",
}


@pytest.fixture
def bad_tokens(
    issuer: TokenIssuer, hs_key: Key, rs_key: Key, clock: FixedClock, denylist: Denylist
) -> dict[str, str]:
    return {name: forge(issuer, hs_key, rs_key, clock, denylist) for name, forge in CASES.items()}


def _snapshot(response: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    return response.status_code, response.content, tuple(sorted(response.headers.items()))


@pytest.mark.parametrize("path", ["/me", "/fast/me"])
async def test_every_failure_cause_gets_the_identical_401(
    client: httpx.AsyncClient, bad_tokens: dict[str, str], issuer: TokenIssuer, path: str
) -> None:
    assert len(bad_tokens) >= 10
    good = await client.get(path, headers={"Authorization": f"Bearer {issuer.issue('a').token}"})
    assert good.status_code == 200  # the app works; the failures below are the tokens
    seen = set()
    for name, token in bad_tokens.items():
        by_header = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        by_cookie = await client.get(path, headers={"Cookie": f"__Host-at={token}"})
        assert by_header.status_code == 401, name
        seen.add(_snapshot(by_header))
        seen.add(_snapshot(by_cookie))
    query = await client.get(path, params={"access_token": issuer.issue("a").token})
    empty = await client.get(path, headers={"Authorization": "Bearer "})
    seen.update({_snapshot(query), _snapshot(empty)})
    assert len(seen) == 1, seen
    status, body, headers = seen.pop()
    assert status == 401
    assert ("www-authenticate", 'Bearer error="invalid_token"') in headers


async def test_reasons_are_distinct_in_the_log(
    client: httpx.AsyncClient, bad_tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="tokenward.web"):
        for token in bad_tokens.values():
            await client.get("/fast/me", headers={"Authorization": f"Bearer {token}"})
    codes = {record.code for record in caplog.records}  # type: ignore[attr-defined]
    assert {"expired", "bad_signature", "invalid_audience", "revoked", "unknown_key"} <= codes
    text = "\n".join(str(vars(record)) for record in caplog.records)
    assert all(token not in text for token in bad_tokens.values() if len(token) > 20)
