"""Keys and key sets: JWK / PEM import and export, generation, RFC 7638 thumbprints.

``RemoteKeySet`` (a JWKS fetched over HTTPS) imports httpx only when it first fetches.
"""

from __future__ import annotations

from tokenward.keys._key import MAX_KID_LENGTH, Key
from tokenward.keys.keyset import KeySet
from tokenward.keys.remote import RemoteKeySet

__all__ = ["MAX_KID_LENGTH", "Key", "KeySet", "RemoteKeySet"]
