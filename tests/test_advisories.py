"""Security profile sections 2.A-2.E, one named test per row, through ``TokenValidator``.

Every malicious token is signed (or MACed) with a real key so that only the property under
test is wrong; each must raise an ``InvalidToken`` subclass and nothing else.
Rows about key loading (A8, A15-A18, B5 duplicate kids, B7-B9) assert the refusal at import
instead.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import socket
import sys
from base64 import urlsafe_b64decode
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, str(pathlib.Path(__file__).parent / "jose"))
from forge import b64, forbid_decoding, forbid_io, forge, hmac_forge, segment

from tokenward import Key, KeySet, TokenValidator, ValidationPolicy, jws
from tokenward.clock import FixedClock
from tokenward.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidKey,
    InvalidToken,
    InvalidTokenType,
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    RevokedToken,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
)

NOW = 1_800_000_000
ISS, AUD = "https://auth.example.com", "api://orders"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_L = 2**252 + 27742317777372353535851937790883648493
KIDS = {"hs": "HS256", "rs": "RS256", "ps": "PS512", "es": "ES256", "es512": "ES512", "ed": "EdDSA"}


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISS,
        "sub": "alice",
        "aud": AUD,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
        "jti": "jti-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def header(ref: str = "es", **changes: Any) -> dict[str, Any]:
    """The header for the key ``ref`` (alg and kid), then ``changes`` (``...`` removes)."""
    base: dict[str, Any] = {"alg": KIDS[ref], "typ": "at+jwt", "kid": ref}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


class Revocations:
    def __init__(self) -> None:
        self.revoked: set[tuple[str, str]] = set()

    def is_revoked_now(self, *, issuer: str, jti: str | None, **_: Any) -> bool:
        return (issuer, jti or "") in self.revoked

    async def is_revoked(self, **kw: Any) -> bool:
        return self.is_revoked_now(**kw)


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {kid: Key.generate(alg, kid=kid) for kid, alg in KIDS.items()}


@pytest.fixture(scope="module")
def keyset(keys: dict[str, Key]) -> KeySet:
    return KeySet([k if k.kty == "oct" else k.public() for k in keys.values()])


@pytest.fixture
def revocations() -> Revocations:
    return Revocations()


@pytest.fixture
def validator(keyset: KeySet, clock: FixedClock, revocations: Revocations) -> TokenValidator:
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms=tuple(KIDS.values()))
    return TokenValidator(keyset, policy, clock=clock, revocation=revocations)


@pytest.fixture
def reject(validator: TokenValidator) -> Callable[..., InvalidToken]:
    """``reject(token, expected=InvalidToken)``: the validator refuses with ``expected``."""

    def _reject(token: Any, expected: type[InvalidToken] = InvalidToken) -> InvalidToken:
        with pytest.raises(InvalidToken) as info:
            validator.validate(token)
        assert isinstance(info.value, expected), repr(info.value)
        return info.value

    return _reject


def good(keys: dict[str, Key], kid: str = "es", **changes: Any) -> str:
    return forge(header(kid), claims(**changes), keys[kid])


def test_baseline_every_key_validates(validator: TokenValidator, keys: dict[str, Key]) -> None:
    for kid in KIDS:
        assert validator.validate(good(keys, kid)).subject == "alice"


# --- 2.A algorithm and signature handling --- #


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "none ", "\u006eone"])
@pytest.mark.parametrize("signature", [b"", b"\x00" * 32])
def test_a1_alg_none_variants(reject: Any, alg: str, signature: bytes) -> None:
    for kid in ("hs", "es", "rs"):
        reject(forge(header(kid, alg=alg), claims(), signature=signature))


@pytest.mark.parametrize("alg", [..., None, "", 0, ["HS256"], {"x": 1}, "hs256", "HS256\u0000"])
def test_a2_missing_or_malformed_alg(reject: Any, keys: dict[str, Key], alg: Any) -> None:
    reject(forge(header("hs", alg=alg), claims(), keys["hs"]))


def _public_encodings(key: Key) -> dict[str, bytes]:
    """PEM, PEM without newline, DER SPKI, PKCS#1 DER, OpenSSH line, raw n / point, JWK
    JSON and JWKS JSON: every way the public key is written down (A3)."""
    pem = key.to_pem()
    pub: Any = serialization.load_pem_public_key(pem)
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    jwk = key.to_jwk()
    out = {
        "pem": pem,
        "pem-no-newline": pem.rstrip(b"\n"),
        "der-spki": pub.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "openssh": pub.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "jwk-json": json.dumps(jwk).encode(),
        "jwks-json": json.dumps({"keys": [jwk]}).encode(),
    }
    if key.kty == "RSA":
        out["pkcs1-der"] = pub.public_bytes(enc.DER, fmt.PKCS1)
        out["raw-n"] = urlsafe_b64decode(jwk["n"] + "==")
    elif key.kty == "EC":
        out["raw-point"] = pub.public_bytes(enc.X962, fmt.UncompressedPoint)
    else:
        out["raw-x"] = pub.public_bytes(enc.Raw, fmt.Raw)
    return out


@pytest.mark.parametrize("kid", ["rs", "ps", "es", "es512", "ed"])
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
def test_a3_public_key_encodings_as_hmac_secret(
    reject: Any, keys: dict[str, Key], kid: str, hmac_alg: str
) -> None:
    for name, secret in _public_encodings(keys[kid]).items():
        token = hmac_forge(header(kid, alg=hmac_alg), claims(), secret, "sha" + hmac_alg[2:])
        assert reject(token, AlgorithmNotAllowed), name


def test_a4_ec_public_key_bytes_as_hmac_key(reject: Any, keys: dict[str, Key]) -> None:
    point = _public_encodings(keys["es"])["raw-point"]
    reject(hmac_forge(header("es", alg="HS256"), claims(), point), AlgorithmNotAllowed)


@pytest.mark.parametrize("other", ["RS256", "RS384", "RS512", "PS256", "PS384"])
def test_a5_same_rsa_key_with_another_algorithm(
    reject: Any, keys: dict[str, Key], other: str
) -> None:
    same_material = Key.from_pem(keys["ps"].to_pem(private=True), alg=other, kid="ps")
    reject(forge(header("ps", alg=other), claims(), same_material), AlgorithmNotAllowed)
    reject(forge(header("ps"), claims(), same_material), BadSignature)


def test_a6_curve_and_alg_mismatch(reject: Any, keys: dict[str, Key]) -> None:
    p256_sig = keys["es"].sign(b"x")
    reject(forge(header("es512", alg="ES256"), claims(), keys["es"]), AlgorithmNotAllowed)
    reject(forge(header("es512"), claims(), signature=p256_sig), BadSignature)
    assert len(keys["es512"].sign(b"x")) == 132


@pytest.mark.parametrize("kid", sorted(KIDS))
def test_a7_null_or_empty_signature(reject: Any, keys: dict[str, Key], kid: str) -> None:
    reject(good(keys, kid).rsplit(".", 1)[0] + ".")


@pytest.mark.parametrize("secret", [b"", b"secret", b"changeme"])
def test_a8_blank_or_default_hmac_secret(reject: Any, secret: bytes) -> None:
    with pytest.raises(InvalidKey):
        Key.from_secret(secret, alg="HS256")
    reject(hmac_forge(header("hs"), claims(), secret), BadSignature)


@pytest.mark.parametrize("r", [0, 1, P256_N - 1, P256_N])
@pytest.mark.parametrize("s", [0, 1, P256_N - 1, P256_N])
def test_a9_psychic_ecdsa_signatures(reject: Any, r: int, s: int) -> None:
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    reject(forge(header("es"), claims(), signature=signature))


def test_a10_der_and_wrong_length_ecdsa_signatures(reject: Any, keys: dict[str, Key]) -> None:
    h64, p64, s64 = good(keys).split(".")
    raw = urlsafe_b64decode(s64 + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    for bad in (der, raw + b"\x00", raw[:-1], b"\x00" + raw, raw.lstrip(b"\x00")[:63]):
        reject(f"{h64}.{p64}.{b64(bad)}")


def test_a11_malleable_ecdsa_twin_is_still_revoked(
    validator: TokenValidator, revocations: Revocations, keys: dict[str, Key]
) -> None:
    token = good(keys)
    h64, p64, s64 = token.split(".")
    raw = urlsafe_b64decode(s64 + "==")
    twin_s = P256_N - int.from_bytes(raw[32:], "big")
    twin = f"{h64}.{p64}.{b64(raw[:32] + twin_s.to_bytes(32, 'big'))}"
    assert validator.validate(twin).jti == "jti-1"  # (r, n - s) is a valid signature
    revocations.revoked.add((ISS, "jti-1"))
    for t in (token, twin):
        with pytest.raises(RevokedToken):
            validator.validate(t)


def _raw_rsa_sign(key: Key, encoded_message: bytes) -> bytes:
    private: Any = serialization.load_pem_private_key(key.to_pem(private=True), None)
    numbers = private.private_numbers()
    n = numbers.public_numbers.n
    size = (n.bit_length() + 7) // 8
    return pow(int.from_bytes(encoded_message, "big"), numbers.d, n).to_bytes(size, "big")


@pytest.mark.parametrize("variant", ["sha1-digestinfo", "zero-ps", "block-type-2", "trailing"])
def test_a12_rsa_pkcs1_lenient_padding(reject: Any, keys: dict[str, Key], variant: str) -> None:
    si = f"{segment(header('rs'))}.{segment(claims())}"
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
    digest_info += hashlib.sha256(si.encode()).digest()
    trailer = b""
    if variant == "sha1-digestinfo":
        digest_info = bytes.fromhex("3021300906052b0e03021a05000414")
        digest_info += hashlib.sha1(si.encode()).digest()  # noqa: S324 (forged on purpose)
    elif variant == "trailing":
        trailer = b"\x00" * 8
    ps_len = 256 - 3 - len(digest_info) - len(trailer)
    block, filler = (b"\x00\x02", b"\xff") if variant == "block-type-2" else (b"\x00\x01", b"\xff")
    if variant == "zero-ps":
        filler = b"\x00"
    em = block + filler * ps_len + b"\x00" + digest_info + trailer
    reject(f"{si}.{b64(_raw_rsa_sign(keys['rs'], em))}", BadSignature)


@pytest.mark.parametrize("salt", [0, 20, 32, 63, 65, padding.PSS.MAX_LENGTH])
def test_a13_pss_salt_length_other_than_hash_size(
    reject: Any, keys: dict[str, Key], salt: int
) -> None:
    private: Any = serialization.load_pem_private_key(keys["ps"].to_pem(private=True), None)
    si = f"{segment(header('ps'))}.{segment(claims())}"
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=salt)
    reject(f"{si}.{b64(private.sign(si.encode(), pss, hashes.SHA512()))}", BadSignature)


def test_a14_rsa_signature_not_of_modulus_length(reject: Any, keys: dict[str, Key]) -> None:
    h64, p64, s64 = good(keys, "rs").split(".")
    raw = urlsafe_b64decode(s64 + "==")
    n = urlsafe_b64decode(keys["rs"].to_jwk()["n"] + "==")
    for bad in (b"\x00" + raw, raw + b"\x00", raw[1:], b"\x00" * 256, n, b"\xff" * 256):
        reject(f"{h64}.{p64}.{b64(bad)}")


def test_a15_eddsa_non_canonical_s_and_wrong_curves(reject: Any, keys: dict[str, Key]) -> None:
    h64, p64, s64 = good(keys, "ed").split(".")
    raw = urlsafe_b64decode(s64 + "==")
    s = int.from_bytes(raw[32:], "little") + ED25519_L
    reject(f"{h64}.{p64}.{b64(raw[:32] + s.to_bytes(32, 'little'))}")
    for crv in ("X25519", "Ed448"):
        with pytest.raises(InvalidKey):
            Key.from_jwk({**keys["ed"].to_jwk(), "crv": crv})


def test_a16_off_curve_ec_jwk_is_refused(keys: dict[str, Key]) -> None:
    jwk = keys["es"].to_jwk()
    y = int.from_bytes(urlsafe_b64decode(jwk["y"] + "=="), "big") + 1
    for bad in (
        {**jwk, "y": b64(y.to_bytes(32, "big"))},
        {**jwk, "crv": "P-384"},
        {**jwk, "kty": "RSA"},
        {**jwk, "x": jwk["x"][:-2]},
    ):
        with pytest.raises(InvalidKey):
            Key.from_jwk(bad)


@pytest.mark.parametrize(("alg", "size"), [("HS256", 31), ("HS384", 47), ("HS512", 63)])
def test_a17_short_hmac_key_is_refused(alg: str, size: int) -> None:
    with pytest.raises(InvalidKey):
        Key.from_secret(b"k" * size, alg=alg)
    assert Key.from_secret(b"k" * (size + 1), alg=alg).alg == alg


def test_a18_weak_rsa_keys_are_refused(keys: dict[str, Key]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidKey):
        Key.from_pem(pem, alg="RS256")
    with pytest.raises(InvalidKey):
        Key.from_jwk({**keys["rs"].to_jwk(), "e": "AQ"})  # e = 1


def test_a19_hmac_is_compared_in_constant_time() -> None:
    import inspect

    from tokenward.jose import _algs

    source = inspect.getsource(_algs)
    assert "compare_digest" in source
    assert "== signature" not in source and "signature ==" not in source


def test_a20_signature_over_received_bytes(reject: Any, keys: dict[str, Key]) -> None:
    h64, p64, s64 = good(keys, "hs").split(".")
    reject(f"{h64[:5]}?{h64[5:]}.{p64}.{s64}")
    reject(f"{h64}.{segment(claims(sub='admin'))}.{s64}", BadSignature)


# --- 2.B key selection and header injection --- #


def test_b1_embedded_jwk_is_never_trusted(reject: Any) -> None:
    attacker = Key.generate("ES256", kid="es")
    for kid in ("es", ...):
        reject(forge(header("es", jwk=attacker.public().to_jwk(), kid=kid), claims(), attacker))


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_b2_jku_and_x5u_are_never_fetched(reject: Any, keys: dict[str, Key], member: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        for url in (
            f"http://127.0.0.1:{port}/jwks.json",
            "file:///etc/passwd",
            "http://169.254.169.254/",
        ):
            reject(forge(header("es", **{member: url}), claims(), keys["es"]))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_b3_x5c_chain_is_rejected(reject: Any, keys: dict[str, Key]) -> None:
    reject(forge(header("es", x5c=["MIIBszCCAVmgAwIBAgIU"]), claims(), keys["es"]))


@pytest.mark.parametrize(
    ("kid", "secret"),
    [
        ("../../../../../../dev/null", b""),
        ("/dev/null", b""),
        ("x' UNION SELECT '1';--", b"1"),
        ("|sleep 10", b""),
        ("| curl http://127.0.0.1:9/", b""),
        ("k" * 10_000, b""),
        ("kid\r\nINFO forged log line", b""),
        (7, b""),
        (["hs"], b""),
        (None, b""),
    ],
)
def test_b4_kid_injection(reject: Any, kid: Any, secret: bytes, monkeypatch: Any) -> None:
    token = hmac_forge(header("hs", kid=kid), claims(), secret)
    forbid_io(monkeypatch)  # no file, no socket: the kid is only a dictionary key
    error = reject(token)
    assert "\n" not in str(error) and "\r" not in str(error)


def test_b5_missing_kid_with_several_keys_and_duplicate_kids(
    reject: Any, keys: dict[str, Key]
) -> None:
    reject(forge(header("es", kid=...), claims(), keys["es"]), UnknownKey)
    with pytest.raises(InvalidKey):
        KeySet([keys["es"].public(), Key.generate("ES256", kid="es").public()])


@pytest.mark.parametrize("holder", ["one-key set", "public key", "hmac key"])
def test_b5_missing_kid_is_rejected_even_with_a_single_key(
    keys: dict[str, Key], clock: FixedClock, holder: str
) -> None:
    # The validator never falls back to "the only key" (our issuer always sets kid);
    # jws.verify keeps accepting kid-less tokens for a single key (JWS-layer interop), and
    # the header it caches for them must not leak into the validator's decision.
    ref = "hs" if holder == "hmac key" else "es"
    key = keys[ref] if ref == "hs" else keys[ref].public()
    keys_arg: Key | KeySet = KeySet([key]) if holder == "one-key set" else key
    token = forge(header(ref, kid=...), claims(), keys[ref])
    assert jws.verify(token, keys_arg).payload  # JWS layer: accepted, header now cached
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms=KIDS[ref])
    validator = TokenValidator(keys_arg, policy, clock=clock)
    with pytest.raises(UnknownKey) as info:
        validator.validate(token)
    assert info.value.kid is None
    with pytest.raises(MalformedToken):  # a kid that is not a string: malformed (B4)
        validator.validate(forge(header(ref, kid=None), claims(), keys[ref]))
    assert validator.validate(good(keys, ref)).subject == "alice"  # with its kid: fine


def test_b6_hmac_token_naming_an_ec_key(reject: Any, keys: dict[str, Key]) -> None:
    reject(hmac_forge(header("es", alg="HS256"), claims(), b"k" * 32), AlgorithmNotAllowed)


@pytest.mark.parametrize("change", [{"use": "enc"}, {"key_ops": ["encrypt"]}], ids=repr)
def test_b7_encryption_use_keys_are_refused(keys: dict[str, Key], change: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk({**keys["es"].to_jwk(), **change})


@pytest.mark.parametrize("alg", ["A256GCM", "A256KW"])
def test_b8_aes_key_is_not_an_hmac_key(alg: str) -> None:
    with pytest.raises(InvalidKey):
        Key.from_jwk({"kty": "oct", "alg": alg, "k": b64(b"k" * 32)})


def test_b9_jwks_export_holds_only_public_members(keyset: KeySet) -> None:
    allowed = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}
    exported = keyset.to_jwks()["keys"]
    assert exported and all(set(jwk) <= allowed and jwk["kty"] != "oct" for jwk in exported)
    assert len({jwk["kid"] for jwk in exported}) == len(exported)


def test_b10_removed_key_stops_validating_even_when_cached(
    keys: dict[str, Key], clock: FixedClock
) -> None:
    class Source:
        current = KeySet([keys["es"].public(), keys["rs"].public()])

        def current_keys(self) -> KeySet:
            return self.current

    source = Source()
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms=("ES256", "RS256"))
    validator = TokenValidator(source, policy, clock=clock)
    old = good(keys, "es")
    assert validator.validate(old).subject == "alice"
    source.current = KeySet([keys["rs"].public()])
    with pytest.raises(UnknownKey):
        validator.validate(old)


# --- 2.C header semantics and token-kind confusion --- #


@pytest.mark.parametrize(
    "extra",
    [{"crit": ["exp"]}, {"crit": ["x-custom"], "x-custom": 1}, {"crit": []}, {"crit": "b64"}],
    ids=repr,
)
def test_c1_crit_is_rejected(reject: Any, keys: dict[str, Key], extra: dict[str, Any]) -> None:
    reject(forge(header("es", **extra), claims(), keys["es"]))


@pytest.mark.parametrize("b64_value", [False, True])
def test_c2_b64_header_is_rejected(reject: Any, keys: dict[str, Key], b64_value: bool) -> None:
    reject(forge(header("hs", b64=b64_value), claims(), keys["hs"]))


@pytest.mark.parametrize(
    ("head", "body"),
    [
        ('{"alg":"none","alg":"HS256","typ":"at+jwt","kid":"hs"}', None),
        ('{"alg":"HS256","typ":"at+jwt","kid":"hs","kid":"hs"}', None),
        (None, '"sub":"alice","sub":"admin"'),
        (None, '"sub":"alice","s\\u0075b":"admin"'),
        (None, '"sub":"alice","x":{"a":1,"a":2}'),
    ],
)
def test_c3_duplicate_member_names(
    reject: Any, keys: dict[str, Key], head: str | None, body: str | None
) -> None:
    payload = json.dumps(claims(sub=...))[:-1] + "," + body + "}" if body else claims()
    reject(forge(head or header("hs"), payload, keys["hs"]), MalformedToken)


@pytest.mark.parametrize(
    ("typ", "accepted"),
    [
        (..., False),
        ("JWT", False),
        ("jwt", False),
        ("rt+jwt", False),
        ("id_token+jwt", False),
        ("application/at+jwt", True),
        ("at+jwt", True),
        ("AT+JWT", True),  # pinned: media type names are case-insensitive (RFC 6838 4.2)
    ],
)
def test_c4_typ_confusion(
    validator: TokenValidator, keys: dict[str, Key], typ: Any, accepted: bool
) -> None:
    token = forge(header("es", typ=typ), claims(), keys["es"])
    if accepted:
        assert validator.validate(token).subject == "alice"
    else:
        with pytest.raises(InvalidTokenType):
            validator.validate(token)


def test_c4_id_token_shaped_jwt_is_rejected(reject: Any, keys: dict[str, Key]) -> None:
    id_token = claims(aud="client-123", nonce="n-0S6_WzA2Mj")
    reject(forge(header("es", typ="JWT"), id_token, keys["es"]))
    reject(forge(header("es"), id_token, keys["es"]), InvalidAudience)
    id_token_for_api = claims(nonce="n-0S6_WzA2Mj")
    reject(forge(header("es", typ="JWT"), id_token_for_api, keys["es"]), InvalidTokenType)


def test_c5_nested_jwt_is_never_processed(reject: Any, keys: dict[str, Key]) -> None:
    inner = forge({"alg": "none"}, claims(sub="admin"))
    reject(forge(header("es", cty="JWT"), inner.encode(), keys["es"]))


def test_c6_jwe_is_rejected_before_crypto(reject: Any, keys: dict[str, Key]) -> None:
    jwe_header = segment({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "rs"})
    reject(f"{jwe_header}.{b64(b'k' * 256)}.{b64(b'iv' * 6)}.{b64(b'ct')}.{b64(b't' * 16)}")
    for extra in ({"enc": "A256GCM"}, {"zip": "DEF"}):
        reject(forge(header("es", **extra), claims(), keys["es"]))


def test_c7_json_serialization_and_polyglots(reject: Any, keys: dict[str, Key]) -> None:
    compact = good(keys)
    h64, p64, s64 = compact.split(".")
    general = json.dumps({"payload": p64, "signatures": [{"protected": h64, "signature": s64}]})
    flattened = json.dumps({"payload": p64, "protected": h64, "signature": s64})
    polyglot = json.dumps({"protected": h64, "payload": p64, "signature": s64, "x": compact})
    for token in (general, flattened, polyglot, f'{{"{compact}":1}}'):
        reject(token, MalformedToken)


@pytest.mark.parametrize("value", ["[]", '"x"', "1", "null", "true", "", "{}"])
def test_c8_header_or_payload_not_an_object(reject: Any, keys: dict[str, Key], value: str) -> None:
    reject(forge(value, claims(), keys["hs"]))
    if value != "{}":
        reject(forge(header("hs"), value, keys["hs"]), MalformedToken)
    reject(forge(header("hs"), "This is prose, not a claims set.", keys["hs"]), MalformedToken)


# --- 2.D encoding, parsing and resource exhaustion --- #


def test_d1_non_canonical_base64url(reject: Any, keys: dict[str, Key]) -> None:
    h64, p64, s64 = good(keys, "hs").split(".")
    std = s64.replace("-", "+").replace("_", "/")
    last = "BCDEFGHIJKLMNOP"[0] if s64[-1] == "A" else "A"  # other bits in the pad nibble
    variants = [
        f"{h64}.{p64}.{s64}=",
        f"{h64}=.{p64}.{s64}",
        f"{h64}.{p64}.{s64[:-1]}{last}",
        f"{h64}.{p64}.{s64}A",  # len % 4 == 1
        f"{h64}.{p64[:-1]}{chr(ord(p64[-1]) + 1)}.{s64}",
    ]
    if std != s64:
        variants.append(f"{h64}.{p64}.{std}")
    for token in variants:
        reject(token)


@pytest.mark.parametrize("inject", ["\n", "\t", "\x00", "\u00e9", "%2E", " "])
def test_d2_characters_outside_the_alphabet(reject: Any, keys: dict[str, Key], inject: str) -> None:
    h64, rest = good(keys, "hs").split(".", 1)
    for token in (f"{h64[:4]}{inject}{h64[4:]}.{rest}", f"{inject}{h64}.{rest}{inject}"):
        reject(token, MalformedToken)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32", "utf-8-sig"])
def test_d3_non_utf8_json(reject: Any, keys: dict[str, Key], encoding: str) -> None:
    head = json.dumps(header("hs")).encode(encoding)
    body = json.dumps(claims()).encode(encoding)
    reject(forge(head, claims(), keys["hs"]), MalformedToken)
    reject(forge(header("hs"), body, keys["hs"]), MalformedToken)


@pytest.mark.parametrize(
    "payload",
    [b'{"sub":"\xc0\xaf"}', b'{"sub":"\xed\xa0\x80"}', b'{"sub":"\\ud800","exp":1}'],
)
def test_d4_invalid_utf8_and_lone_surrogates(
    reject: Any, keys: dict[str, Key], payload: bytes
) -> None:
    reject(forge(header("hs"), payload, keys["hs"]), MalformedToken)
    reject(forge(header("hs", kid="\ud800"), claims(), keys["hs"]))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_d5_nan_and_infinity(reject: Any, keys: dict[str, Key], literal: str, claim: str) -> None:
    body = json.dumps(claims(**{claim: 0})).replace(f'"{claim}": 0', f'"{claim}": {literal}')
    reject(forge(header("hs"), body, keys["hs"]), MalformedToken)


@pytest.mark.parametrize("number", ["9" * 5000, "1e400", "1e20", "-1e400"])
def test_d6_huge_numbers(reject: Any, keys: dict[str, Key], number: str) -> None:
    body = json.dumps(claims(exp=0)).replace('"exp": 0', f'"exp": {number}')
    reject(forge(header("hs"), body, keys["hs"]))


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"iat": 1e300, "exp": 1e300}, "exp"),
        ({"iat": 10**400, "exp": 10**400}, "exp"),
        ({"iat": 10**400, "exp": 10**400, "nbf": ...}, "exp"),
        ({"iat": -(10**400)}, "iat"),
        ({"iat": -1e300}, "iat"),
        ({"nbf": 10**400}, "nbf"),
        ({"nbf": 1e300}, "nbf"),
        ({"nbf": -(10**400)}, "nbf"),
        ({"nbf": -(2**53) - 1}, "nbf"),  # just past the bound (MAX_NUMERIC_DATE = 2**53)
        ({"nbf": -(2.0**53) * 2}, "nbf"),
    ],
    ids=[
        "iat=exp=1e300",
        "iat=exp=10**400",
        "iat=exp=10**400-no-nbf",
        "iat=-10**400",
        "iat=-1e300",
        "nbf=10**400",
        "nbf=1e300",
        "nbf=-10**400",
        "nbf=-(2**53)-1",
        "nbf=-2.0**54",
    ],
)
def test_d6_huge_but_finite_numeric_dates(
    reject: Any, keys: dict[str, Key], changes: dict[str, Any], claim: str
) -> None:
    # Validly signed; before the bound, int NumericDates beyond float range raised an
    # unhandled OverflowError in the lifetime/leeway arithmetic.
    error = reject(good(keys, "hs", **changes), InvalidClaim)
    assert type(error) is InvalidClaim and error.code == "invalid_claim"
    assert error.claim == claim


@pytest.mark.parametrize("nbf", [-(2**53), -(2.0**53), 0])
def test_d6_numeric_dates_within_the_bound_are_accepted(
    validator: TokenValidator, keys: dict[str, Key], nbf: float
) -> None:
    assert validator.validate(good(keys, "hs", nbf=nbf)).subject == "alice"


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_d7_deep_nesting(reject: Any, keys: dict[str, Key], opener: str) -> None:
    depth = 5000 // len(opener)  # fits under the 8 KiB cap after base64
    closer = "]" if opener == "[" else "}"
    body = json.dumps(claims())[:-1] + ',"deep":' + opener * depth + "1" + closer * depth + "}"
    reject(forge(header("hs"), body, keys["hs"]))


@pytest.mark.parametrize("token", ["." * 8192, "a.b", "a.b.c.d", "", "a", "..", "a..c"])
def test_d8_separators_and_segment_count(reject: Any, token: str, monkeypatch: Any) -> None:
    forbid_decoding(monkeypatch)  # refused by the size and shape checks alone
    reject(token)


def test_d9_oversized_token_and_zip(
    validator: TokenValidator, reject: Any, keys: dict[str, Key], monkeypatch: Any
) -> None:
    reject(forge(header("es", zip="DEF"), claims(), keys["es"]))
    token = "a" * 1_000_000 + ".b.c"
    forbid_decoding(monkeypatch)  # the size cap comes before any decoding (rule 1)
    with pytest.raises(TokenTooLarge):
        validator.validate(token)


def test_d10_pbes2_jwe_is_rejected_immediately(reject: Any, monkeypatch: Any) -> None:
    head = segment({"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 10**9, "p2s": "AA"})
    jwe = f"{head}.{b64(b'k' * 24)}.{b64(b'i' * 12)}.{b64(b'c')}.{b64(b't' * 16)}"
    reject(f"{head}.{b64(b'payload')}.{b64(b's' * 32)}")  # `enc` header: never a KDF
    forbid_decoding(monkeypatch)  # five segments: refused before anything is decoded
    reject(jwe)


# --- 2.E claims --- #


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "aud", "iss", "sub"])
def test_e1_missing_required_claims(reject: Any, keys: dict[str, Key], claim: str) -> None:
    assert reject(good(keys, **{claim: ...}), MissingClaim).claim == claim  # type: ignore[attr-defined]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value", ["9999999999", "1e10", True, False, None, [], {}, "2030-01-01T00:00:00Z"]
)
def test_e2_numeric_dates_of_the_wrong_json_type(
    reject: Any, keys: dict[str, Key], claim: str, value: Any
) -> None:
    assert reject(good(keys, **{claim: value}), InvalidClaim).claim == claim  # type: ignore[attr-defined]


def test_e3_bool_is_not_a_number(reject: Any, keys: dict[str, Key]) -> None:
    reject(good(keys, exp=True), InvalidClaim)
    reject(good(keys, iat=False), InvalidClaim)


@pytest.mark.parametrize(
    ("leeway", "changes", "expected"),
    [
        (0, {"exp": NOW}, ExpiredToken),  # now == exp is expired (RFC 7519 4.1.4)
        (0, {"exp": NOW + 0.5}, None),  # fractional NumericDates are accepted
        (0, {"exp": NOW - 0.001}, ExpiredToken),
        (30, {"exp": NOW - 31}, ExpiredToken),  # exp = now - leeway - 1
        (30, {"exp": NOW - 30}, ExpiredToken),  # now == exp + leeway
        (30, {"exp": NOW - 29}, None),
        (30, {"nbf": NOW + 31}, TokenNotYetValid),  # nbf = now + leeway + 1
        (30, {"nbf": NOW + 30}, None),
        (30, {"exp": -1, "iat": -100, "nbf": ...}, ExpiredToken),
        (0, {"iat": NOW + 0.5, "nbf": ...}, IssuedInFuture),
    ],
)
def test_e4_fractional_and_boundary_numeric_dates(
    keyset: KeySet,
    keys: dict[str, Key],
    clock: FixedClock,
    leeway: float,
    changes: dict[str, Any],
    expected: type[InvalidToken] | None,
) -> None:
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms="ES256", leeway=leeway)
    validator = TokenValidator(keyset, policy, clock=clock)
    token = good(keys, **changes)
    if expected is None:
        assert validator.validate(token).subject == "alice"
    else:
        with pytest.raises(expected):
            validator.validate(token)


def test_e5_far_future_exp_and_future_iat(reject: Any, keys: dict[str, Key]) -> None:
    reject(good(keys, exp=NOW + 10 * 365 * 86400), LifetimeTooLong)
    reject(good(keys, iat=NOW + 3600, nbf=...), IssuedInFuture)


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        (AUD, True),
        (["x", AUD], True),
        (..., False),
        ([], False),
        ("", False),
        ([""], False),
        ([AUD + "2"], False),
        ([1], False),
        ([AUD, 1], False),
        ({AUD: 1}, False),
        (AUD + " ", False),
        (AUD.upper(), False),
        (None, False),
    ],
)
def test_e6_audience_table(
    validator: TokenValidator, keys: dict[str, Key], aud: Any, accepted: bool
) -> None:
    token = good(keys, aud=aud)
    if accepted:
        assert validator.validate(token).subject == "alice"
    else:
        with pytest.raises((InvalidAudience, MissingClaim)):
            validator.validate(token)


@pytest.mark.parametrize("iss", ["http", "https://auth", ISS + "/", [ISS], ISS.upper(), ""])
def test_e7_issuer_partial_or_substring_match(reject: Any, keys: dict[str, Key], iss: Any) -> None:
    reject(good(keys, iss=iss), InvalidIssuer)


@pytest.mark.parametrize(
    "changes",
    [{"sub": 123}, {"sub": ["admin"]}, {"jti": 7}, {"jti": ""}, {"jti": "j" * 1000}],
    ids=repr,
)
def test_e8_sub_and_jti_type_confusion(
    reject: Any, keys: dict[str, Key], changes: dict[str, Any]
) -> None:
    reject(good(keys, **changes), InvalidClaim)


async def test_e9_revoked_jti_is_refused_on_replay(
    validator: TokenValidator, revocations: Revocations, keys: dict[str, Key]
) -> None:
    token = good(keys)
    assert validator.validate(token).jti == "jti-1"
    revocations.revoked.add((ISS, "jti-1"))
    with pytest.raises(RevokedToken):
        validator.validate(token)
    with pytest.raises(RevokedToken):
        await validator.avalidate(token)


def test_e10_token_for_another_service_or_kind(reject: Any, keys: dict[str, Key]) -> None:
    reject(good(keys, aud="svcB"), InvalidAudience)
    reject(forge(header("es", typ="rt+jwt"), claims(), keys["es"]), InvalidTokenType)


def test_e11_substitution_across_services_sharing_an_issuer(
    keyset: KeySet, keys: dict[str, Key], clock: FixedClock
) -> None:
    policy = ValidationPolicy(issuers=ISS, audiences="profile", algorithms="ES256")
    with pytest.raises(InvalidAudience):
        TokenValidator(keyset, policy, clock=clock).validate(good(keys, aud="billing"))


def test_e12_no_claim_is_looked_at_before_the_signature(reject: Any, keys: dict[str, Key]) -> None:
    for changes in ({"exp": NOW - 9999}, {"aud": "x"}, {"iss": 1}, {"exp": ...}, {"jti": 5}):
        h64, _, s64 = good(keys).split(".")
        tampered = f"{h64}.{segment(claims(**changes))}.{s64}"
        reject(tampered, BadSignature)


def test_e13_unknown_claims_grant_nothing(validator: TokenValidator, keys: dict[str, Key]) -> None:
    principal = validator.validate(good(keys, admin=True, role="admin", scope="admin"))
    assert principal.roles == () and not principal.has_role("admin")
    assert principal.claims["admin"] is True  # visible, but never interpreted
