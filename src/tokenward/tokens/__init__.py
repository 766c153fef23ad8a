"""Minting access tokens."""

from __future__ import annotations

from tokenward.tokens.issuer import (
    RESERVED_CLAIMS,
    ActiveKeySource,
    IssuedToken,
    TokenIssuer,
    issuer_factory,
)

__all__ = ["RESERVED_CLAIMS", "ActiveKeySource", "IssuedToken", "TokenIssuer", "issuer_factory"]
