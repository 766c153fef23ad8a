"""``SessionConfig`` and ``TokenPair``: the value objects of :class:`AuthService`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenward.errors import ConfigurationError
from tokenward.tokens import IssuedToken

__all__ = ["MAX_GRACE_PERIOD", "SessionConfig", "TokenPair"]

DAY = 86_400.0
#: longest allowed grace window; Ory Hydra caps it at 5 minutes (security profile sec. 4.3)
MAX_GRACE_PERIOD = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """Lifetimes and options of refresh-token sessions. The access-token lifetime lives in
    the ``TokenIssuer``.
    """

    #: idle lifetime of one refresh token (seconds); each rotation starts a new one
    refresh_idle_lifetime: float = 14 * DAY
    #: absolute lifetime of a session family, counted from login (seconds)
    family_lifetime: float = 30 * DAY
    #: seconds after a rotation in which the *immediate parent* may be presented again and
    #: still yields a new token in the same family (lost responses). 0 = off, the default;
    #: a grandparent always counts as reuse (security profile sec. 4.3).
    grace_period: float = 0.0
    #: optional server-side key (>= 32 bytes) for HMAC-SHA-256 refresh digests; keep it
    #: outside the database (OWASP "post-hashing pepper")
    pepper: bytes | None = None
    #: upper bound of any access token's lifetime (seconds); sizes how long session and
    #: subject revocations are kept. Must be >= the issuer's lifetime (default: the
    #: ``ValidationPolicy.max_lifetime`` default).
    access_lifetime_bound: float = DAY
    #: extra time denylist entries are kept beyond ``exp``, covering the validator's leeway
    #: and clock skew (RFC 7519 sec. 4.1.4 "small leeway")
    revocation_margin: float = 300.0
    #: shortest password accepted by ``create_user``/``set_password`` (NIST SP 800-63B
    #: sec. 5.1.1.2 asks for at least 8); login never checks it (generic failure only)
    min_password_length: int = 8
    #: longest stored user agent (characters)
    max_user_agent_length: int = 512

    def __post_init__(self) -> None:
        numbers = (
            self.refresh_idle_lifetime,
            self.family_lifetime,
            self.access_lifetime_bound,
            self.revocation_margin,
            self.grace_period,
        )
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in numbers):
            raise ConfigurationError("session lifetimes must be finite numbers")
        if self.refresh_idle_lifetime <= 0 or self.family_lifetime <= 0:
            raise ConfigurationError("refresh lifetimes must be positive")
        if self.access_lifetime_bound <= 0 or self.revocation_margin < 0:
            raise ConfigurationError("access_lifetime_bound/revocation_margin out of range")
        if not 0 <= self.grace_period <= MAX_GRACE_PERIOD:
            raise ConfigurationError("grace_period must be between 0 and 300 seconds")
        if self.pepper is not None and len(self.pepper) < 32:
            raise ConfigurationError("pepper must be at least 32 bytes")
        if self.min_password_length < 1 or self.max_user_agent_length < 0:
            raise ConfigurationError("min_password_length/max_user_agent_length out of range")

    def __repr__(self) -> str:  # never print the pepper
        return (
            f"SessionConfig(refresh_idle_lifetime={self.refresh_idle_lifetime}, "
            f"family_lifetime={self.family_lifetime}, grace_period={self.grace_period}, "
            f"peppered={self.pepper is not None})"
        )


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What login and refresh return."""

    #: the access token and its facts (jti, iat, exp, kid)
    access: IssuedToken
    #: the opaque refresh token (``rt_<selector>.<secret>``); show it to the client only
    refresh_token: str
    #: idle expiry of ``refresh_token`` (POSIX seconds; never after the family's expiry)
    refresh_expires_at: float
    #: the session (family) id, carried as ``sid`` in access tokens
    session_id: str

    def __repr__(self) -> str:  # keep both tokens out of logs and tracebacks
        return (
            f"TokenPair(jti={self.access.jti!r}, session_id={self.session_id!r}, "
            f"refresh_expires_at={self.refresh_expires_at})"
        )
