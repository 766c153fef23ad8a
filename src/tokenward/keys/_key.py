"""``Key``: one signing or verification key bound to exactly one JWS algorithm.

RFC 8725 sec. 3.1: "each key MUST be used with exactly one algorithm". The algorithm comes
from the JWK ``alg`` member or the ``alg`` argument; a disagreement, or an RSA/EC/oct key
without any algorithm, raises ``InvalidKey``. Key hygiene (security profile rule 9) runs
once, at import, never per request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tokenward.errors import InvalidKey, UnknownKey
from tokenward.jose import _algs
from tokenward.jose._b64 import b64url_encode
from tokenward.keys._jwk import (
    CRV_BY_CURVE,
    CURVES,
    Material,
    material_from_jwk,
    private_members,
    public_members,
)
from tokenward.keys._pem import material_from_pem, material_to_pem

__all__ = ["MAX_KID_LENGTH", "Key"]

#: longest ``kid`` accepted on keys and in token headers
MAX_KID_LENGTH = 256
_MIN_RSA_BITS = 2048  # RFC 7518 sec. 3.3 and 3.5
_MAX_RSA_BITS = 16384  # bounds the cost of importing a hostile JWKS
_KEY_OPS = frozenset({"sign", "verify"})


def check_kid(kid: object) -> str:
    """Validate a ``kid`` (a non-empty string of at most ``MAX_KID_LENGTH`` characters)."""
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise InvalidKey(f"kid must be a non-empty string of at most {MAX_KID_LENGTH} characters")
    return kid


def _spec(alg: object) -> _algs.AlgSpec:
    spec = _algs.ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if spec is None:
        raise InvalidKey("unsupported or missing signature algorithm")
    return spec


def _check_material(spec: _algs.AlgSpec, material: Material) -> None:
    """Key hygiene, RFC 7518 sec. 3 and RFC 8725 sec. 3.5 (security profile rule 9)."""
    if spec.kty == "oct":
        if not isinstance(material, bytes):
            raise InvalidKey(f"{spec.name} needs a symmetric key")
        if len(material) < spec.hash_size:  # RFC 7518 sec. 3.2 (A17)
            raise InvalidKey(f"{spec.name} key must be at least {spec.hash_size} bytes")
    elif spec.kty == "RSA":
        if not isinstance(material, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise InvalidKey(f"{spec.name} needs an RSA key")
        pub = material.public_key() if isinstance(material, rsa.RSAPrivateKey) else material
        e = pub.public_numbers().e
        if not _MIN_RSA_BITS <= pub.key_size <= _MAX_RSA_BITS:
            raise InvalidKey(f"RSA modulus must be {_MIN_RSA_BITS}..{_MAX_RSA_BITS} bits")
        if e < 3 or e % 2 == 0:  # A18: e = 1 makes every signature trivially forgeable
            raise InvalidKey("RSA public exponent must be odd and >= 3")
    elif spec.kty == "EC":
        if not isinstance(material, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            raise InvalidKey(f"{spec.name} needs an EC key")
        assert spec.crv is not None
        if CRV_BY_CURVE.get(material.curve.name) != spec.crv:  # RFC 7518 sec. 3.4 (A6)
            raise InvalidKey(f"{spec.name} needs curve {spec.crv}")
    elif not isinstance(material, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        raise InvalidKey("EdDSA needs an Ed25519 key")


def _primitives(spec: _algs.AlgSpec, material: Material) -> tuple[Any, _algs.Verifier]:
    """(signer or None, verifier) closures for ``material`` under ``spec``."""
    if isinstance(material, bytes):
        return _algs.hmac_signer(spec, material), _algs.hmac_verifier(spec, material)
    if isinstance(material, rsa.RSAPrivateKey):
        return _algs.rsa_signer(spec, material), _algs.rsa_verifier(spec, material.public_key())
    if isinstance(material, rsa.RSAPublicKey):
        return None, _algs.rsa_verifier(spec, material)
    if isinstance(material, ec.EllipticCurvePrivateKey):
        return _algs.ec_signer(spec, material), _algs.ec_verifier(spec, material.public_key())
    if isinstance(material, ec.EllipticCurvePublicKey):
        return None, _algs.ec_verifier(spec, material)
    if isinstance(material, ed25519.Ed25519PrivateKey):
        signer = _algs.ed25519_signer(spec, material)
        return signer, _algs.ed25519_verifier(spec, material.public_key())
    return None, _algs.ed25519_verifier(spec, material)


class Key:
    """An immutable JWS key bound to one algorithm.

    Build one with :meth:`generate`, :meth:`from_jwk`, :meth:`from_pem` or
    :meth:`from_secret`. Attributes: ``kid``, ``alg``, ``kty``, ``is_private`` (True for
    keys that can sign: asymmetric private keys and HMAC secrets).
    """

    __slots__ = (
        "_header_cache",
        "_material",
        "_members",
        "_sign",
        "_sign_cache",
        "_thumbprint",
        "_verify",
        "alg",
        "is_private",
        "kid",
        "kty",
    )

    kid: str
    alg: str
    kty: str
    is_private: bool
    _material: Material
    _members: dict[str, str]
    _sign: _algs.Signer | None
    _verify: _algs.Verifier
    _header_cache: dict[str, tuple[dict[str, Any], Key]]
    _sign_cache: dict[tuple[tuple[str, str], ...], str]
    _thumbprint: str

    def __init__(self) -> None:
        raise TypeError("use Key.generate, Key.from_jwk, Key.from_pem or Key.from_secret")

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Key is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Key is immutable")

    @classmethod
    def _bind(cls, material: Material, alg: object, kid: object = None) -> Key:
        spec = _spec(alg)
        _check_material(spec, material)
        members = public_members(material)
        signer, verifier = _primitives(spec, material)
        self = object.__new__(cls)
        put = object.__setattr__
        put(self, "alg", spec.name)
        put(self, "kty", spec.kty)
        put(self, "is_private", signer is not None)
        put(self, "_material", material)
        put(self, "_members", members)
        put(self, "_sign", signer)
        put(self, "_verify", verifier)
        put(self, "_header_cache", {})
        put(self, "_sign_cache", {})
        # RFC 7638 sec. 3: required members only, sorted, no whitespace, SHA-256
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
        put(self, "_thumbprint", b64url_encode(hashlib.sha256(canonical).digest()))
        put(self, "kid", self._thumbprint if kid is None else check_kid(kid))
        return self

    # --- construction --- #

    @classmethod
    def generate(cls, alg: str, *, kid: str | None = None) -> Key:
        """A fresh random key for ``alg`` (RSA 2048-bit, EC on the alg's curve, Ed25519,
        HMAC secrets of hash length from ``secrets``). ``kid`` defaults to the thumbprint."""
        spec = _spec(alg)
        material: Material
        if spec.kty == "oct":
            material = secrets.token_bytes(spec.hash_size)
        elif spec.kty == "RSA":
            material = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif spec.kty == "EC":
            assert spec.crv is not None
            material = ec.generate_private_key(CURVES[spec.crv]())
        else:
            material = ed25519.Ed25519PrivateKey.generate()
        return cls._bind(material, spec.name, kid)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], *, alg: str | None = None) -> Key:
        """Import a private or public JWK (RFC 7517).

        The algorithm is the JWK ``alg`` member or the ``alg`` argument; when both are given
        they must be equal. OKP/Ed25519 keys imply ``EdDSA``; RSA, EC and oct keys without
        an algorithm are refused (RFC 8725 sec. 3.1). ``use`` must be ``sig`` and
        ``key_ops`` may only contain ``sign``/``verify`` (RFC 7517 sec. 4.2, 4.3).

        :raise InvalidKey: on any malformed, weak or unsupported key
        """
        if not isinstance(jwk, Mapping):
            raise InvalidKey("a JWK must be a JSON object")
        if "use" in jwk and jwk["use"] != "sig":
            raise InvalidKey("JWK use must be 'sig'")
        if "key_ops" in jwk:
            ops = jwk["key_ops"]
            if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
                raise InvalidKey("JWK key_ops must be a non-empty list of strings")
            if not set(ops) <= _KEY_OPS:
                raise InvalidKey("JWK key_ops must only allow sign/verify")
        jwk_alg = jwk.get("alg")
        if jwk_alg is not None and alg is not None and jwk_alg != alg:
            raise InvalidKey("JWK alg member and alg argument disagree")
        chosen = alg if alg is not None else jwk_alg
        if chosen is None and jwk.get("kty") == "OKP":
            chosen = "EdDSA"  # RFC 8037 sec. 3.1: Ed25519 keys sign only with EdDSA
        spec = _spec(chosen)
        if jwk.get("kty") != spec.kty:
            raise InvalidKey(f"{spec.name} needs a kty {spec.kty} key")
        material = material_from_jwk(jwk)
        if "kid" in jwk:
            check_kid(jwk["kid"])
        return cls._bind(material, spec.name, jwk.get("kid"))

    @classmethod
    def from_pem(cls, data: bytes | str, *, alg: str, kid: str | None = None) -> Key:
        """Import a PEM key (PKCS#8, SubjectPublicKeyInfo, PKCS#1 ``BEGIN RSA ...``,
        SEC 1 ``BEGIN EC PRIVATE KEY``), bound to ``alg``.

        :raise InvalidKey: encrypted, malformed, weak or mismatching keys
        """
        return cls._bind(material_from_pem(data), _spec(alg).name, kid)

    @classmethod
    def from_secret(cls, secret: bytes, *, alg: str, kid: str | None = None) -> Key:
        """An HMAC key (HS256/384/512) of at least the hash length (RFC 7518 sec. 3.2).

        ``kid`` defaults to the RFC 7638 thumbprint of the ``oct`` JWK."""
        if not isinstance(secret, bytes | bytearray | memoryview):
            raise InvalidKey("an HMAC secret must be bytes")
        spec = _spec(alg)
        if spec.kty != "oct":
            raise InvalidKey("from_secret only makes HS256/HS384/HS512 keys")
        return cls._bind(bytes(secret), spec.name, kid)

    # --- export --- #

    def to_jwk(self, *, private: bool = False) -> dict[str, Any]:
        """The JWK of this key with ``kid``, ``use`` and ``alg``.

        Private members (``d``, CRT values, an HMAC ``k``) appear only with
        ``private=True`` (RFC 7517 sec. 9.2).

        :raise InvalidKey: ``private=True`` on a public key, or ``private=False`` on an
            HMAC key (a symmetric key has no public form)
        """
        if private and not self.is_private:
            raise InvalidKey("not a private key")
        if not private and self.kty == "oct":
            raise InvalidKey("a symmetric key has no public JWK")
        jwk: dict[str, Any] = {"kty": self.kty, "kid": self.kid, "use": "sig", "alg": self.alg}
        jwk.update((k, v) for k, v in self._members.items() if k != "kty")
        if private:
            jwk.update(private_members(self._material))
        return jwk

    def to_pem(self, *, private: bool = False) -> bytes:
        """PKCS#8 (``private=True``) or SubjectPublicKeyInfo PEM; not for HMAC keys."""
        if private and not self.is_private:
            raise InvalidKey("not a private key")
        return material_to_pem(self._material, private=private)

    def public(self) -> Key:
        """The verification-only counterpart (same ``kid`` and ``alg``).

        A public key returns itself; so does an HMAC key, which is its own verification key
        (it is never exported: see :meth:`to_jwk` and ``KeySet.to_jwks``)."""
        material = self._material
        if isinstance(
            material, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            return Key._bind(material.public_key(), self.alg, self.kid)
        return self

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key members."""
        return self._thumbprint

    # --- primitives --- #

    def sign(self, signing_input: bytes) -> bytes:
        """The raw JWS signature of ``signing_input`` (ECDSA as R||S, RFC 7518 sec. 3.4).

        :raise InvalidKey: when this key cannot sign (a public key)
        """
        if self._sign is None:
            raise InvalidKey("a public key cannot sign")
        return self._sign(bytes(signing_input))

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``signing_input``; never raises."""
        if not isinstance(signing_input, bytes) or not isinstance(signature, bytes):
            return False
        return self._verify(signing_input, signature)

    # --- resolver protocol used by tokenward.jose --- #

    def _lookup(self, kid: str | None) -> Key:
        if kid is None or kid == self.kid:
            return self
        raise UnknownKey(kid=kid)

    def __repr__(self) -> str:
        kind = "private" if self.is_private else "public"
        return f"<Key kid={self.kid!r} alg={self.alg} {kind}>"

    def __copy__(self) -> Key:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Key:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("Key objects are not picklable; export with to_jwk(private=True)")
