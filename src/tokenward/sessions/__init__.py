"""Framework-free session services: passwords, refresh tokens, login throttling, AuthService.

Server-side only (needs the ``server`` extra: argon2-cffi, limits, prometheus-client).
"""

from __future__ import annotations

from tokenward.sessions.config import SessionConfig, TokenPair
from tokenward.sessions.passwords import PasswordHasher, normalize_username
from tokenward.sessions.refresh import RefreshTokenCodec
from tokenward.sessions.revocation import revocation_check_for
from tokenward.sessions.service import AuthService, OutcomeRecorder
from tokenward.sessions.throttle import LoginThrottle, ThrottleConfig, ThrottlePolicy

__all__ = [
    # service
    "AuthService",
    "OutcomeRecorder",
    "SessionConfig",
    "TokenPair",
    # building blocks
    "LoginThrottle",
    "PasswordHasher",
    "RefreshTokenCodec",
    "ThrottleConfig",
    "ThrottlePolicy",
    "normalize_username",
    "revocation_check_for",
]
