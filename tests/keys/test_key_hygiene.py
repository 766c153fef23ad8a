"""Key hygiene at import (security profile rule 9; catalogue rows A6, A15-A18, B5, B7, B8).

Every refused key raises ``InvalidKey`` and nothing else."""

from __future__ import annotations

import base64
import copy
import math
import pickle
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa, x25519

from tokenward import Key, KeySet
from tokenward.errors import InvalidKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkcs8(private_key: Any, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of a ``cryptography`` private key (encrypted when ``password`` is given)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )


def spki(private_key: Any) -> bytes:
    """SubjectPublicKeyInfo PEM of the public half of a ``cryptography`` private key."""
    return bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def uint(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def rsa_jwk() -> dict[str, Any]:
    return Key.generate("RS256", kid="rsa").to_jwk(private=True)


@pytest.fixture(scope="module")
def ec_jwk() -> dict[str, Any]:
    return Key.generate("ES256", kid="ec").to_jwk(private=True)


# --- HMAC (A8, A17, B8) --- #


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_shorter_than_the_hash_is_refused(alg: str, size: int) -> None:
    with pytest.raises(InvalidKey):
        Key.from_secret(b"k" * (size - 1), alg=alg)
    with pytest.raises(InvalidKey):
        Key.from_jwk({"kty": "oct", "k": b64(b"k" * (size - 1)), "alg": alg})
    assert Key.from_secret(b"k" * size, alg=alg).alg == alg


@pytest.mark.parametrize("secret", [b"", "a-string-is-not-bytes" * 3, None])
def test_empty_or_non_bytes_hmac_secret_is_refused(secret: object) -> None:
    with pytest.raises(InvalidKey):
        Key.from_secret(secret, alg="HS256")  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["A256GCM", "A128KW", "A256KW", "dir", "none", None])
def test_aes_or_algless_oct_key_is_refused(alg: str | None) -> None:
    jwk: dict[str, Any] = {"kty": "oct", "k": b64(bytes(range(32)))}
    if alg is not None:
        jwk["alg"] = alg
    with pytest.raises(InvalidKey):
        Key.from_jwk(jwk)


def test_from_secret_refuses_asymmetric_algorithms() -> None:
    with pytest.raises(InvalidKey):
        Key.from_secret(bytes(64), alg="RS256")


# --- RSA (A18) --- #


def test_rsa_1024_bit_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidKey):
        Key.from_pem(pkcs8(small), alg="RS256")
    numbers = small.public_key().public_numbers()
    with pytest.raises(InvalidKey):
        Key.from_jwk({"kty": "RSA", "alg": "RS256", "n": uint(numbers.n), "e": uint(numbers.e)})


@pytest.mark.parametrize("e", [1, 2, 65536, 0])
def test_rsa_exponent_that_is_even_or_below_3_is_refused(rsa_jwk: dict[str, Any], e: int) -> None:
    jwk = {"kty": "RSA", "alg": "RS256", "n": rsa_jwk["n"], "e": uint(e) if e else "AA"}
    with pytest.raises(InvalidKey):
        Key.from_jwk(jwk)


def test_rsa_exponent_3_is_accepted_as_the_profile_allows(rsa_jwk: dict[str, Any]) -> None:
    # profile rule 9: "public exponent odd and >= 3"; the PKCS#1 verifier is strict, so the
    # e = 3 Bleichenbacher forgery (A12) does not apply
    key = Key.from_jwk({"kty": "RSA", "alg": "RS256", "n": rsa_jwk["n"], "e": "Aw"})
    assert key.kty == "RSA" and not key.is_private


def test_rsa_private_jwk_with_inconsistent_members_is_refused(rsa_jwk: dict[str, Any]) -> None:
    broken = dict(rsa_jwk, p=rsa_jwk["q"], q=rsa_jwk["p"], dp=rsa_jwk["dq"])
    with pytest.raises(InvalidKey):
        Key.from_jwk(broken)
    partial = {k: v for k, v in rsa_jwk.items() if k != "qi"}
    with pytest.raises(InvalidKey):
        Key.from_jwk(partial)


def test_rsa_private_jwk_without_crt_members_is_completed(rsa_jwk: dict[str, Any]) -> None:
    minimal = {k: rsa_jwk[k] for k in ("kty", "alg", "kid", "n", "e", "d")}
    key = Key.from_jwk(minimal)
    assert key.to_jwk(private=True) == rsa_jwk


def test_multi_prime_rsa_is_refused(rsa_jwk: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(rsa_jwk, oth=[{"r": "AQ", "d": "AQ", "t": "AQ"}]))


def test_rsa_jwk_without_alg_is_refused(rsa_jwk: dict[str, Any]) -> None:
    jwk = {k: v for k, v in rsa_jwk.items() if k != "alg"}
    with pytest.raises(InvalidKey):
        Key.from_jwk(jwk)
    assert Key.from_jwk(jwk, alg="PS256").alg == "PS256"


