"""A sample of security-profile sec. 2 attacks against the running service.

Each forged token is sent as ``Authorization: Bearer`` AND as the ``__Host-at`` cookie (K9).
Every one must get the identical 401 (status, body, ``WWW-Authenticate``) and never a 500
(profile rule 13, F3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from _service_support import Service, bearer

from tokenward.keys import Key

EXPECTED_BODY = {
    "error": "invalid_token",
    "error_description": "the access token is missing, invalid or expired",
}
EXPECTED_CHALLENGE = 'Bearer error="invalid_token"'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def enc(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return b64(raw)


class Forge:
    """Builds tokens around the service's real key and claims."""

    def __init__(self, service: Service) -> None:
        self.key: Key = service.runtime.keys.active_key
        now = int(service.clock.now())
        self.header = {"alg": self.key.alg, "typ": "at+jwt", "kid": self.key.kid}
        self.claims = {
            "iss": "http://127.0.0.1:8000",
            "sub": "attacker",
            "aud": "tokenward",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": "forged-jti-1",
            "roles": ["Admin"],
        }

    def signed(self, header: Any = None, claims: Any = None) -> str:
        """Correctly signed by the service's own key (so only the checks can refuse it)."""
        head = enc(self.header if header is None else header)
        body = enc(self.claims if claims is None else claims)
        signing_input = f"{head}.{body}"
        return f"{signing_input}.{b64(self.key.sign(signing_input.encode()))}"

    def hmac_with(self, secret: bytes, header: Any = None) -> str:
        head = enc(header or {**self.header, "alg": "HS256"})
        signing_input = f"{head}.{enc(self.claims)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"

    def with_header(self, **changes: Any) -> str:
        return self.signed(header={**self.header, **changes})

    def with_claims(self, drop: tuple[str, ...] = (), **changes: Any) -> str:
        claims = {k: v for k, v in self.claims.items() if k not in drop}
        return self.signed(claims={**claims, **changes})


def _unsigned(f: Forge, alg: str) -> str:
    return f"{enc({**f.header, 'alg': alg})}.{enc(f.claims)}."


ATTACKS: dict[str, Callable[[Forge], str]] = {
    # 2.A algorithms and signatures
    "A1 alg none": lambda f: _unsigned(f, "none"),
    "A1 alg nOnE": lambda f: _unsigned(f, "nOnE"),
    "A2 alg missing": lambda f: f.signed(header={"typ": "at+jwt", "kid": f.key.kid}),
    "A2 alg lower case": lambda f: f.with_header(alg="rs256"),
    "A3 HS256 keyed with public PEM": lambda f: f.hmac_with(f.key.to_pem()),
    "A3 HS256 keyed with public JWK": lambda f: f.hmac_with(json.dumps(f.key.to_jwk()).encode()),
    "A7 empty signature": lambda f: f.signed().rsplit(".", 1)[0] + ".",
    "A8 blank HMAC secret": lambda f: f.hmac_with(b""),
    "A14 truncated signature": lambda f: f.signed()[:-10],
    # 2.B key selection
    "B1 embedded jwk": lambda f: f.with_header(jwk=f.key.to_jwk()),
    "B2 jku": lambda f: f.with_header(jku="http://127.0.0.1:9/jwks.json"),
    "B3 x5c": lambda f: f.with_header(x5c=["MIIB"]),
    "B4 kid traversal": lambda f: f.hmac_with(
        b"", {**f.header, "alg": "HS256", "kid": "../../dev/null"}
    ),
    "B4 kid number": lambda f: f.with_header(kid=7),
    "B5 kid missing": lambda f: f.signed(header={"alg": f.key.alg, "typ": "at+jwt"}),
    "B10 unknown key": lambda f: f.with_header(kid="retired-and-gone"),
    # 2.C header semantics
    "C1 crit": lambda f: f.with_header(crit=["exp"]),
    "C2 b64 false": lambda f: f.with_header(b64=False),
    "C4 typ JWT": lambda f: f.with_header(typ="JWT"),
    "C4 typ missing": lambda f: f.signed(header={"alg": f.key.alg, "kid": f.key.kid}),
    "C5 cty JWT": lambda f: f.with_header(cty="JWT"),
    "C6 JWE shape": lambda f: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
    "C6 zip": lambda f: f.with_header(zip="DEF"),
    "C8 header is array": lambda f: f.signed(header=[1]),
    # 2.D encoding and size
    "D1 padding": lambda f: f.signed().replace(".", "=.", 1),
    "D2 inner whitespace": lambda f: f.signed().replace(".", ". ", 1),
    "D2 tab": lambda f: f.signed().replace(".", "\t.", 1),
    "D2 non-ASCII": lambda f: f.signed() + "\u00e9",
    "D3 UTF-8 BOM header": lambda f: f.signed(
        header=b"\xef\xbb\xbf" + json.dumps(f.header).encode()
    ),
    "D5 NaN exp": lambda f: f.signed(claims=json.dumps({**f.claims, "exp": float("nan")}).encode()),
    "D6 huge exp": lambda f: f.signed(claims=('{"exp":' + "9" * 5000 + "}").encode()),
    "D7 deep nesting": lambda f: f.signed(claims=("[" * 2000 + "]" * 2000).encode()),
    "D8 only dots": lambda f: "." * 8192,
    "D9 oversized": lambda f: f.with_claims(pad="x" * 9000),
    "C3 duplicate sub": lambda f: f.signed(
        claims=json.dumps(f.claims)[:-1].encode() + b',"sub":"admin"}'
    ),
    # 2.E claims
    "E1 exp missing": lambda f: f.with_claims(drop=("exp",)),
    "E1 jti missing": lambda f: f.with_claims(drop=("jti",)),
    "E2 exp string": lambda f: f.with_claims(exp="9999999999"),
    "E3 exp bool": lambda f: f.with_claims(exp=True),
    "E4 expired": lambda f: f.with_claims(exp=f.claims["iat"] - 3600, iat=f.claims["iat"] - 4000),
    "E5 ten years": lambda f: f.with_claims(exp=f.claims["iat"] + 10 * 365 * 86400),
    "E5 iat in future": lambda f: f.with_claims(iat=f.claims["iat"] + 3600),
    "E6 wrong audience": lambda f: f.with_claims(aud="billing"),
    "E6 audience case": lambda f: f.with_claims(aud="TOKENWARD"),
    "E7 issuer prefix": lambda f: f.with_claims(iss="http://127.0.0.1"),
    "E8 sub number": lambda f: f.with_claims(sub=123),
    # 2.F
    "F1 refresh token as bearer": lambda f: "rt_" + "A" * 22 + "." + "B" * 43,
    "other key same kid": lambda f: _other_key_token(f),
}


