"""JWS-layer rows of the security profile's attack catalogue, sections 2.A-2.D.

Every forged token is correctly signed (or MACed) unless the row is about the signature,
so only the property under test is wrong. Claims-level rows (2.E) and ``typ`` live in
``tests/test_advisories.py`` (through the validator).
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import inspect
import json
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from forge import b64, forbid_decoding, forbid_io, forge, hmac_forge, segment, split

from tokenward import Key, KeySet, jws
from tokenward.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    InvalidKey,
    InvalidToken,
    MalformedToken,
    UnknownKey,
    UnsupportedHeader,
)
from tokenward.jose import _algs
from tokenward.keys import MAX_KID_LENGTH

CLAIMS = {"sub": "alice", "exp": 1_900_000_000}
ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "ES512": int(
        "01FF" + "FFFFFFFF" * 7 + "FFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}
ASYMMETRIC = ("RS256", "PS256", "ES256", "ES512", "EdDSA")


@pytest.fixture(scope="module")
def service_keys(keys: dict[str, Key]) -> KeySet:
    """The verifier's key set: every public key plus the HMAC key."""
    return KeySet([k if k.kty == "oct" else k.public() for k in keys.values()])


def _header(alg: object, kid: str, **extra: object) -> dict[str, object]:
    return {"alg": alg, "kid": kid, "typ": "at+jwt", **extra}


# --- 2.A algorithm and signature handling --- #


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "none ", "\u006eone"])
@pytest.mark.parametrize("kid", ["HS256", "ES256", "RS256"])
def test_a1_alg_none_variants_are_refused(service_keys: KeySet, alg: str, kid: str) -> None:
    with pytest.raises(MalformedToken):  # empty signature never even parses
        jws.verify(forge(_header(alg, kid), CLAIMS), service_keys)
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(forge(_header(alg, kid), CLAIMS, signature=b"sig"), service_keys)


def test_a1_escaped_none_in_raw_json_is_refused(service_keys: KeySet) -> None:
    header = b'{"alg":"\\u006eone","kid":"HS256"}'
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(forge(header, CLAIMS, signature=b"x"), service_keys)


@pytest.mark.parametrize(
    "alg",
    [None, "", 0, ["HS256"], {"x": 1}, "hs256", "HS256\u0000", "HS256 ", True],
    ids=repr,
)
def test_a2_missing_or_malformed_alg_is_refused(
    keys: dict[str, Key], service_keys: KeySet, alg: object
) -> None:
    token = forge(_header(alg, "HS256"), CLAIMS, keys["HS256"])
    with pytest.raises(InvalidToken):
        jws.verify(token, service_keys)


def test_a2_absent_alg_is_malformed(keys: dict[str, Key], service_keys: KeySet) -> None:
    with pytest.raises(MalformedToken):
        jws.verify(forge({"kid": "HS256"}, CLAIMS, keys["HS256"]), service_keys)


def _public_encodings(key: Key) -> dict[str, bytes]:
    """Every way a public key is commonly written down (A3)."""
    pem = key.to_pem()
    crypto_key = serialization.load_pem_public_key(pem)
    encodings = {
        "pem": pem,
        "pem-no-newline": pem.rstrip(b"\n"),
        "pem-crlf": pem.replace(b"\n", b"\r\n"),
        "der-spki": crypto_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh": crypto_key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "jwk-json": json.dumps(key.to_jwk()).encode(),
        "jwk-json-compact": json.dumps(key.to_jwk(), separators=(",", ":")).encode(),
        "jwks-json": json.dumps({"keys": [key.to_jwk()]}).encode(),
    }
    jwk = key.to_jwk()
    if key.kty == "RSA":
        encodings["pkcs1-der"] = crypto_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        encodings["pkcs1-pem"] = crypto_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        encodings["raw-n"] = int.to_bytes(
            int.from_bytes(_unb64(jwk["n"]), "big"), len(_unb64(jwk["n"])), "big"
        )
    else:
        encodings["raw-x"] = _unb64(jwk["x"])
        encodings["raw-point"] = crypto_key.public_bytes(
            serialization.Encoding.X962 if key.kty == "EC" else serialization.Encoding.Raw,
            serialization.PublicFormat.UncompressedPoint
            if key.kty == "EC"
            else serialization.PublicFormat.Raw,
        )
    return encodings