# --- EC (A6, A16) --- #


def test_off_curve_ec_point_is_refused(ec_jwk: dict[str, Any]) -> None:
    y = int.from_bytes(base64.urlsafe_b64decode(ec_jwk["y"] + "=="), "big")
    public = {"kty": "EC", "alg": "ES256", "crv": "P-256", "x": ec_jwk["x"]}
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(public, y=b64(((y + 1) % 2**256).to_bytes(32, "big"))))
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, y=b64(((y + 1) % 2**256).to_bytes(32, "big"))))


@pytest.mark.parametrize("crv", ["P-384", "P-521", "secp256k1", "P-256K", "p-256", None])
def test_wrong_or_unknown_crv_is_refused(ec_jwk: dict[str, Any], crv: str | None) -> None:
    jwk = dict(ec_jwk)
    jwk["crv"] = crv
    with pytest.raises(InvalidKey):
        Key.from_jwk(jwk)


@pytest.mark.parametrize(("alg", "curve"), [("ES384", ec.SECP256R1()), ("ES256", ec.SECP521R1())])
def test_ec_curve_must_match_the_alg(alg: str, curve: ec.EllipticCurve) -> None:
    with pytest.raises(InvalidKey):
        Key.from_pem(pkcs8(ec.generate_private_key(curve)), alg=alg)


def test_es256_jwk_with_p521_key_is_refused() -> None:
    jwk = Key.generate("ES512").to_jwk()
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(jwk, alg="ES256"))


def test_secp256k1_pem_is_refused() -> None:
    with pytest.raises(InvalidKey):
        Key.from_pem(spki(ec.generate_private_key(ec.SECP256K1())), alg="ES256")


@pytest.mark.parametrize("member", ["x", "y", "d"])
def test_short_ec_coordinate_is_refused(ec_jwk: dict[str, Any], member: str) -> None:
    raw = base64.urlsafe_b64decode(ec_jwk[member] + "==")
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, **{member: b64(raw[1:])}))


def test_ec_private_scalar_not_matching_the_point_is_refused(ec_jwk: dict[str, Any]) -> None:
    other = Key.generate("ES256").to_jwk(private=True)
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, d=other["d"]))


def test_kty_rsa_with_ec_members_is_refused(ec_jwk: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, kty="RSA"))
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, kty="RSA", alg="RS256"))


# --- OKP (A15) --- #


def test_okp_ed25519_implies_eddsa() -> None:
    jwk = Key.generate("EdDSA").to_jwk()
    del jwk["alg"]
    assert Key.from_jwk(jwk).alg == "EdDSA"
    with pytest.raises(InvalidKey):
        Key.from_jwk(jwk, alg="ES256")
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(jwk, alg="Ed25519"))


@pytest.mark.parametrize("crv", ["X25519", "Ed448", "X448"])
def test_okp_curves_other_than_ed25519_are_refused(crv: str) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk({"kty": "OKP", "crv": crv, "x": b64(bytes(32)), "alg": "EdDSA"})
    with pytest.raises(InvalidKey):
        Key.from_jwk({"kty": "OKP", "crv": crv, "x": b64(bytes(57))})


@pytest.mark.parametrize("make", [x25519.X25519PrivateKey.generate, ed448.Ed448PrivateKey.generate])
def test_x25519_and_ed448_pem_are_refused(make: Any) -> None:
    with pytest.raises(InvalidKey):
        Key.from_pem(spki(make()), alg="EdDSA")


def test_ed25519_private_key_not_matching_x_is_refused() -> None:
    jwk = Key.generate("EdDSA").to_jwk(private=True)
    other = Key.generate("EdDSA").to_jwk(private=True)
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(jwk, d=other["d"]))


# --- use / key_ops / alg binding (B7, RFC 8725 sec. 3.1) --- #


@pytest.mark.parametrize("use", ["enc", "SIG", "", None, 1])
def test_use_other_than_sig_is_refused(ec_jwk: dict[str, Any], use: object) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, use=use))


@pytest.mark.parametrize(
    "ops",
    [["encrypt"], ["wrapKey"], ["sign", "encrypt"], [], "verify", None, [1], ["deriveKey"]],
    ids=repr,
)
def test_key_ops_without_sign_or_verify_is_refused(ec_jwk: dict[str, Any], ops: object) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, key_ops=ops))


@pytest.mark.parametrize("ops", [["verify"], ["sign"], ["sign", "verify"]])
def test_key_ops_allowing_signatures_is_accepted(ec_jwk: dict[str, Any], ops: list[str]) -> None:
    assert Key.from_jwk(dict(ec_jwk, key_ops=ops)).kid == "ec"


