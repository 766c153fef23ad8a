"""RFC 7520 (JOSE Cookbook), RFC 8037 and RFC 7638 vectors (files copied from
ietf-jose/cookbook, see ``rfc7520/SOURCE.md``).

Policy pinned here (security profile sec. 8): a key is bound to exactly one algorithm
(RFC 8725 sec. 3.1). The cookbook JWKs of sec. 4.1-4.3 carry no ``alg`` member, so each is
bound to the algorithm its example uses and verifies; bound to any other algorithm (as the
Wycheproof copies do with ``"alg": "PS256"`` for the PS384 example) the same token is
rejected.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tokenward import Key, KeySet, jws
from tokenward.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    InvalidKey,
    InvalidToken,
    MalformedToken,
    UnsupportedHeader,
)
from tokenward.jose import decode_jwt

VECTORS = Path(__file__).parent / "rfc7520"
COMPACT_OK = [
    "jws/4_1.rsa_v15_signature.json",
    "jws/4_2.rsa-pss_signature.json",
    "jws/4_3.ecdsa_signature.json",
    "jws/4_4.hmac-sha2_integrity_protection.json",
    "curve25519/jws.json",
]
JSON_ONLY = [
    "jws/4_5.signature_with_detached_content.json",
    "jws/4_6.protecting_specific_header_fields.json",
    "jws/4_7.protecting_content_only.json",
    "jws/4_8.multiple_signatures.json",
    "rfc7797/4.2.hmac-sha2_b64_false.json",
    "rfc7797/hmac-sha2_b64_false.json",
]
# RFC 7638 sec. 3.1 example key and its thumbprint
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
    "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qv"
    "zqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZ"
    "u0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text("utf-8"))
    return data


def example_key(vector: dict[str, Any]) -> Key:
    """The example's key bound to the example's algorithm."""
    return Key.from_jwk(vector["input"]["key"], alg=vector["input"]["alg"])


@pytest.mark.parametrize("name", COMPACT_OK)
def test_compact_example_verifies_with_the_key_bound_to_its_alg(name: str) -> None:
    vector = load(name)
    key = example_key(vector)
    verified = jws.verify(vector["output"]["compact"], key.public())
    assert verified.payload == vector["input"]["payload"].encode("utf-8")
    assert verified.header == vector["signing"]["protected"]
    verified = jws.verify(vector["output"]["compact"], KeySet([key.public()]))
    assert verified.key.alg == vector["input"]["alg"]


@pytest.mark.parametrize("name", COMPACT_OK)
def test_compact_example_is_rejected_when_the_key_is_bound_to_another_alg(name: str) -> None:
    vector = load(name)
    alg = vector["input"]["alg"]
    other = {"RS256": "RS512", "PS384": "PS256", "ES512": "ES256", "HS256": "HS512"}.get(alg)
    jwk = {k: v for k, v in vector["input"]["key"].items() if k != "alg"}
    if other is None:  # Ed25519 can only be EdDSA
        with pytest.raises(InvalidKey):
            Key.from_jwk(jwk, alg="ES256")
        return
    try:
        wrong = Key.from_jwk(jwk, alg=other)
    except InvalidKey:  # a P-521 key cannot be ES256, a 32-byte secret cannot be HS512
        assert alg in ("ES512", "HS256")
        return
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(vector["output"]["compact"], wrong)


@pytest.mark.parametrize(
    "name", ["jws/4_1.rsa_v15_signature.json", "jws/4_4.hmac-sha2_integrity_protection.json",
             "curve25519/jws.json"]
)  # fmt: skip
def test_deterministic_examples_reproduce_the_exact_signature(name: str) -> None:
    vector = load(name)
    key = example_key(vector)
    signature = key.sign(vector["signing"]["sig-input"].encode("ascii"))
    assert base64.urlsafe_b64encode(signature).rstrip(b"=").decode() == vector["signing"]["sig"]


@pytest.mark.parametrize("name", COMPACT_OK)
def test_prose_payload_is_not_a_claim_set(name: str) -> None:
    vector = load(name)
    with pytest.raises(MalformedToken):
        decode_jwt(vector["output"]["compact"], example_key(vector).public())


def test_detached_content_compact_form_is_rejected() -> None:
    vector = load("jws/4_5.signature_with_detached_content.json")
    with pytest.raises(BadSignature):  # empty payload: the MAC is over the real content
        jws.verify(vector["output"]["compact"], example_key(vector))
    with pytest.raises(InvalidToken):
        decode_jwt(vector["output"]["compact"], example_key(vector))


JSON_FORMS = [
    (name, form)
    for name in JSON_ONLY
    for form in ("json", "json_flat")
    if form in load(name)["output"]
]


@pytest.mark.parametrize(("name", "form"), JSON_FORMS)
def test_json_serializations_are_rejected(name: str, form: str) -> None:
    vector = load(name)
    key = Key.generate("HS256")  # the shape check fails before any key is consulted
    for text in (json.dumps(vector["output"][form]), json.dumps(vector["output"][form], indent=1)):
        with pytest.raises(MalformedToken):
            jws.verify(text, key)


def test_rfc7797_unencoded_payload_compact_form_is_rejected() -> None:
    vector = load("rfc7797/hmac-sha2_b64_false.json")
    key = example_key(vector)
    with pytest.raises(MalformedToken):  # the raw payload is outside the alphabet
        jws.verify(vector["output"]["compact"], key)
    # the same header with a base64url payload, correctly MACed: b64/crit are refused
    h, _, _ = vector["output"]["compact"].split(".")
    payload = base64.urlsafe_b64encode(b"This is the payload string!").rstrip(b"=").decode()
    data = f"{h}.{payload}"
    sig = base64.urlsafe_b64encode(key.sign(data.encode())).rstrip(b"=").decode()
    with pytest.raises(UnsupportedHeader):
        jws.verify(f"{data}.{sig}", key)


def test_nested_jwe_is_rejected_and_inner_jws_is_expired_claims() -> None:
    vector = load("6.nesting_signatures_and_encryption.json")
    inner_key = Key.from_jwk(vector["sign"]["input"]["key"], alg=vector["sign"]["input"]["alg"])
    jwe = vector["encrypt"]["output"]["compact"]
    assert jwe.count(".") == 4
    with pytest.raises(MalformedToken):
        jws.verify(jwe, inner_key)
    for form in ("json", "json_flat"):
        with pytest.raises(MalformedToken):
            jws.verify(json.dumps(vector["encrypt"]["output"][form]), inner_key)
    # the inner signed JWT is a valid PS256 JWS with exp 1300819380 (2011): ready-made
    # input for the validator's expiry tests
    header, claims, _ = decode_jwt(vector["sign"]["output"]["compact"], inner_key)
    assert header["alg"] == "PS256" and claims["exp"] == 1300819380


# --- JWK examples (RFC 7520 sec. 3) and thumbprints (RFC 7638) --- #

# The sec. 3.2 (EC) and 3.4 (RSA) private keys are the signing keys embedded in the sec. 4.3
# and 4.1 examples (identical JWKs); they are read from there rather than kept twice.
EC_PRIVATE = "jws/4_3.ecdsa_signature.json#input.key"
RSA_PRIVATE = "jws/4_1.rsa_v15_signature.json#input.key"
JWKS = {
    "jwk/3_1.ec_public_key.json": "ES512",
    EC_PRIVATE: "ES512",
    "jwk/3_3.rsa_public_key.json": "RS256",
    RSA_PRIVATE: "RS256",
    "jwk/3_5.symmetric_key_mac_computation.json": None,  # carries "alg": "HS256"
}


def load_jwk(name: str) -> dict[str, Any]:
    """A JWK file, or ``file#input.key``: the key embedded in an example."""
    path, _, member = name.partition("#")
    doc: dict[str, Any] = load(path)
    return doc["input"]["key"] if member else doc


