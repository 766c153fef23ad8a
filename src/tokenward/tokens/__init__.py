"""Minting access tokens."""

from __future__ import annotations

from tokenward.tokens.issuer import RESERVED_CLAIMS, IssuedToken, TokenIssuer

__all__ = ["RESERVED_CLAIMS", "IssuedToken", "TokenIssuer"]
