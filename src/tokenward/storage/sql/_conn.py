"""Connection helpers shared by the SQL repositories (private)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tokenward.errors import StorageUnavailable
from tokenward.storage.sql.engine import IMMEDIATE, is_sqlite

__all__ = ["SqlBase", "greatest", "storable", "unavailable_on_error"]

#: errors meaning "the database cannot be reached or used right now"
_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    OSError,
    TimeoutError,
)


@asynccontextmanager
async def unavailable_on_error() -> AsyncIterator[None]:
    """Turn connection-level failures into ``StorageUnavailable`` (never a driver error)."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise StorageUnavailable() from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated or _not_a_database(exc):
            raise StorageUnavailable() from exc
        raise


#: SQLite primary result code "file is not a database" (https://sqlite.org/rescode.html#notadb)
_SQLITE_NOTADB = 26


def _not_a_database(exc: sa.exc.DBAPIError) -> bool:
    """The SQLite file exists but is not a database (wrong path, foreign or encrypted file):
    the store cannot be used, like an unopenable file. Other errors stay as they are."""
    return getattr(exc.orig, "sqlite_errorcode", None) == _SQLITE_NOTADB


def storable(*values: str | None) -> bool:
    """False for strings no database text column can hold (NUL, lone surrogates).

    Such values can come from attacker-controlled input (a login form, a token claim); they
    cannot be stored, so a look-up for them finds nothing and must not reach the driver,
    which would raise a driver error instead of a ``TokenwardError``.
    """
    for value in values:
        if value is None:
            continue
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def greatest(a: Any, b: Any) -> sa.ColumnElement[Any]:
    """Portable ``GREATEST(a, b)`` for upserts (a later expiry or cut-off always wins)."""
    return sa.case((a > b, a), else_=b)


class SqlBase:
    """Holds the engine and opens connections with the right transaction semantics."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = is_sqlite(engine)
        # PostgreSQL: single statements run in autocommit, so a look-up or an atomic
        # CTE costs exactly one round trip (no BEGIN/COMMIT). SQLite is in-process.
        self._single_engine = (
            engine if self._sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # SQLite: BEGIN IMMEDIATE takes the write lock before the first read
        self._write_engine = engine.execution_options(**{IMMEDIATE: True})

    @property
    def engine(self) -> AsyncEngine:
        """The ``AsyncEngine`` this store runs on."""
        return self._engine

    @asynccontextmanager
    async def _single(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one statement that is its own transaction."""
        async with unavailable_on_error(), self._single_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        """A multi-statement write transaction (READ COMMITTED / BEGIN IMMEDIATE)."""
        async with unavailable_on_error(), self._write_engine.begin() as conn:
            yield conn

    def _insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """Dialect ``INSERT`` with ``ON CONFLICT`` support (both dialects spell it alike)."""
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)
