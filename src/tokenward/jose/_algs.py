"""The JWS algorithms of RFC 7518 sec. 3 and RFC 8037 sec. 3.1, as sign/verify closures.

Everything that does not depend on the message (hash objects, padding objects, signature
sizes, the curve order) is computed once per key, so ``verify`` runs only the primitive.
``verify`` functions return ``False`` on any bad signature and never raise.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "ALGORITHMS",
    "AlgSpec",
    "Signer",
    "Verifier",
    "der_to_raw",
    "ec_signer",
    "ec_verifier",
    "ed25519_signer",
    "ed25519_verifier",
    "hmac_signer",
    "hmac_verifier",
    "rsa_signer",
    "rsa_verifier",
]

Signer = Callable[[bytes], bytes]
Verifier = Callable[[bytes, bytes], bool]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CRYPTO_ERRORS = (InvalidSignature, ValueError, TypeError, OverflowError)


@dataclass(frozen=True, slots=True)
class AlgSpec:
    """Static facts about one JWS ``alg`` value."""

    name: str
    kty: str  # "oct", "RSA", "EC" or "OKP"
    hash_name: str | None  # hashlib name ("sha256") or None for EdDSA
    hash_size: int  # digest size in bytes (64 for EdDSA, informational)
    crv: str | None = None  # EC / OKP curve bound to the alg (RFC 7518 sec. 3.4)
    pss: bool = False  # RSASSA-PSS instead of PKCS#1 v1.5

    def hash(self) -> hashes.HashAlgorithm:
        """A fresh ``cryptography`` hash object for this algorithm."""
        return _HASHES[self.name[2:]]()


def _table() -> dict[str, AlgSpec]:
    table: dict[str, AlgSpec] = {}
    for bits, crv in (("256", "P-256"), ("384", "P-384"), ("512", "P-521")):
        size = int(bits) // 8
        table[f"HS{bits}"] = AlgSpec(f"HS{bits}", "oct", f"sha{bits}", size)
        table[f"RS{bits}"] = AlgSpec(f"RS{bits}", "RSA", f"sha{bits}", size)
        table[f"PS{bits}"] = AlgSpec(f"PS{bits}", "RSA", f"sha{bits}", size, pss=True)
        table[f"ES{bits}"] = AlgSpec(f"ES{bits}", "EC", f"sha{bits}", size, crv=crv)
    table["EdDSA"] = AlgSpec("EdDSA", "OKP", None, 64, crv="Ed25519")
    return table


#: every supported ``alg``; ``none`` is deliberately absent (RFC 8725 sec. 3.1)
ALGORITHMS: Mapping[str, AlgSpec] = MappingProxyType(_table())


# --- HMAC (RFC 7518 sec. 3.2) --- #


class _Mac(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def _hmac_context(secret: bytes, name: str) -> Callable[[], _Mac]:
    """A zero-argument factory of fresh HMAC states keyed with ``secret``.

    The keyed state (inner and outer pads already hashed) is computed once per key and
    copied per message, which halves the cost of an HS256 verify for a token-sized input.
    CPython's OpenSSL binding is used when present; ``hmac.new`` is the portable fallback.
    """
    try:
        from _hashlib import hmac_new
    except ImportError:  # pragma: no cover - CPython without OpenSSL
        return hmac.new(secret, digestmod=name).copy
    return hmac_new(secret, digestmod=name).copy


def hmac_signer(spec: AlgSpec, secret: bytes) -> Signer:
    name = spec.hash_name
    assert name is not None
    fresh = _hmac_context(secret, name)

    def sign(data: bytes) -> bytes:
        mac = fresh()
        mac.update(data)
        return mac.digest()

    return sign


def hmac_verifier(spec: AlgSpec, secret: bytes) -> Verifier:
    name = spec.hash_name
    assert name is not None
    fresh, equal = _hmac_context(secret, name), hmac.compare_digest

    def verify(data: bytes, signature: bytes) -> bool:
        mac = fresh()
        mac.update(data)
        # constant-time comparison of raw bytes, RFC 7518 sec. 3.2 (A19)
        return equal(mac.digest(), signature)

    return verify


# --- RSA (RFC 7518 sec. 3.3 PKCS#1 v1.5, sec. 3.5 PSS) --- #


def _rsa_padding(spec: AlgSpec) -> padding.AsymmetricPadding:
    if spec.pss:
        # MGF1 with the same hash and salt length = hash length, never PSS.AUTO (A13)
        return padding.PSS(mgf=padding.MGF1(spec.hash()), salt_length=spec.hash_size)
    return padding.PKCS1v15()


def rsa_signer(spec: AlgSpec, key: rsa.RSAPrivateKey) -> Signer:
    pad, algorithm, sign_raw = _rsa_padding(spec), spec.hash(), key.sign

    def sign(data: bytes) -> bytes:
        return sign_raw(data, pad, algorithm)

    return sign


def rsa_verifier(spec: AlgSpec, key: rsa.RSAPublicKey) -> Verifier:
    pad, algorithm, verify_raw = _rsa_padding(spec), spec.hash(), key.verify
    size = (key.key_size + 7) // 8  # signature length must equal the modulus length (A14)

    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            verify_raw(signature, data, pad, algorithm)
        except _CRYPTO_ERRORS:
            return False
        return True

    return verify


# --- ECDSA (RFC 7518 sec. 3.4) --- #


def _ec_params(curve: ec.EllipticCurve) -> tuple[int, int]:
    """(coordinate size in bytes, group order n) of the curve."""
    return (curve.key_size + 7) // 8, _ORDERS[curve.name]


#: group orders n of the NIST curves (SEC 2 v2 sec. 2.4; FIPS 186-4 appendix D.1.2)
_ORDERS: Mapping[str, int] = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "secp521r1": int(
        "01FF" + "FFFFFFFF" * 7 + "FFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


def der_to_raw(der: bytes, size: int) -> bytes:
    """R||S, each left-padded to ``size`` bytes (RFC 7518 sec. 3.4), from OpenSSL's DER.

    ``der`` is ``SEQUENCE { INTEGER r, INTEGER s }`` (RFC 3279 sec. 2.2.3) as produced by
    our own signing call, never input from outside: the SEQUENCE length uses the long form
    (``0x81 nn``) only for P-521, and a DER INTEGER is minimal, so it is at most one
    leading zero byte longer than ``size``. Slicing it is 3x cheaper than
    ``decode_dss_signature`` plus two ``int.to_bytes``, which matters for ES* signing.
    """
    i = 3 if der[1] == 0x81 else 2
    end = i + 2 + der[i + 1]
    return der[i + 2 : end][-size:].rjust(size, b"\0") + der[end + 2 :][-size:].rjust(size, b"\0")


def ec_signer(spec: AlgSpec, key: ec.EllipticCurvePrivateKey) -> Signer:
    size, _ = _ec_params(key.curve)
    algorithm, sign_raw = ec.ECDSA(spec.hash()), key.sign

    def sign(data: bytes) -> bytes:
        return der_to_raw(sign_raw(data, algorithm), size)

    return sign


def ec_verifier(spec: AlgSpec, key: ec.EllipticCurvePublicKey) -> Verifier:
    size, order = _ec_params(key.curve)
    total = 2 * size
    algorithm, verify_raw, to_der = ec.ECDSA(spec.hash()), key.verify, encode_dss_signature

    def verify(data: bytes, signature: bytes) -> bool:
        # raw R||S of exactly 2 * coordinate size, never DER (RFC 7518 sec. 3.4, A10)
        if len(signature) != total:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        # r, s in [1, n-1] (SEC 1 v2 sec. 4.1.4 step 1; CVE-2022-21449, A9)
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            verify_raw(to_der(r, s), data, algorithm)
        except _CRYPTO_ERRORS:
            return False
        return True

    return verify


# --- EdDSA / Ed25519 (RFC 8037 sec. 3.1) --- #


def ed25519_signer(spec: AlgSpec, key: ed25519.Ed25519PrivateKey) -> Signer:
    return key.sign


def ed25519_verifier(spec: AlgSpec, key: ed25519.Ed25519PublicKey) -> Verifier:
    verify_raw = key.verify

    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            verify_raw(signature, data)
        except _CRYPTO_ERRORS:
            return False
        return True

    return verify
