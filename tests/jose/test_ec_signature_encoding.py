"""ES* signing turns OpenSSL's DER signature into the fixed-size R||S of RFC 7518 sec. 3.4."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tokenward import Key
from tokenward.jose._algs import der_to_raw

CURVES = {
    "ES256": (ec.SECP256R1(), 32),
    "ES384": (ec.SECP384R1(), 48),
    "ES512": (ec.SECP521R1(), 66),
}
HASHES = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}


def _edge_values(size: int) -> list[int]:
    top = 1 << (8 * size - 1) if size != 66 else 1 << 520  # P-521 values have 521 bits
    return [1, 0x7F, 0x80, 0xFF, 0x100, 1 << (8 * (size - 1)), top - 1, top, 2 * top - 1]


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_der_to_raw_matches_integer_conversion_for_edge_values(alg: str) -> None:
    """Short integers are left-padded and a DER sign byte is dropped, for every size."""
    _, size = CURVES[alg]
    values = _edge_values(size)
    for r in values:
        for s in values:
            der = encode_dss_signature(r, s)
            assert der_to_raw(der, size) == r.to_bytes(size, "big") + s.to_bytes(size, "big")


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_signatures_are_r_and_s_of_the_curve_size(alg: str) -> None:
    """Key.sign gives R||S that verifies, and agrees with cryptography's DER decoder."""
    curve, size = CURVES[alg]
    private = ec.generate_private_key(curve)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key = Key.from_pem(pem, alg=alg)
    algorithm = ec.ECDSA(HASHES[alg]())
    for i in range(64):
        message = b"message %d" % i
        raw = key.sign(message)
        assert len(raw) == 2 * size
        r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
        private.public_key().verify(encode_dss_signature(r, s), message, algorithm)
        der = private.sign(message, algorithm)
        expected = b"".join(v.to_bytes(size, "big") for v in decode_dss_signature(der))
        assert der_to_raw(der, size) == expected