def _other_key_token(f: Forge) -> str:
    other = Key.generate("RS256", kid=f.key.kid)
    signing_input = f"{enc(f.header)}.{enc(f.claims)}"
    return f"{signing_input}.{b64(other.sign(signing_input.encode()))}"


@pytest.fixture
async def forge(service: Service) -> Forge:
    return Forge(service)


async def test_forge_baseline_is_accepted(service: Service, forge: Forge) -> None:
    """The control: an honest token built the same way passes, so each attack below fails
    only because of what it changes."""
    for token in (forge.signed(), forge.with_header(typ="application/at+jwt")):
        response = await service.client.get("/me", headers=bearer(token))
        assert response.status_code == 200
        assert response.json()["subject"] == "attacker"


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_attack_gets_identical_401_as_header_and_cookie(
    service: Service, forge: Forge, name: str
) -> None:
    raw = ATTACKS[name](forge).encode("utf-8")
    as_header = await service.client.get("/me", headers={"Authorization": b"Bearer " + raw})
    as_cookie = await service.client.get("/me", headers={"Cookie": b"__Host-at=" + raw})
    for response in (as_header, as_cookie):
        assert response.status_code == 401, (name, response.text)
        assert response.json() == EXPECTED_BODY
        assert response.headers["www-authenticate"] == EXPECTED_CHALLENGE
    assert as_header.content == as_cookie.content


async def test_revoked_token_gets_identical_401(service: Service) -> None:
    """E9 through the API: after logout the same token, by header or cookie, is refused."""
    pair = await service.login()
    await service.client.post("/auth/logout", headers=bearer(pair["access_token"]))
    as_header = await service.client.get("/me", headers=bearer(pair["access_token"]))
    as_cookie = await service.client.get(
        "/me", headers={"Cookie": f"__Host-at={pair['access_token']}"}
    )
    for response in (as_header, as_cookie):
        assert response.status_code == 401
        assert response.json() == EXPECTED_BODY


async def test_tampered_cookie_on_unsafe_route_is_401_not_csrf(service: Service) -> None:
    """K9: a tampered cookie fails validation before any CSRF logic runs."""
    token = await service.login_cookie()
    access = service.client.cookies.get("__Host-at")
    assert access is not None
    tampered = access[:-4] + ("AAAA" if access[-4:] != "AAAA" else "BBBB")
    response = await service.client.post(
        "/auth/logout-all",
        headers={"Cookie": f"__Host-at={tampered}; __Host-csrf={token}", "X-CSRF-Token": token},
    )
    assert response.status_code == 401
    assert response.json() == EXPECTED_BODY
