"""``SqlKeyStore``: signing keys in the ``signing_keys`` table, private keys AES-GCM encrypted.

The private JWK never touches the database in clear: ``private_blob`` is
``b"\\x01" || nonce(12) || AES-256-GCM(kek, nonce, private JWK JSON, aad=kid)``. A fresh random
96-bit nonce per encryption (NIST SP 800-38D sec. 8.2.2; safe for far more than the handful of
keys a deployment ever writes); the kid as associated data binds each ciphertext to its row, so
swapping blobs between rows fails authentication. ``public_jwk`` holds the public members only.

Atomicity: :meth:`SqlKeyStore.initialize` and :meth:`SqlKeyStore.rotate` run in one
transaction each. On PostgreSQL they first take a transaction-scoped advisory lock; every
state change is a conditional ``UPDATE ... WHERE state = <expected>`` whose row count is
checked, so of two instances rotating at once exactly one wins and the other changes nothing.
On SQLite the first write takes the database write lock, which serialises them the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tokenward.errors import ConfigurationError, InvalidKey, StorageUnavailable
from tokenward.keyring._model import KeyState, StoredKey, check_insert, check_update
from tokenward.keys import Key
from tokenward.storage.sql.engine import IMMEDIATE
from tokenward.storage.sql.models import signing_keys

__all__ = ["SqlKeyStore", "generate_kek", "parse_kek"]

_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12  # 96-bit nonce: the GCM default (SP 800-38D sec. 5.2.1.1)
#: pg_advisory_xact_lock key: first 8 bytes of SHA-256("tokenward.signing_keys")
_PG_LOCK_KEY = 0x3B6D1C2A5E4F7081
_WRONG_KEK = "cannot decrypt signing keys: wrong key-encryption key?"


def generate_kek() -> str:
    """A new random 256-bit key-encryption key, base64url-encoded (for env or a file)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def parse_kek(text: str | bytes) -> bytes:
    """Decode a KEK given as 64 hex digits or base64/base64url (padding optional).

    :raises ConfigurationError: unless it decodes to exactly 32 bytes
    """
    value = text.decode() if isinstance(text, bytes) else text
    value = value.strip()
    raw: bytes | None = None
    if len(value) == 64:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None:
        try:
            padded = value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4)
            raw = base64.urlsafe_b64decode(padded.encode())
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise ConfigurationError(
            "the key-encryption key must be 32 random bytes, as 64 hex digits or base64"
        )
    return raw


