"""Engine helpers: URL handling, SQLite pragmas, and unreachable databases."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tokenward.errors import ConfigurationError, StorageUnavailable
from tokenward.storage.sql import SqlStore, create_engine, upgrade_database
from tokenward.storage.sql._conn import unavailable_on_error
from tokenward.storage.sql.engine import normalise_url

from .records import make_user


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_map_to_async_drivers(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        normalise_url(url)


@pytest.mark.parametrize("schema", ["a; DROP TABLE users", "1abc", "x" * 64, ""])
def test_schema_must_be_a_plain_identifier(schema: str) -> None:
    with pytest.raises(ConfigurationError):
        create_engine("postgresql+asyncpg://u@127.0.0.1/db", schema=schema)


def test_schema_is_refused_on_sqlite() -> None:
    with pytest.raises(ConfigurationError):
        create_engine("sqlite:///x.db", schema="tenant")


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as conn:
            values = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert values[0] == "wal"
    assert values[1] == 1
    assert values[2] >= 5000


async def test_sqlite_foreign_keys_are_enforced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.exec_driver_sql(
                    "INSERT INTO refresh_tokens (id, family_id, user_id, digest, created_at,"
                    " expires_at, family_expires_at) VALUES ('t', 'nofamily', 'u', x'00', 0, 1, 1)"
                )
    finally:
        await engine.dispose()


def _aiosqlite_workers() -> set[threading.Thread]:
    """Live aiosqlite worker threads (one per connection). Threads of connections closed
    by earlier tests may still be exiting: compare against a snapshot, not the empty set."""
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/test",
        "sqlite+aiosqlite:////nonexistent-dir/tokenward.db",
    ],
    ids=["postgres-down", "sqlite-unopenable"],
)
async def test_unreachable_database_raises_storage_unavailable(url: str) -> None:
    before = _aiosqlite_workers()
    engine = create_engine(url)
    store = SqlStore(engine)
    try:
        with pytest.raises(StorageUnavailable):
            await store.get_user("x")
        # a failed SQLite open leaves no aiosqlite worker thread behind to call back into
        # this loop after it closes (that crashed the thread: "Event loop is closed")
        assert _aiosqlite_workers() <= before
        with pytest.raises(StorageUnavailable):
            await store.create_user(make_user())
        with pytest.raises(StorageUnavailable):
            await store.is_revoked(issuer="i", jti="j", sid=None, sub="s", iat=0.0)
        assert _aiosqlite_workers() <= before
    finally:
        await engine.dispose()


def test_failed_sqlite_open_never_outlives_its_event_loop() -> None:
    # each attempt runs in its own loop that closes right after the failure: the situation
    # of a test (or `asyncio.run`) ending on a failed connect
    crashes: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: crashes.append(args.exc_value)
    before = _aiosqlite_workers()

    async def attempt() -> None:
        engine = create_engine("sqlite+aiosqlite:////nonexistent-dir/tokenward.db")
        try:
            with pytest.raises(StorageUnavailable):
                await SqlStore(engine).get_user("x")
        finally:
            await engine.dispose()

    try:
        for _ in range(50):
            asyncio.run(attempt())
            assert _aiosqlite_workers() <= before
    finally:
        threading.excepthook = previous
    assert crashes == []


async def test_a_file_that_is_not_a_database_raises_storage_unavailable(tmp_path: Path) -> None:
    # e.g. a data dir pointing at the wrong file: unusable storage, never a driver error,
    # and the foreign file is left exactly as it was
    path = tmp_path / "tokenward.db"
    content = b"not a database, just text " * 64
    path.write_bytes(content)
    url = f"sqlite+aiosqlite:///{path}"
    before = _aiosqlite_workers()
    engine = create_engine(url)
    store = SqlStore(engine)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.get_user("x"),
        lambda: store.create_user(make_user()),
        lambda: store.load_refresh_context("x"),
        lambda: store.is_revoked(issuer="i", jti="j", sid=None, sub="s", iat=0.0),
        lambda: upgrade_database(url),
    ]
    try:
        for call in calls:
            with pytest.raises(StorageUnavailable):
                await call()
    finally:
        await engine.dispose()
    assert path.read_bytes() == content
    # the connections that failed on the foreign file were closed: their worker threads end
    for worker in _aiosqlite_workers() - before:
        await asyncio.to_thread(worker.join, 5.0)
    assert _aiosqlite_workers() <= before


@pytest.mark.parametrize(("code", "mapped"), [(26, True), (11, False), (None, False)])
async def test_only_not_a_database_among_database_errors_is_mapped(
    code: int | None, mapped: bool
) -> None:
    # SQLITE_NOTADB (26) means "unusable storage"; SQLITE_CORRUPT (11) and errors without a
    # SQLite code keep their own type, so real faults are not hidden behind a 503
    orig = sqlite3.DatabaseError("boom")
    if code is not None:
        orig.sqlite_errorcode = code  # type: ignore[attr-defined]
    error = sa.exc.DatabaseError("SELECT 1", None, orig)
    expected: type[Exception] = StorageUnavailable if mapped else sa.exc.DatabaseError
    with pytest.raises(expected):
        async with unavailable_on_error():
            raise error
