"""Framework-free session services: passwords, refresh tokens, login throttling, AuthService.

Server-side only (needs the ``server`` extra: argon2-cffi, limits, prometheus-client).
Import the public names from here::

    from tokenward.sessions import AuthService, LoginThrottle, PasswordHasher, SessionConfig
"""

from __future__ import annotations

from tokenward.sessions.config import MAX_GRACE_PERIOD, SessionConfig, TokenPair
from tokenward.sessions.passwords import PasswordHasher, normalize_username
from tokenward.sessions.refresh import RefreshTokenCodec
from tokenward.sessions.revocation import (
    StoreRevocationCheck,
    SyncStoreRevocationCheck,
    revocation_check_for,
)
from tokenward.sessions.service import AuthService, OutcomeRecorder
from tokenward.sessions.throttle import LoginThrottle, ThrottleConfig, ThrottlePolicy

__all__ = [
    # service
    "AuthService",
    "OutcomeRecorder",
    "SessionConfig",
    "TokenPair",
    "MAX_GRACE_PERIOD",
    # building blocks
    "LoginThrottle",
    "PasswordHasher",
    "RefreshTokenCodec",
    "ThrottleConfig",
    "ThrottlePolicy",
    "normalize_username",
    # revocation hooks for TokenValidator(revocation=...)
    "StoreRevocationCheck",
    "SyncStoreRevocationCheck",
    "revocation_check_for",
]
