"""``ValidationPolicy``: what a token must look like to be accepted.

The counterpart of .NET's ``TokenValidationParameters``. Every field is checked when the
policy is built, so a bad configuration fails at start-up (``ConfigurationError``), never
per request.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from tokenward.errors import ConfigurationError
from tokenward.jose import ALGORITHMS

__all__ = ["KNOWN_ALGORITHMS", "ValidationPolicy"]

#: every JWS algorithm tokenward implements (RFC 7518 sec. 3, RFC 8037); never ``none``
KNOWN_ALGORITHMS: frozenset[str] = frozenset(ALGORITHMS)

#: leeway above this is refused: RFC 7519 sec. 4.1.4 wants "no more than a few minutes"
MAX_LEEWAY = 300.0
#: the largest token cap a policy may configure (the profile suggests 8 KiB)
MAX_TOKEN_BYTES_LIMIT = 65536


def _names(
    value: str | Collection[str], field: str, *, allow_empty: bool = False
) -> tuple[str, ...]:
    """Normalise a string or a collection of strings to a de-duplicated tuple.

    A bare ``str`` is ONE name, never a collection of characters (the PyJWT CVE-2024-53861
    mistake: ``"iss" in "https://issuer"`` is a substring test).
    """
    items = (value,) if isinstance(value, str) else tuple(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise ConfigurationError(f"{field}: every entry must be a non-empty string")
        if item not in out:
            out.append(item)
    if not out and not allow_empty:
        raise ConfigurationError(f"{field}: at least one value is required")
    return tuple(out)


def _seconds(value: object, field: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ConfigurationError(f"{field}: must be a finite number of seconds")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationPolicy:
    """The rules a token must satisfy, beyond a valid signature.

    Collections may be given as a single string or any iterable of strings; they are stored
    as tuples. Example::

        ValidationPolicy(issuers="https://auth.example", audiences="api",
                         algorithms=("ES256",))

    :raises ConfigurationError: when any field is out of range.
    """

    #: accepted ``iss`` values, compared by exact string equality (RFC 7519 sec. 4.1.1)
    issuers: str | Collection[str]
    #: accepted ``aud`` values; the token's ``aud`` (string or array) must contain one of
    #: them exactly. Always required (RFC 8725 sec. 3.9)
    audiences: str | Collection[str]
    #: allow-list of ``alg`` values, matched case-sensitively; ``none`` is not an algorithm
    #: here (RFC 8725 sec. 3.1). The key still decides: each key has exactly one alg.
    algorithms: str | Collection[str]
    #: clock skew tolerated on ``exp``, ``nbf`` and ``iat``, in seconds (0-300)
    leeway: float = 30.0
    #: accepted ``typ`` header values; ``typ`` is required (RFC 9068 sec. 2.1, RFC 8725
    #: sec. 3.11). Compared as media types: case-insensitively, with ``application/``
    #: implied when absent (RFC 7515 sec. 4.1.9, RFC 6838 sec. 4.2)
    token_types: str | Collection[str] = ("at+jwt", "application/at+jwt")
    #: claims that must be present. ``exp`` is mandatory and may not be removed; ``iss`` and
    #: ``aud`` are always required in addition to this list
    required_claims: str | Collection[str] = ("exp", "iat", "jti", "sub")
    #: largest accepted ``exp - iat`` in seconds (``exp - now`` when the token has no ``iat``)
    max_lifetime: float = 86400.0
    #: tokens longer than this many bytes are refused before any decoding (profile rule 1)
    max_token_bytes: int = 8192
    #: claim read by :attr:`Principal.name`; read as is, never renamed or mapped
    name_claim: str = "name"
    #: claim read by :attr:`Principal.roles` (a string or an array of strings)
    role_claim: str = "roles"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "issuers", _names(self.issuers, "issuers"))
        set_(self, "audiences", _names(self.audiences, "audiences"))
        algorithms = _names(self.algorithms, "algorithms")
        unknown = [a for a in algorithms if a not in KNOWN_ALGORITHMS]
        if unknown:
            raise ConfigurationError(f"algorithms: unsupported {unknown!r}")
        set_(self, "algorithms", algorithms)
        leeway = _seconds(self.leeway, "leeway")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway: must be between 0 and {MAX_LEEWAY:g} seconds")
        set_(self, "leeway", leeway)
        set_(self, "token_types", _names(self.token_types, "token_types"))
        required = _names(self.required_claims, "required_claims", allow_empty=True)
        if "exp" not in required:
            # A token without exp never expires (profile E1); not configurable.
            raise ConfigurationError("required_claims: 'exp' cannot be made optional")
        set_(self, "required_claims", required)
        max_lifetime = _seconds(self.max_lifetime, "max_lifetime")
        if max_lifetime <= 0:
            raise ConfigurationError("max_lifetime: must be positive")
        set_(self, "max_lifetime", max_lifetime)
        size = self.max_token_bytes
        if type(size) is not int or not 64 <= size <= MAX_TOKEN_BYTES_LIMIT:
            raise ConfigurationError(
                f"max_token_bytes: must be an int between 64 and {MAX_TOKEN_BYTES_LIMIT}"
            )
        for field in ("name_claim", "role_claim"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{field}: must be a non-empty string")


def normalize_media_type(value: str) -> str:
    """Canonical form of a ``typ`` value: lower case, ``application/`` prefixed if bare.

    RFC 7515 sec. 4.1.9: a ``typ`` without ``/`` is treated as if ``application/`` were
    prepended; RFC 6838 sec. 4.2: type and subtype names are case-insensitive.
    """
    lowered = value.lower()
    return lowered if "/" in lowered else "application/" + lowered
