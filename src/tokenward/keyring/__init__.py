"""Signing-key lifecycle: states next/active/retired, file and SQL stores, ``KeyManager``.

::

    store = FileKeyStore(".tokenward/keys")            # or SqlKeyStore(engine, kek)
    keys = KeyManager(store, alg="RS256", retire_after=15 * 60 + 30)
    await keys.load()                                   # creates active + next if empty
    validator = TokenValidator(keys, policy)            # keys is a KeySource
    issuer = keys.issuer_factory(issuer=..., audience=..., lifetime=900)
    await keys.rotate()                                 # next -> active -> retired
    await keys.poll()                                   # converge with other instances

``SqlKeyStore`` needs SQLAlchemy (the ``server`` extra); it is imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenward.keyring._model import KeyState, KeyStore, StoredKey
from tokenward.keyring.file import FileKeyStore
from tokenward.keyring.manager import KeyManager

if TYPE_CHECKING:
    from tokenward.keyring.sql import SqlKeyStore, generate_kek, parse_kek

__all__ = [
    "FileKeyStore",
    "KeyManager",
    "KeyState",
    "KeyStore",
    "SqlKeyStore",
    "StoredKey",
    "generate_kek",
    "parse_kek",
]

_LAZY = {"SqlKeyStore", "generate_kek", "parse_kek"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tokenward.keyring import sql

        return getattr(sql, name)
    raise AttributeError(f"module 'tokenward.keyring' has no attribute {name!r}")
