"""Engine construction for the SQL backend: SQLite (aiosqlite) or PostgreSQL (asyncpg).

``create_engine`` normalises the URL to an async driver, applies SQLite pragmas and
transaction semantics, and pins PostgreSQL connections to a schema through
``search_path`` when asked (one schema per test, or per tenant).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tokenward.errors import ConfigurationError

__all__ = [
    "IMMEDIATE",
    "create_engine",
    "create_schema",
    "drop_schema",
    "is_sqlite",
    "normalise_url",
]

#: execution option: on SQLite, open the transaction with ``BEGIN IMMEDIATE``
IMMEDIATE = "tokenward_immediate"

_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
)


def normalise_url(url: str | URL) -> URL:
    """Map ``sqlite://`` / ``postgresql://`` (and ``postgres://``) to their async drivers."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError("invalid database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigurationError(f"unsupported database backend {backend!r}")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _check_schema(schema: str) -> str:
    if not _SCHEMA_RE.fullmatch(schema):
        raise ConfigurationError("schema must be a plain SQL identifier")
    return schema


def create_engine(
    url: str | URL,
    *,
    schema: str | None = None,
    pool_size: int = 10,
    max_overflow: int = 20,
    pool_timeout: float = 30.0,
    pool_recycle: float = 1800.0,
    echo: bool = False,
) -> AsyncEngine:
    """Create the ``AsyncEngine`` every SQL component shares.

    :param url: ``sqlite+aiosqlite:///path.db`` (the embedded default) or
        ``postgresql+asyncpg://user@host/db``; plain ``sqlite://`` / ``postgresql://`` work too.
    :param schema: PostgreSQL only: every connection gets ``search_path=<schema>``, so
        tables, Alembic's version table and queries all live in that schema.

    SQLite: WAL, ``foreign_keys=ON``, ``busy_timeout``; the driver's implicit transaction
    handling is replaced by explicit ``BEGIN`` (``BEGIN IMMEDIATE`` for connections with the
    :data:`IMMEDIATE` execution option) so a write transaction takes the write lock up front
    (security profile sec. 4.2). PostgreSQL: no pre-ping (it would add a round trip per
    checkout); connections are recycled and invalidated on disconnect errors instead.
    """
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise ConfigurationError("schema is only supported on PostgreSQL")
        engine = create_async_engine(parsed, async_creator=_aiosqlite_connector(parsed), **kwargs)
        _install_sqlite_events(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": _check_schema(schema)}
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=pool_recycle,
        connect_args=connect_args,
        **kwargs,
    )


def _aiosqlite_connector(url: URL) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """An ``async_creator`` that never leaves an aiosqlite worker thread behind.

    aiosqlite runs each connection on its own worker thread. When opening the database fails
    (missing directory, permissions), it queues the thread's stop and returns without waiting,
    so the thread later calls back into the event loop that made the attempt; if that loop
    has closed by then, the thread dies with "Event loop is closed" (an unhandled thread
    exception, printed at shutdown and an error under pytest). Waiting for the thread on
    failure keeps every callback inside the live loop.
    """
    cargs, cparams = url.get_dialect()().create_connect_args(url)

    async def connect() -> aiosqlite.Connection:
        connection = aiosqlite.connect(*cargs, **cparams)
        worker = connection._thread
        worker.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        try:
            return await connection
        except BaseException:
            if worker.ident is not None:  # started: the open failed or was cancelled
                await asyncio.to_thread(worker.join)
            raise

    return connect


def _install_sqlite_events(engine: AsyncEngine) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control away from the driver: we emit BEGIN ourselves
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def create_schema(url: str | URL, schema: str) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` on PostgreSQL (no-op on SQLite)."""
    await _schema_ddl(url, f'CREATE SCHEMA IF NOT EXISTS "{_check_schema(schema)}"')


async def drop_schema(url: str | URL, schema: str) -> None:
    """``DROP SCHEMA ... CASCADE`` on PostgreSQL (no-op on SQLite)."""
    await _schema_ddl(url, f'DROP SCHEMA IF EXISTS "{_check_schema(schema)}" CASCADE')


async def _schema_ddl(url: str | URL, ddl: str) -> None:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    engine = create_async_engine(parsed, poolclass=sa.pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(ddl)
    finally:
        await engine.dispose()
