"""Opaque refresh tokens: ``rt_<selector>.<secret>``.

Security choices (security profile sec. 4.1):

* Opaque, never a JWT, so it cannot be confused with an access token (RFC 8725 sec. 3.11)
  and carries no claims to tamper with.
* ``selector``: 128 random bits, base64url, non-secret; it is the record's primary key so the
  look-up needs no digest index.
* ``secret``: 256 random bits from ``secrets.token_urlsafe(32)``; only its digest is stored:
  SHA-256, or HMAC-SHA-256 keyed with a server-side pepper when one is configured (OWASP
  Password Storage Cheat Sheet "post-hashing pepper": a database dump alone cannot confirm a
  guess). A slow hash is unnecessary for 256-bit random secrets.
* Digests are compared with :func:`hmac.compare_digest` (constant time).
* Parsing is strict: exact length, prefix, one ``.``, base64url alphabet only. Every malformed
  input, of any type, raises :class:`~tokenward.errors.InvalidGrant` (RFC 6749 sec. 5.2).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from tokenward.errors import ConfigurationError, InvalidGrant

__all__ = [
    "REFRESH_TOKEN_LENGTH",
    "ParsedRefreshToken",
    "RefreshTokenCodec",
]

_PREFIX: Final = "rt_"
_SELECTOR_BYTES: Final = 16  # 22 base64url characters
_SECRET_BYTES: Final = 32  # 43 base64url characters; 256 bits
_SELECTOR_CHARS: Final = 22
_SECRET_CHARS: Final = 43
#: exact length of every refresh token this module issues
REFRESH_TOKEN_LENGTH: Final = len(_PREFIX) + _SELECTOR_CHARS + 1 + _SECRET_CHARS
_SHAPE: Final = re.compile(
    r"rt_(?P<selector>[A-Za-z0-9_-]{22})\.(?P<secret>[A-Za-z0-9_-]{43})", re.ASCII
)
_MIN_PEPPER_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class ParsedRefreshToken:
    """A syntactically valid refresh token split into its parts."""

    #: the non-secret look-up key (``RefreshRecord.id``)
    selector: str
    #: the secret part; never logged, never stored
    secret: str

    def __repr__(self) -> str:  # keep the secret out of reprs and tracebacks
        return f"ParsedRefreshToken(selector={self.selector!r}, secret=<redacted>)"


class RefreshTokenCodec:
    """Creates, parses and digests refresh tokens.

    :param pepper: optional server-side key (>= 32 bytes) for HMAC-SHA-256 digests; keep it
        outside the database. Changing it invalidates every outstanding refresh token.
    """

    __slots__ = ("_pepper",)

    def __init__(self, *, pepper: bytes | None = None) -> None:
        if pepper is not None and len(pepper) < _MIN_PEPPER_BYTES:
            raise ConfigurationError("refresh-token pepper must be at least 32 bytes")
        self._pepper = pepper

    @property
    def peppered(self) -> bool:
        """Whether digests are HMAC-SHA-256 (True) or plain SHA-256 (False)."""
        return self._pepper is not None

    def new(self) -> tuple[str, ParsedRefreshToken]:
        """Generate a fresh token; returns ``(token string, parsed parts)``."""
        parsed = ParsedRefreshToken(
            selector=secrets.token_urlsafe(_SELECTOR_BYTES),
            secret=secrets.token_urlsafe(_SECRET_BYTES),
        )
        return f"{_PREFIX}{parsed.selector}.{parsed.secret}", parsed

    @staticmethod
    def parse(token: object) -> ParsedRefreshToken:
        """Split ``token`` strictly; any malformed input raises :class:`InvalidGrant`."""
        if not isinstance(token, str) or len(token) != REFRESH_TOKEN_LENGTH:
            raise InvalidGrant()
        match = _SHAPE.fullmatch(token)
        if match is None:
            raise InvalidGrant()
        return ParsedRefreshToken(selector=match["selector"], secret=match["secret"])

    @staticmethod
    def looks_like_refresh_token(token: object) -> bool:
        """Cheap shape test, e.g. to route an RFC 7009 revocation request."""
        return (
            isinstance(token, str)
            and len(token) == REFRESH_TOKEN_LENGTH
            and _SHAPE.fullmatch(token) is not None
        )

    def digest(self, parsed: ParsedRefreshToken) -> bytes:
        """SHA-256 (or peppered HMAC-SHA-256) of the secret part; 32 bytes."""
        data = parsed.secret.encode("ascii")
        if self._pepper is None:
            return hashlib.sha256(data).digest()
        return hmac.new(self._pepper, data, hashlib.sha256).digest()

    def matches(self, parsed: ParsedRefreshToken, stored_digest: bytes) -> bool:
        """Constant-time comparison of the presented secret against a stored digest."""
        return hmac.compare_digest(self.digest(parsed), bytes(stored_digest))
