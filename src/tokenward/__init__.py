"""tokenward: strict, fast JWT authentication for Python.

>>> from tokenward import Key, KeySet, jws, TokenIssuer, TokenValidator, ValidationPolicy

The core (``errors``, ``clock``, ``jose``, ``keys``, ``validation``, ``tokens``) needs only the
standard library and ``cryptography``.
"""

from __future__ import annotations

from tokenward import errors
from tokenward.jose import jws
from tokenward.jose.jws import Verified
from tokenward.keys import Key, KeySet
from tokenward.tokens import IssuedToken, TokenIssuer
from tokenward.validation import Principal, TokenValidator, ValidationPolicy

__version__ = "0.1.0"

__all__ = [
    "IssuedToken",
    "Key",
    "KeySet",
    "Principal",
    "TokenIssuer",
    "TokenValidator",
    "ValidationPolicy",
    "Verified",
    "__version__",
    "errors",
    "jws",
]
