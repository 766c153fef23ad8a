"""Interop, both directions, for every algorithm: tokens from tokenward verify in PyJWT,
joserfc and jwcrypto; their tokens verify in tokenward (keys exchanged as JWK or PEM)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import jwt as pyjwt
import pytest
from joserfc import jwk as jjwk
from joserfc import jws as jjws
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from tokenward import Key, jws

ALGS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
PAYLOAD = json.dumps({"sub": "alice", "roles": ["a", "b"], "n": "Zoë"}).encode()


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {alg: Key.generate(alg, kid=f"interop-{alg}") for alg in ALGS}


def _secret(key: Key) -> bytes:
    import base64

    return base64.urlsafe_b64decode(key.to_jwk(private=True)["k"] + "==")


def _pyjwt_key(key: Key, *, private: bool) -> bytes:
    if key.kty == "oct":
        return _secret(key)
    return key.to_pem(private=private)


# --- verifiers and signers of each peer --- #


def pyjwt_verify(token: str, key: Key) -> bytes:
    payload: bytes = pyjwt.PyJWS().decode(
        token, _pyjwt_key(key, private=False), algorithms=[key.alg]
    )
    return payload


def pyjwt_sign(key: Key) -> str:
    return pyjwt.PyJWS().encode(
        PAYLOAD, _pyjwt_key(key, private=True), algorithm=key.alg, headers={"kid": key.kid}
    )


def _joserfc_key(key: Key, *, private: bool) -> object:
    jwk = key.to_jwk(private=private or key.kty == "oct")
    return jjwk.import_key(jwk)


def joserfc_verify(token: str, key: Key) -> bytes:
    with warnings.catch_warnings():
        # joserfc flags the polymorphic "EdDSA" name as deprecated by RFC 9864 (which
        # prefers "Ed25519"); the wire format is the same
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        jkey = _joserfc_key(key, private=False)
        obj = jjws.deserialize_compact(token, jkey, algorithms=[key.alg])
    payload: bytes = obj.payload
    return payload


def joserfc_sign(key: Key) -> str:
    header = {"alg": key.alg, "kid": key.kid}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        jkey = _joserfc_key(key, private=True)
        token: str = jjws.serialize_compact(header, PAYLOAD, jkey, algorithms=[key.alg])
    return token


def _jwcrypto_key(key: Key, *, private: bool) -> cjwk.JWK:
    return cjwk.JWK(**key.to_jwk(private=private or key.kty == "oct"))


def jwcrypto_verify(token: str, key: Key) -> bytes:
    obj = cjws.JWS()
    obj.deserialize(token)
    obj.verify(_jwcrypto_key(key, private=False), alg=key.alg)
    payload: bytes = obj.payload
    return payload


def jwcrypto_sign(key: Key) -> str:
    obj = cjws.JWS(PAYLOAD)
    protected = json.dumps({"alg": key.alg, "kid": key.kid})
    obj.add_signature(_jwcrypto_key(key, private=True), alg=key.alg, protected=protected)
    token: str = obj.serialize(compact=True)
    return token


VERIFIERS: dict[str, Callable[[str, Key], bytes]] = {
    "pyjwt": pyjwt_verify,
    "joserfc": joserfc_verify,
    "jwcrypto": jwcrypto_verify,
}
SIGNERS: dict[str, Callable[[Key], str]] = {
    "pyjwt": pyjwt_sign,
    "joserfc": joserfc_sign,
    "jwcrypto": jwcrypto_sign,
}


@pytest.mark.parametrize("peer", VERIFIERS)
@pytest.mark.parametrize("alg", ALGS)
def test_tokenward_token_verifies_in_peer(keys: dict[str, Key], alg: str, peer: str) -> None:
    key = keys[alg]
    token = jws.sign(PAYLOAD, key, header={"typ": "at+jwt"})
    assert VERIFIERS[peer](token, key) == PAYLOAD


@pytest.mark.parametrize("peer", SIGNERS)
@pytest.mark.parametrize("alg", ALGS)
def test_peer_token_verifies_in_tokenward(keys: dict[str, Key], alg: str, peer: str) -> None:
    key = keys[alg]
    token = SIGNERS[peer](key)
    verified = jws.verify(token, key.public(), algorithms=[alg])
    assert verified.payload == PAYLOAD
    assert verified.header["alg"] == alg and verified.header["kid"] == key.kid


@pytest.mark.parametrize("alg", [a for a in ALGS if not a.startswith("HS")])
def test_public_jwk_export_is_accepted_by_peers(keys: dict[str, Key], alg: str) -> None:
    key = keys[alg]
    jwk = key.to_jwk()
    assert cjwk.JWK(**jwk).thumbprint() == key.thumbprint()
    assert jjwk.import_key(jwk).thumbprint() == key.thumbprint()
    assert Key.from_jwk(json.loads(cjwk.JWK(**jwk).export_public()), alg=alg).kid == key.kid