def independent_thumbprint(jwk: dict[str, Any]) -> str:
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "oct": ("k", "kty")}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize(("name", "alg"), JWKS.items())
def test_jwk_example_round_trips(name: str, alg: str | None) -> None:
    jwk = load_jwk(name)
    key = Key.from_jwk(jwk, alg=alg)
    exported = key.to_jwk(private=key.is_private)
    assert {k: exported[k] for k in jwk} == jwk
    assert exported["alg"] == (alg or jwk["alg"])
    assert key.kid == jwk["kid"]
    assert key.is_private == ("d" in jwk or "k" in jwk)


@pytest.mark.parametrize(("name", "alg"), JWKS.items())
def test_jwk_example_thumbprint_matches_rfc7638(name: str, alg: str | None) -> None:
    jwk = load_jwk(name)
    assert Key.from_jwk(jwk, alg=alg).thumbprint() == independent_thumbprint(jwk)


def test_rfc7638_section_3_1_example_thumbprint() -> None:
    key = Key.from_jwk(RFC7638_JWK)
    assert key.thumbprint() == RFC7638_THUMBPRINT
    assert independent_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT
    unnamed = Key.from_jwk({k: v for k, v in RFC7638_JWK.items() if k != "kid"})
    assert unnamed.kid == RFC7638_THUMBPRINT


def test_cookbook_private_keys_sign_what_their_public_halves_verify() -> None:
    private = Key.from_jwk(load_jwk(EC_PRIVATE), alg="ES512")
    public = Key.from_jwk(load("jwk/3_1.ec_public_key.json"), alg="ES512")
    assert jws.verify(jws.sign(b"x", private), public).payload == b"x"
    with pytest.raises(InvalidToken):
        jws.verify(
            jws.sign(b"x", private), Key.from_jwk(load("jwk/3_3.rsa_public_key.json"), alg="RS256")
        )
