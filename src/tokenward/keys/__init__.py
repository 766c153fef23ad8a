"""Keys and key sets: JWK / PEM import and export, generation, RFC 7638 thumbprints."""

from __future__ import annotations

from tokenward.keys._key import MAX_KID_LENGTH, Key
from tokenward.keys.keyset import KeySet

__all__ = ["MAX_KID_LENGTH", "Key", "KeySet"]