@pytest.mark.parametrize("kid", ASYMMETRIC)
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
def test_a3_a4_public_key_bytes_as_hmac_secret_are_refused(
    keys: dict[str, Key], service_keys: KeySet, kid: str, hmac_alg: str
) -> None:
    for name, secret in _public_encodings(keys[kid]).items():
        token = hmac_forge(_header(hmac_alg, kid), CLAIMS, secret, "sha" + hmac_alg[2:])
        with pytest.raises(AlgorithmNotAllowed):
            jws.verify(token, service_keys)
        with pytest.raises(AlgorithmNotAllowed):
            jws.verify(token, keys[kid].public())
        assert name  # keeps the encoding name in the failure context


@pytest.mark.parametrize("other", ["RS256", "RS384", "RS512", "PS256", "PS384"])
def test_a5_same_rsa_key_with_another_algorithm_is_refused(
    keys: dict[str, Key], other: str
) -> None:
    registered = Key.from_pem(keys["PS512"].to_pem(private=True), alg="PS512", kid="rsa")
    attacker_view = Key.from_pem(registered.to_pem(private=True), alg=other, kid="rsa")
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(jws.sign(b"{}", attacker_view), registered.public())
    # the header lies about the algorithm: the PS512 check runs and fails
    lie = forge({"alg": "PS512", "kid": "rsa"}, CLAIMS, attacker_view)
    with pytest.raises(BadSignature):
        jws.verify(lie, registered.public())


def test_a6_es256_header_against_p521_key_is_refused(keys: dict[str, Key]) -> None:
    token = forge(_header("ES256", "ES512"), CLAIMS, signature=bytes(64))
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(token, keys["ES512"].public())


def test_a6_es512_signature_is_132_bytes(keys: dict[str, Key]) -> None:
    _, _, s = split(jws.sign(b"{}", keys["ES512"]))
    assert len(_unb64(s)) == 132


