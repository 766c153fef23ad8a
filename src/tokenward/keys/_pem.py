"""PEM import and export: PKCS#8 / SPKI, plus the PKCS#1 ``BEGIN RSA ...`` and SEC 1
``BEGIN EC PRIVATE KEY`` forms. Encrypted PEM and every other key type raise ``InvalidKey``."""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tokenward.errors import InvalidKey
from tokenward.keys._jwk import PRIVATE_TYPES, Material, public_material

__all__ = ["material_from_pem", "material_to_pem"]

_SUPPORTED = (
    rsa.RSAPrivateKey,
    rsa.RSAPublicKey,
    ec.EllipticCurvePrivateKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PrivateKey,
    ed25519.Ed25519PublicKey,
)


def material_from_pem(data: bytes | str) -> Material:
    """Load one PEM private or public key (unencrypted)."""
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeError:
            raise InvalidKey("PEM text is not ASCII") from None
    if not isinstance(data, bytes):
        raise InvalidKey("PEM data must be bytes or str")
    loaded: object
    try:
        if b"PRIVATE KEY-----" in data:
            loaded = serialization.load_pem_private_key(data, password=None)
        else:
            loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"cannot load PEM key: {type(exc).__name__}") from None
    if not isinstance(loaded, _SUPPORTED):
        raise InvalidKey("unsupported PEM key type (RSA, EC and Ed25519 only)")
    return loaded


def material_to_pem(material: Material, *, private: bool) -> bytes:
    """PKCS#8 (private, unencrypted) or SubjectPublicKeyInfo PEM."""
    public = public_material(material)
    if isinstance(public, bytes):
        raise InvalidKey("symmetric keys have no PEM form")
    if private:
        if not isinstance(material, PRIVATE_TYPES):
            raise InvalidKey("not a private key")
        return material.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