class SqlKeyStore:
    """A :class:`~tokenward.keyring.KeyStore` over SQLAlchemy (PostgreSQL or SQLite).

    :param engine: an async engine whose database has the ``signing_keys`` table
        (``tokenward db upgrade`` creates it)
    :param kek: the 32-byte key-encryption key (see :func:`parse_kek`)
    :raises ConfigurationError: without a 32-byte KEK: the store refuses to hold keys in clear
    """

    def __init__(self, engine: AsyncEngine, kek: bytes) -> None:
        if not isinstance(kek, bytes | bytearray) or len(kek) != 32:
            raise ConfigurationError(
                "the SQL key store needs a 32-byte key-encryption key "
                "(keys.kek or keys.kek_file); it never stores private keys in clear"
            )
        self._engine = engine
        # SQLite: BEGIN IMMEDIATE, so a write transaction holds the write lock from its start
        self._write_engine = engine.execution_options(**{IMMEDIATE: True})
        self._aead = AESGCM(bytes(kek))
        self._cache: dict[str, Key] = {}

    # --- encryption --- #

    def _seal(self, kid: str, key: Key) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(key.to_jwk(private=True), separators=(",", ":")).encode()
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def _open(self, kid: str, alg: str, blob: bytes | None) -> Key:
        cached = self._cache.get(kid)
        if cached is not None:
            return cached
        if blob is None:
            raise ConfigurationError(f"signing key {kid!r} has no private key in the database")
        blob = bytes(blob)
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _BLOB_VERSION:
            raise ConfigurationError(f"signing key {kid!r}: unrecognised encrypted blob")
        nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, kid.encode())
        except InvalidTag:
            raise ConfigurationError(_WRONG_KEK) from None
        try:
            key = Key.from_jwk(json.loads(plaintext), alg=alg)
        except (InvalidKey, ValueError) as exc:
            raise ConfigurationError(f"signing key {kid!r} is not a valid key: {exc}") from None
        self._cache[kid] = key
        return key

    def _row_to_key(self, row: RowMapping) -> StoredKey:
        kid = str(row["kid"])
        alg = str(row["alg"])
        return StoredKey(
            kid=kid,
            alg=alg,
            state=KeyState(row["state"]),
            key=self._open(kid, alg, row["private_blob"]),
            created_at=float(row["created_at"]),
            activated_at=_opt(row["activated_at"]),
            retired_at=_opt(row["retired_at"]),
            retire_after=_opt(row["retire_after"]),
        )

    def _values(self, key: StoredKey) -> dict[str, Any]:
        check_insert(key)
        public = key.key.public().to_jwk()
        return {
            "kid": key.kid,
            "alg": key.alg,
            "public_jwk": json.dumps(public, separators=(",", ":"), sort_keys=True),
            "private_blob": self._seal(key.kid, key.key),
            **key.lifecycle(),
        }

    # --- helpers --- #

    async def _lock(self, conn: AsyncConnection) -> None:
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))

    async def _set(self, conn: AsyncConnection, new: StoredKey, expected: KeyState) -> bool:
        stmt = (
            sa.update(signing_keys)
            .where(signing_keys.c.kid == new.kid, signing_keys.c.state == expected.value)
            .values(**new.lifecycle())
        )
        return (await conn.execute(stmt)).rowcount == 1

    async def _has_active(self, conn: AsyncConnection) -> bool:
        stmt = sa.select(signing_keys.c.kid).where(signing_keys.c.state == KeyState.ACTIVE.value)
        return (await conn.execute(stmt.limit(1))).first() is not None

    # --- KeyStore --- #

    async def list_keys(self) -> Sequence[StoredKey]:
        stmt = sa.select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        async with _errors(), self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [self._row_to_key(row) for row in rows]

    async def get_key(self, kid: str) -> StoredKey | None:
        stmt = sa.select(signing_keys).where(signing_keys.c.kid == kid)
        async with _errors(), self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return None if row is None else self._row_to_key(row)

    async def put_key(self, key: StoredKey) -> None:
        values = self._values(key)
        try:
            async with _errors(), self._write_engine.begin() as conn:
                await self._lock(conn)
                if key.state is KeyState.ACTIVE and await self._has_active(conn):
                    raise InvalidKey("another key is already active")
                await conn.execute(sa.insert(signing_keys).values(**values))
        except IntegrityError:
            raise InvalidKey(f"a key with kid {key.kid!r} already exists") from None

    async def update_state(self, kid: str, *, expected: KeyState, new: StoredKey) -> bool:
        check_update(expected, new)
        async with _errors(), self._write_engine.begin() as conn:
            return await self._set(conn, new, expected)

    async def delete_key(self, kid: str) -> bool:
        async with _errors(), self._write_engine.begin() as conn:
            result = await conn.execute(sa.delete(signing_keys).where(signing_keys.c.kid == kid))
        self._cache.pop(kid, None)
        return result.rowcount == 1

    async def initialize(self, active: StoredKey, next_key: StoredKey) -> bool:
        first, second = self._values(active), self._values(next_key)
        columns = list(first)
        # INSERT ... SELECT ... WHERE NOT EXISTS (active): one statement, so on SQLite the
        # check and the write happen under the same write lock.
        source = sa.select(
            *(sa.literal(first[c], signing_keys.c[c].type).label(c) for c in columns)
        ).where(~sa.exists().where(signing_keys.c.state == KeyState.ACTIVE.value))
        try:
            async with _errors(), self._write_engine.begin() as conn:
                await self._lock(conn)
                inserted = await conn.execute(sa.insert(signing_keys).from_select(columns, source))
                if inserted.rowcount != 1:
                    return False
                await conn.execute(sa.insert(signing_keys).values(**second))
        except IntegrityError:
            return False  # a concurrent initializer won (unique kid or one-active index)
        return True

    async def rotate(self, *, active: StoredKey, next_key: StoredKey, new_next: StoredKey) -> bool:
        values = self._values(new_next)
        async with _errors(), self._write_engine.connect() as conn:
            async with conn.begin() as tx:
                await self._lock(conn)
                # Retire first (a one-active unique index never sees two), then promote. The
                # conditional UPDATE takes the row lock, so a concurrent rotation blocks here
                # and then finds state != 'active' (rowcount 0) and changes nothing.
                if not await self._set(conn, active, KeyState.ACTIVE):
                    await tx.rollback()
                    return False
                if not await self._set(conn, next_key, KeyState.NEXT):
                    await tx.rollback()
                    return False
                await conn.execute(sa.insert(signing_keys).values(**values))
        return True


class _errors:
    """Map every database failure to ``StorageUnavailable`` (one clear line, no SQL text).

    Covers driver errors (``DBAPIError``), pool exhaustion (``sqlalchemy.exc.TimeoutError``),
    any other ``SQLAlchemyError`` and socket-level ``OSError``. ``IntegrityError`` passes
    through: the callers turn it into a lost race or a duplicate kid.
    """

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if exc is None or isinstance(exc, IntegrityError):
            return
        if isinstance(exc, SQLAlchemyError | OSError):
            raise StorageUnavailable(
                f"key store database unavailable: {type(exc).__name__}"
            ) from None


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