def test_jwk_alg_and_argument_must_agree(ec_jwk: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(ec_jwk, alg="ES384")
    assert Key.from_jwk(ec_jwk, alg="ES256").alg == "ES256"


@pytest.mark.parametrize("kid", [7, "", "k" * 257, None, ["a"]], ids=repr)
def test_bad_kid_member_is_refused(ec_jwk: dict[str, Any], kid: object) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(dict(ec_jwk, kid=kid))


@pytest.mark.parametrize(
    "jwk",
    [
        None,
        [],
        "{}",
        {},
        {"kty": "EC"},
        {"kty": "RSA", "alg": "RS256"},
        {"kty": "oct", "alg": "HS256"},
        {"kty": "oct", "alg": "HS256", "k": 5},
        {"kty": "oct", "alg": "HS256", "k": "a" * 43 + "="},
        {"kty": "oct", "alg": "HS256", "k": "a+" * 22},
        {"kty": "EC", "alg": "ES256", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "x": "A"},
        {"kty": "RSA", "alg": "RS256", "n": "AQAB", "e": "AQAB"},
        {"kty": "unknown", "alg": "HS256", "k": "a" * 43},
    ],
    ids=repr,
)
def test_malformed_jwk_raises_invalid_key_only(jwk: object) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk(jwk)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        "not a pem",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "\u00e9",
        12,
    ],
    ids=repr,
)
def test_malformed_pem_raises_invalid_key_only(data: object) -> None:
    with pytest.raises(InvalidKey):
        Key.from_pem(data, alg="RS256")  # type: ignore[arg-type]


def test_encrypted_pem_is_refused() -> None:
    with pytest.raises(InvalidKey):
        Key.from_pem(pkcs8(ec.generate_private_key(ec.SECP256R1()), b"password"), alg="ES256")


def test_rsa_pem_bound_to_an_ec_or_hmac_alg_is_refused() -> None:
    pem = Key.generate("RS256").to_pem()
    for alg in ("ES256", "HS256", "EdDSA", "none", "RSA-OAEP"):
        with pytest.raises(InvalidKey):
            Key.from_pem(pem, alg=alg)


# --- key sets (B5) and export (B9) --- #


def test_duplicate_kids_are_refused() -> None:
    a, b = Key.generate("ES256", kid="same"), Key.generate("RS256", kid="same")
    with pytest.raises(InvalidKey):
        KeySet([a, b])
    with pytest.raises(InvalidKey):
        KeySet.from_jwks({"keys": [a.to_jwk(), b.to_jwk()]})


def test_to_jwk_never_leaks_private_members_by_default() -> None:
    for alg in ("RS256", "PS384", "ES256", "ES512", "EdDSA"):
        key = Key.generate(alg)
        public = key.to_jwk()
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(public)
        assert key.public().to_jwk() == public
        assert "d" in key.to_jwk(private=True)
        with pytest.raises(InvalidKey):
            key.public().to_jwk(private=True)


def test_hmac_key_has_no_public_jwk() -> None:
    key = Key.generate("HS256")
    with pytest.raises(InvalidKey):
        key.to_jwk()
    assert "k" in key.to_jwk(private=True)


def test_key_is_immutable_and_not_constructible_directly() -> None:
    key = Key.generate("ES256", kid="k")
    with pytest.raises(AttributeError):
        key.alg = "HS256"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del key.kid
    with pytest.raises(TypeError):
        Key()
    assert copy.copy(key) is key and copy.deepcopy(key) is key
    with pytest.raises(TypeError):  # secrets never leave through pickle by accident
        pickle.dumps(key)


def test_repr_does_not_contain_secret_material() -> None:
    key = Key.from_secret(b"s" * 32, alg="HS256", kid="k")
    assert "sss" not in repr(key) and "c3Nz" not in repr(key)


# --- ROCA (CVE-2017-15361; security profile A18 and sec. 8) --- #

_SMALL_PRIMES = [p for p in range(2, 168) if all(p % d for d in range(2, p))]


def _probably_prime(n: int, rng: random.Random) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(16):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _roca_style_prime(rng: random.Random) -> int:
    """p = k * M + (65537^a mod M), M the primorial of the primes up to 167 (the structure
    of the Infineon RSALib primes)."""
    m = math.prod(_SMALL_PRIMES)
    while True:
        k = rng.randrange((3 << 1022) // m, (1 << 1024) // m)
        p = k * m + pow(65537, rng.randrange(1, 1 << 20), m)
        if _probably_prime(p, rng):
            return p


def test_rsa_modulus_with_the_roca_fingerprint_is_refused() -> None:
    rng = random.Random(2017_15361)
    p, q = _roca_style_prime(rng), _roca_style_prime(rng)
    n = p * q
    assert n.bit_length() == 2048
    with pytest.raises(InvalidKey, match="ROCA"):
        Key.from_jwk({"kty": "RSA", "alg": "RS256", "n": uint(n), "e": "AQAB"})


def test_random_rsa_keys_do_not_trip_the_roca_check() -> None:
    for _ in range(3):
        assert Key.generate("PS256").kty == "RSA"
