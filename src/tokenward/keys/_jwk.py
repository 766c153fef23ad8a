"""JWK (RFC 7517) member parsing and export for the key types tokenward signs with.

Only the four ``kty`` values of RFC 7518 sec. 6 / RFC 8037 sec. 2 that carry a JWS
algorithm are understood: ``oct``, ``RSA``, ``EC`` (P-256/P-384/P-521) and ``OKP``
(Ed25519 only). Everything else raises ``InvalidKey``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tokenward.errors import InvalidKey
from tokenward.jose._b64 import b64url_decode, b64url_encode

__all__ = [
    "CRV_BY_CURVE",
    "CURVES",
    "Material",
    "PRIVATE_MEMBERS",
    "PRIVATE_TYPES",
    "material_from_jwk",
    "private_members",
    "public_material",
    "public_members",
]

#: JWK ``crv`` -> cryptography curve class (RFC 7518 sec. 6.2.1.1)
CURVES: Mapping[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
CRV_BY_CURVE: Mapping[str, str] = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

#: members that are secret and never leave ``to_jwk()`` unless ``private=True`` (RFC 7517 sec. 9.2)
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

Material = (
    bytes
    | rsa.RSAPrivateKey
    | rsa.RSAPublicKey
    | ec.EllipticCurvePrivateKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PrivateKey
    | ed25519.Ed25519PublicKey
)
#: the asymmetric private key types (each has ``public_key()``)
PRIVATE_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidKey(f"JWK member {name!r} missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise InvalidKey(f"JWK member {name!r} is not canonical base64url") from None


def _uint(jwk: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_member(jwk, name), "big")


def _fixed(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    # EC coordinates and private scalars are full-size octet strings (RFC 7518 sec. 6.2.1.2)
    raw = _member(jwk, name)
    if len(raw) != size:
        raise InvalidKey(f"JWK member {name!r} must be {size} bytes")
    return raw


def _rsa(jwk: Mapping[str, Any]) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
    if "oth" in jwk:
        raise InvalidKey("multi-prime RSA keys (oth) are not supported")
    public = rsa.RSAPublicNumbers(_uint(jwk, "e"), _uint(jwk, "n"))
    if "d" not in jwk:
        return public.public_key()
    d = _uint(jwk, "d")
    if all(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
        p, q = _uint(jwk, "p"), _uint(jwk, "q")
        dmp1, dmq1, iqmp = _uint(jwk, "dp"), _uint(jwk, "dq"), _uint(jwk, "qi")
    elif any(name in jwk for name in ("p", "q", "dp", "dq", "qi")):
        raise InvalidKey("RSA private JWK has an incomplete set of CRT members")
    else:  # RFC 7518 sec. 6.3.2: the CRT members may be absent; recover them
        p, q = rsa.rsa_recover_prime_factors(public.n, public.e, d)
        dmp1, dmq1, iqmp = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, public).private_key()


def _ec(jwk: Mapping[str, Any]) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
    crv = jwk.get("crv")
    if not isinstance(crv, str) or crv not in CURVES:
        raise InvalidKey("EC JWK crv must be P-256, P-384 or P-521")
    curve = CURVES[crv]()
    size = (curve.key_size + 7) // 8
    x = int.from_bytes(_fixed(jwk, "x", size), "big")
    y = int.from_bytes(_fixed(jwk, "y", size), "big")
    # cryptography checks that (x, y) is a point on the named curve (RFC 8725 sec. 3.4, A16)
    public = ec.EllipticCurvePublicNumbers(x, y, curve)
    if "d" not in jwk:
        return public.public_key()
    d = int.from_bytes(_fixed(jwk, "d", size), "big")
    private = ec.EllipticCurvePrivateNumbers(d, public).private_key()
    if private.public_key().public_numbers() != public:
        raise InvalidKey("EC private key does not match its public point")
    return private


def _okp(jwk: Mapping[str, Any]) -> ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey:
    # Ed25519 only; X25519 is a key-agreement curve and Ed448 is not supported (RFC 8037)
    if jwk.get("crv") != "Ed25519":
        raise InvalidKey("OKP JWK crv must be Ed25519")
    x = _fixed(jwk, "x", 32)
    public = ed25519.Ed25519PublicKey.from_public_bytes(x)
    if "d" not in jwk:
        return public
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_fixed(jwk, "d", 32))
    if private.public_key() != public:
        raise InvalidKey("Ed25519 private key does not match its public key")
    return private


def material_from_jwk(jwk: Mapping[str, Any]) -> Material:
    """Turn the key members of a JWK into key material; ``InvalidKey`` on anything wrong."""
    kty = jwk.get("kty")
    try:
        if kty == "oct":
            return _member(jwk, "k")
        if kty == "RSA":
            return _rsa(jwk)
        if kty == "EC":
            return _ec(jwk)
        if kty == "OKP":
            return _okp(jwk)
    except InvalidKey:
        raise
    except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
        raise InvalidKey(f"invalid {kty} key: {type(exc).__name__}") from None
    raise InvalidKey("unsupported kty")


def _uint_b64(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def public_material(
    material: Material,
) -> bytes | rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey:
    """The public key of a private key; public keys and HMAC secrets as they are."""
    return material.public_key() if isinstance(material, PRIVATE_TYPES) else material


def public_members(material: Material) -> dict[str, str]:
    """The public members of the key, in RFC 7638 order (including ``kty``)."""
    pub = public_material(material)
    if isinstance(pub, bytes):
        return {"k": b64url_encode(pub), "kty": "oct"}
    if isinstance(pub, rsa.RSAPublicKey):
        numbers = pub.public_numbers()
        return {"e": _uint_b64(numbers.e), "kty": "RSA", "n": _uint_b64(numbers.n)}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        point = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        return {
            "crv": CRV_BY_CURVE[pub.curve.name],
            "kty": "EC",
            "x": b64url_encode(point.x.to_bytes(size, "big")),
            "y": b64url_encode(point.y.to_bytes(size, "big")),
        }
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(pub.public_bytes_raw())}


def private_members(material: Material) -> dict[str, str]:
    """The private members (``d``, CRT values) of a private key; empty for public keys."""
    if isinstance(material, rsa.RSAPrivateKey):
        n = material.private_numbers()
        values = {"d": n.d, "p": n.p, "q": n.q, "dp": n.dmp1, "dq": n.dmq1, "qi": n.iqmp}
        return {name: _uint_b64(value) for name, value in values.items()}
    if isinstance(material, ec.EllipticCurvePrivateKey):
        size = (material.curve.key_size + 7) // 8
        d = material.private_numbers().private_value
        return {"d": b64url_encode(d.to_bytes(size, "big"))}
    if isinstance(material, ed25519.Ed25519PrivateKey):
        return {"d": b64url_encode(material.private_bytes_raw())}
    return {}
