"""Key construction, JWK/PEM import and export round trips, RFC 7638 thumbprints, KeySet."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tokenward import Key, KeySet, jws
from tokenward.errors import InvalidKey

ALGS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
ASYMMETRIC = tuple(a for a in ALGS if not a.startswith("HS"))


@pytest.fixture(scope="module")
def generated() -> dict[str, Key]:
    return {alg: Key.generate(alg) for alg in ALGS}


@pytest.mark.parametrize("alg", ALGS)
def test_generate_binds_alg_and_defaults_kid_to_the_thumbprint(
    generated: dict[str, Key], alg: str
) -> None:
    key = generated[alg]
    assert key.alg == alg and key.is_private
    assert key.kid == key.thumbprint()
    assert Key.generate(alg, kid="mine").kid == "mine"


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_generated_hmac_secret_has_hash_length(alg: str, size: int) -> None:
    k = Key.generate(alg).to_jwk(private=True)["k"]
    assert len(base64.urlsafe_b64decode(k + "==")) == size


def test_generated_rsa_key_is_2048_bits_with_f4() -> None:
    jwk = Key.generate("RS256").to_jwk()
    assert len(base64.urlsafe_b64decode(jwk["n"] + "==")) == 256 and jwk["e"] == "AQAB"


@pytest.mark.parametrize("alg", ALGS)
def test_private_jwk_round_trip_keeps_everything(generated: dict[str, Key], alg: str) -> None:
    key = generated[alg]
    jwk = key.to_jwk(private=True)
    again = Key.from_jwk(jwk)
    assert again.to_jwk(private=True) == jwk
    assert (again.kid, again.alg, again.kty, again.is_private) == (key.kid, alg, key.kty, True)
    token = jws.sign(b"x", again)
    assert jws.verify(token, key.public()).payload == b"x"


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_public_jwk_round_trip_and_member_whitelist(generated: dict[str, Key], alg: str) -> None:
    jwk = generated[alg].to_jwk()
    assert set(jwk) <= {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}
    assert jwk["use"] == "sig" and jwk["alg"] == alg
    public = Key.from_jwk(jwk)
    assert not public.is_private and public.to_jwk() == jwk
    assert public.public() is public
    with pytest.raises(InvalidKey):
        public.sign(b"x")


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_pem_round_trips(generated: dict[str, Key], alg: str) -> None:
    key = generated[alg]
    private = Key.from_pem(key.to_pem(private=True), alg=alg, kid=key.kid)
    public = Key.from_pem(key.to_pem().decode(), alg=alg)  # str is accepted too
    assert private.to_jwk(private=True) == key.to_jwk(private=True)
    assert public.kid == key.kid  # default kid is the thumbprint of the same public key
    assert jws.verify(jws.sign(b"x", private), public).payload == b"x"


def test_pkcs1_rsa_pem_forms_are_accepted() -> None:
    material = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = material.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = material.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    assert private.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert public.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    signer = Key.from_pem(private, alg="RS256", kid="r")
    verifier = Key.from_pem(public, alg="RS256", kid="r")
    assert jws.verify(jws.sign(b"x", signer), verifier).payload == b"x"


def test_sec1_ec_private_pem_is_accepted() -> None:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert Key.from_pem(pem, alg="ES384").is_private


def test_hmac_key_has_no_pem() -> None:
    with pytest.raises(InvalidKey):
        Key.generate("HS256").to_pem(private=True)


def test_from_secret_kid_defaults_to_oct_thumbprint() -> None:
    secret = bytes(range(32))
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    canonical = json.dumps({"k": k, "kty": "oct"}, separators=(",", ":")).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    key = Key.from_secret(secret, alg="HS256")
    assert key.kid == expected == key.thumbprint()
    assert Key.from_secret(bytearray(secret), alg="HS256", kid="x").kid == "x"


def test_thumbprint_ignores_kid_alg_use_and_private_members(generated: dict[str, Key]) -> None:
    key = generated["ES256"]
    renamed = Key.from_jwk(dict(key.to_jwk(private=True), kid="other"))
    assert renamed.thumbprint() == key.thumbprint() == key.public().thumbprint()


def test_public_of_a_private_key_keeps_kid_and_alg(generated: dict[str, Key]) -> None:
    key = generated["PS256"]
    public = key.public()
    assert (public.kid, public.alg, public.is_private) == (key.kid, "PS256", False)
    assert key.public() is public  # built once


def test_hmac_public_is_itself(generated: dict[str, Key]) -> None:
    key = generated["HS256"]
    assert key.public() is key


@pytest.mark.parametrize("alg", ALGS)
def test_verify_never_raises_on_garbage(generated: dict[str, Key], alg: str) -> None:
    key = generated[alg]
    for data, sig in ((b"x", b""), (b"x", b"\x00" * 600), ("x", b"x"), (b"x", None)):
        assert key.verify(data, sig) is False  # type: ignore[arg-type]
    assert key.verify(b"data", key.sign(b"data")) is True


# --- KeySet --- #


def test_keyset_api(generated: dict[str, Key]) -> None:
    members = [generated["ES256"].public(), generated["RS256"].public(), generated["HS256"]]
    keyset = KeySet(members)
    assert len(keyset) == 3 and list(keyset) == members
    assert keyset.kids == tuple(k.kid for k in members)
    assert keyset.get(members[1].kid) is members[1]
    assert keyset.get("missing") is None and keyset.get(5) is None  # type: ignore[arg-type]
    assert members[0].kid in keyset and "missing" not in keyset


def test_keyset_to_jwks_is_public_only_and_skips_hmac(generated: dict[str, Key]) -> None:
    keyset = KeySet(generated.values())
    doc = keyset.to_jwks()
    assert len(doc["keys"]) == len(ASYMMETRIC)
    for jwk in doc["keys"]:
        assert jwk["kty"] != "oct"
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(jwk)
    again = KeySet.from_jwks(json.loads(json.dumps(doc)))
    assert again.to_jwks() == doc
    for alg in ASYMMETRIC:
        token = jws.sign(b"x", generated[alg])
        assert jws.verify(token, again).key.alg == alg


def test_keyset_refuses_non_keys() -> None:
    with pytest.raises(InvalidKey):
        KeySet([{"kty": "oct"}])  # type: ignore[list-item]


@pytest.mark.parametrize("doc", [None, [], {}, {"keys": {}}, {"keys": "x"}], ids=repr)
def test_malformed_jwks_document_is_invalid_key(doc: Any) -> None:
    with pytest.raises(InvalidKey):
        KeySet.from_jwks(doc)


def test_from_jwks_can_skip_unusable_keys(generated: dict[str, Key]) -> None:
    good = generated["ES256"].to_jwk()
    doc = {"keys": [good, {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}, 5]}
    with pytest.raises(InvalidKey):
        KeySet.from_jwks(doc)
    assert KeySet.from_jwks(doc, skip_unusable=True).kids == (good["kid"],)


def test_empty_keyset_rejects_every_token(generated: dict[str, Key]) -> None:
    from tokenward.errors import UnknownKey

    with pytest.raises(UnknownKey):
        jws.verify(jws.sign(b"x", generated["HS256"]), KeySet([]))


def test_keyset_is_immutable(generated: dict[str, Key]) -> None:
    keyset = KeySet([generated["ES256"]])
    with pytest.raises(AttributeError):
        keyset._keys = ()  # type: ignore[misc]
    assert len(keyset) == 1


def test_tokenward_jws_is_the_jose_facade() -> None:
    import tokenward
    import tokenward.jose.jws

    assert tokenward.jws is tokenward.jose.jws
    assert tokenward.Verified is tokenward.jose.jws.Verified
