"""Strict JOSE: compact JWS signing and verification (RFC 7515, 7518, 8037).

Public facade: :mod:`tokenward.jose.jws` (re-exported as ``tokenward.jws``).

``decode_jwt(token, keys, *, algorithms=None, max_bytes=8192, copy_header=True,
require_kid=False) -> (header, claims, key)`` is the fast path for the validator: the same
checks as ``jws.verify`` (security profile rules 1-10) plus a strict JSON-object parse of the
payload, in one pass. ``claims`` is a fresh dict owned by the caller; so is ``header`` unless
``copy_header=False``, which returns the dict shared through the header cache (the caller
must never mutate it). ``keys`` is a ``Key`` or ``KeySet`` (anything with the ``KeyResolver``
shape); ``require_kid=True`` (the validator) refuses a token without ``kid`` even for a
single key. Parsed headers are cached per key / key set, keyed by the exact header segment,
so a new ``KeySet`` starts with an empty cache.
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
