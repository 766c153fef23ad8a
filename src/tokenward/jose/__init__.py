"""Strict JOSE: compact JWS signing and verification (RFC 7515, 7518, 8037).

Public facade: :mod:`tokenward.jose.jws` (re-exported as ``tokenward.jws``).
``decode_jwt`` is the fast path for the validator: verify and strict JSON claims parse in one
pass, returning ``(header, claims, key)``.
"""

from __future__ import annotations

from tokenward.jose import jws
from tokenward.jose._algs import ALGORITHMS
from tokenward.jose._compact import DEFAULT_MAX_BYTES, FORBIDDEN_HEADERS, KeyResolver, decode_jwt
from tokenward.jose.jws import Verified

__all__ = [
    # modules
    "jws",
    # types
    "KeyResolver",
    "Verified",
    # functions
    "decode_jwt",
    # constants
    "ALGORITHMS",
    "DEFAULT_MAX_BYTES",
    "FORBIDDEN_HEADERS",
]
