"""Token validation: policy, validator, principal and the hooks it calls."""

from __future__ import annotations

from tokenward.validation.policy import KNOWN_ALGORITHMS, ValidationPolicy
from tokenward.validation.principal import Principal
from tokenward.validation.protocols import (
    AsyncKeySource,
    KeySource,
    RevocationCheck,
    SyncRevocationCheck,
)
from tokenward.validation.validator import DEFAULT_CACHE_SIZE, TokenValidator

__all__ = [
    # configuration
    "DEFAULT_CACHE_SIZE",
    "KNOWN_ALGORITHMS",
    "ValidationPolicy",
    # validation
    "Principal",
    "TokenValidator",
    # hooks
    "AsyncKeySource",
    "KeySource",
    "RevocationCheck",
    "SyncRevocationCheck",
]