@pytest.mark.parametrize("alg", ["HS256", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"])
def test_a7_empty_signature_is_refused(keys: dict[str, Key], alg: str) -> None:
    h, p, _ = split(jws.sign(b"{}", keys[alg]))
    with pytest.raises(MalformedToken):
        jws.verify(f"{h}.{p}.", keys[alg].public())
    with pytest.raises(BadSignature):
        jws.verify(f"{h}.{p}.AA", keys[alg].public())


@pytest.mark.parametrize("secret", [b"", b"secret", b"changeme", b"1", b"x" * 31])
def test_a8_a17_weak_hmac_secrets_refused_and_their_tokens_rejected(
    service_keys: KeySet, secret: bytes
) -> None:
    with pytest.raises(InvalidKey):
        Key.from_secret(secret, alg="HS256")
    with pytest.raises(BadSignature):
        jws.verify(hmac_forge(_header("HS256", "HS256"), CLAIMS, secret), service_keys)


def _ec_candidates(alg: str) -> Iterator[tuple[int, int]]:
    n = ORDERS[alg]
    values = (0, 1, n - 1, n, n + 1, 2 ** (8 * SIZES[alg]) - 1)
    for r in values:
        for s in values:
            yield r, s


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_a9_psychic_and_out_of_range_ecdsa_signatures_are_refused(
    keys: dict[str, Key], alg: str
) -> None:
    size = SIZES[alg]
    public = keys[alg].public()
    header = _header(alg, alg)
    with pytest.raises(BadSignature):
        jws.verify(forge(header, CLAIMS, signature=bytes(2 * size)), public)
    for r, s in _ec_candidates(alg):
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        with pytest.raises(BadSignature):
            jws.verify(forge(header, CLAIMS, signature=sig), public)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_a10_der_and_wrong_length_ecdsa_signatures_are_refused(
    keys: dict[str, Key], alg: str
) -> None:
    key, size = keys[alg], SIZES[alg]
    token = jws.sign(json.dumps(CLAIMS).encode(), key)
    h, p, s = split(token)
    raw = _unb64(s)
    r, ss = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    variants = {
        "der": encode_dss_signature(r, ss),
        "trailing-zero": raw + b"\x00",
        "leading-zero": b"\x00" + raw,
        "truncated": raw[:-1],
        "short-r": r.to_bytes(size + 1, "big")[1:] + ss.to_bytes(size, "big")[1:],
    }
    for sig in variants.values():
        with pytest.raises(BadSignature):
            jws.verify(f"{h}.{p}.{b64(sig)}", key.public())
    assert jws.verify(token, key.public()).payload  # the original is fine


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_a11_ecdsa_high_s_twin_verifies_so_revocation_must_key_on_jti(
    keys: dict[str, Key], alg: str
) -> None:
    # (r, n - s) is a valid signature too: token bytes are not an identity (A11, F1)
    key, size, n = keys[alg], SIZES[alg], ORDERS[alg]
    h, p, s = split(jws.sign(json.dumps(CLAIMS).encode(), key))
    raw = _unb64(s)
    twin = raw[:size] + (n - int.from_bytes(raw[size:], "big")).to_bytes(size, "big")
    twin_token = f"{h}.{p}.{b64(twin)}"
    assert twin_token != f"{h}.{p}.{s}"
    assert jws.verify(twin_token, key.public()).payload == jws.verify(f"{h}.{p}.{s}", key).payload


@pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512"])
@pytest.mark.parametrize("salt", [0, 20, "max"])
def test_a13_pss_salt_length_other_than_hash_size_is_refused(
    keys: dict[str, Key], alg: str, salt: int | str
) -> None:
    key = keys[alg]
    private = serialization.load_pem_private_key(key.to_pem(private=True), password=None)
    algorithm = {"PS256": hashes.SHA256(), "PS384": hashes.SHA384(), "PS512": hashes.SHA512()}[alg]
    salt_length = padding.PSS.MAX_LENGTH if salt == "max" else salt
    data = f"{segment(_header(alg, alg))}.{segment(CLAIMS)}"
    sig = private.sign(  # type: ignore[union-attr, call-arg]
        data.encode(), padding.PSS(padding.MGF1(algorithm), salt_length), algorithm
    )
    with pytest.raises(BadSignature):
        jws.verify(f"{data}.{b64(sig)}", key.public())


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_a14_rsa_signature_not_of_modulus_length_is_refused(keys: dict[str, Key], alg: str) -> None:
    key = keys[alg]
    h, p, s = split(jws.sign(b"{}", key))
    raw = _unb64(s)
    n = int.from_bytes(_unb64(key.to_jwk()["n"]), "big")
    variants = [
        b"\x00" + raw,
        raw + b"\x00",
        raw[:-1],
        bytes(len(raw)),
        (1).to_bytes(len(raw), "big"),
        (n - 1).to_bytes(len(raw), "big"),
        n.to_bytes(len(raw), "big"),
        (int.from_bytes(raw, "big") + n).to_bytes(len(raw) + 1, "big"),
    ]
    for sig in variants:
        with pytest.raises(BadSignature):
            jws.verify(f"{h}.{p}.{b64(sig)}", key.public())


def test_a15_non_canonical_ed25519_s_is_refused(keys: dict[str, Key]) -> None:
    key = keys["EdDSA"]
    h, p, s = split(jws.sign(b"{}", key))
    raw = _unb64(s)
    order = 2**252 + 27742317777372353535851937790883648493
    big_s = int.from_bytes(raw[32:], "little") + order
    if big_s < 2**256:
        with pytest.raises(BadSignature):
            jws.verify(f"{h}.{p}.{b64(raw[:32] + big_s.to_bytes(32, 'little'))}", key.public())
    for sig in (raw[:63], raw + b"\x00", bytes(64)):
        with pytest.raises(BadSignature):
            jws.verify(f"{h}.{p}.{b64(sig)}", key.public())


def test_a19_hmac_is_compared_in_constant_time() -> None:
    source = inspect.getsource(_algs.hmac_verifier)
    assert "compare_digest" in source and "==" not in source


def test_a20_signature_is_over_received_bytes_not_reserialized_json(keys: dict[str, Key]) -> None:
    key = keys["HS256"]
    spaced = b'{ "alg" : "HS256" ,\n "kid" : "HS256" }'
    token = forge(spaced, b'{ "sub" : "alice" }', key)
    assert jws.verify(token, key).header == {"alg": "HS256", "kid": "HS256"}
    h, p, s = split(token)
    for bad in (f"{h[:5]}?{h[5:]}.{p}.{s}", f"{h}.{p[:5]}?{p[5:]}.{s}"):
        with pytest.raises(MalformedToken):
            jws.verify(bad, key)


# --- 2.B key selection and header injection --- #


@pytest.mark.parametrize("with_kid", [True, False])
def test_b1_embedded_jwk_is_never_trusted(service_keys: KeySet, with_kid: bool) -> None:
    attacker = Key.generate("ES256", kid="ES256")
    header: dict[str, object] = {"alg": "ES256", "jwk": attacker.to_jwk()}
    if with_kid:
        header["kid"] = "ES256"
    with pytest.raises(UnsupportedHeader):
        jws.verify(forge(header, CLAIMS, attacker), service_keys)
    with pytest.raises(UnsupportedHeader):
        jws.verify(forge(header, CLAIMS, attacker), attacker.public())


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_b2_jku_and_x5u_are_rejected_without_any_fetch(keys: dict[str, Key]) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/jwks.json"
        for name in ("jku", "x5u"):
            for value in (url, "file:///etc/passwd", "http://169.254.169.254/"):
                token = forge(_header("HS256", "HS256", **{name: value}), CLAIMS, keys["HS256"])
                with pytest.raises(UnsupportedHeader):
                    jws.verify(token, keys["HS256"])
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.hits == []


def test_b3_x5c_is_rejected(keys: dict[str, Key]) -> None:
    token = forge(_header("ES256", "ES256", x5c=["MIIB..."]), CLAIMS, keys["ES256"])
    with pytest.raises(UnsupportedHeader):
        jws.verify(token, keys["ES256"].public())


def test_b3_x5t_is_ignored_not_trusted(keys: dict[str, Key]) -> None:
    token = forge(_header("ES256", "ES256", **{"x5t#S256": "abc"}), CLAIMS, keys["ES256"])
    assert jws.verify(token, keys["ES256"].public()).key.kid == "ES256"


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "/dev/null",
        "/invalid_path",
        "|sleep 10",
        "| curl http://127.0.0.1:9/",
        "x' UNION SELECT '1';--",
        "",
        "a\r\nforged: log line",
        "\u0000",
    ],
)
@pytest.mark.parametrize("secret", [b"", b"1", b"\x00"])
def test_b4_kid_injection_is_an_unknown_key_without_io(
    service_keys: KeySet, kid: str, secret: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = hmac_forge(_header("HS256", kid), CLAIMS, secret)
    forbid_io(monkeypatch)  # no file, no socket: the kid is only a dictionary key
    with pytest.raises(UnknownKey):
        jws.verify(token, service_keys)


@pytest.mark.parametrize("kid", [7, ["HS256"], None, {"k": 1}, True, "k" * 257], ids=repr)
def test_b4_kid_of_wrong_type_or_length_is_malformed(keys: dict[str, Key], kid: object) -> None:
    token = forge({"alg": "HS256", "kid": kid}, CLAIMS, keys["HS256"])
    with pytest.raises(MalformedToken):
        jws.verify(token, keys["HS256"])


def test_b4_the_longest_kid_a_key_accepts_is_accepted_in_a_header() -> None:
    # one limit for keys and headers: every key's kid fits in a token header
    key = Key.generate("HS256", kid="k" * MAX_KID_LENGTH)
    assert jws.verify(jws.sign(b"{}", key), KeySet([key])).key is key


def test_b4_ten_kilobyte_kid_is_refused(keys: dict[str, Key]) -> None:
    token = forge({"alg": "HS256", "kid": "k" * 10_000}, CLAIMS, keys["HS256"])
    with pytest.raises(InvalidToken):
        jws.verify(token, keys["HS256"])
    with pytest.raises(MalformedToken):
        jws.verify(token, keys["HS256"], max_bytes=100_000)


def test_b6_hmac_token_naming_an_ec_key_is_refused(
    keys: dict[str, Key], service_keys: KeySet
) -> None:
    # even when MACed with the *real* HMAC key of the service
    token = forge(_header("HS256", "ES256"), CLAIMS, keys["HS256"])
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(token, service_keys)


# --- 2.C header semantics and token-kind confusion --- #


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"]},
        {"crit": ["x-custom"], "x-custom": 1},
        {"crit": []},
        {"crit": "b64"},
        {"b64": False},
        {"b64": True},
        {"cty": "JWT"},
        {"cty": "jwt"},
        {"zip": "DEF"},
        {"enc": "A256GCM"},
    ],
    ids=lambda e: json.dumps(e),
)
def test_c1_c2_c5_c6_d9_refused_header_parameters(
    keys: dict[str, Key], extra: dict[str, object]
) -> None:
    token = forge(_header("HS256", "HS256", **extra), CLAIMS, keys["HS256"])
    with pytest.raises(UnsupportedHeader):
        jws.verify(token, keys["HS256"])


def test_c5_nested_jwt_payload_is_not_recursed(keys: dict[str, Key]) -> None:
    inner = forge({"alg": "none"}, CLAIMS, signature=b"")
    token = forge(_header("HS256", "HS256", cty="JWT"), inner.encode(), keys["HS256"])
    with pytest.raises(UnsupportedHeader):
        jws.verify(token, keys["HS256"])


def test_c6_d10_compact_jwe_is_malformed(
    keys: dict[str, Key], monkeypatch: pytest.MonkeyPatch
) -> None:
    header = segment({"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 10**9, "p2s": "AAAA"})
    token = f"{header}.{b64(bytes(24))}.{b64(bytes(12))}.{b64(b'ciphertext')}.{b64(bytes(16))}"
    forbid_decoding(monkeypatch)  # five segments: refused before anything is decoded
    with pytest.raises(MalformedToken):
        jws.verify(token, keys["HS256"])


def test_c7_json_serialization_and_polyglots_are_malformed(keys: dict[str, Key]) -> None:
    compact = jws.sign(json.dumps(CLAIMS).encode(), keys["HS256"])
    h, p, s = split(compact)
    flat = json.dumps({"protected": h, "payload": p, "signature": s})
    general = json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    # python-jwt CVE-2022-39227 shape: a JSON object with a compact token smuggled in
    polyglot = json.dumps({f"{h}.{p}.": "", "protected": h, "payload": p, "signature": s})
    for token in (flat, general, polyglot, f'{{"a":"{compact}"}}'):
        with pytest.raises(MalformedToken):
            jws.verify(token, keys["HS256"])


@pytest.mark.parametrize("header", [[], "x", 1, None, True, "", {}], ids=repr)
def test_c8_header_that_is_not_an_object_with_alg_is_malformed(
    keys: dict[str, Key], header: object
) -> None:
    with pytest.raises(MalformedToken):
        jws.verify(forge(header, CLAIMS, keys["HS256"]), keys["HS256"])


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "==")


def test_forge_hmac_matches_key_sign(keys: dict[str, Key]) -> None:
    # the helper used above is itself correct: MACing with the real secret verifies
    secret = _unb64(keys["HS256"].to_jwk(private=True)["k"])
    token = hmac_forge(_header("HS256", "HS256"), CLAIMS, secret)
    assert jws.verify(token, keys["HS256"]).header["alg"] == "HS256"
    assert hmac.compare_digest(
        _unb64(split(token)[2]),
        hmac.new(secret, ".".join(split(token)[:2]).encode(), hashlib.sha256).digest(),
    )
