"""Key-store fixtures: the same contract runs over files, SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tokenward.keyring import FileKeyStore, KeyStore, SqlKeyStore
from tokenward.storage.sql import create_engine, create_schema, drop_schema, metadata

KEK = bytes(range(32))


async def make_engine(url: str, schema: str | None) -> AsyncEngine:
    """An engine on a fresh database (or PostgreSQL schema) with every table created."""
    if schema is not None:
        await create_schema(url, schema)
    engine = create_engine(url, schema=schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await make_engine(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}", None)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pg_engine(pg_url: str, unique_prefix: str) -> AsyncIterator[AsyncEngine]:
    engine = await make_engine(pg_url, unique_prefix)
    yield engine
    await engine.dispose()
    await drop_schema(pg_url, unique_prefix)


@pytest.fixture(params=["file", "sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], KeyStore]:
    """A zero-argument callable returning a new store over the SAME backing data, so a test
    can play two processes."""
    kind = request.param
    if kind == "file":
        directory = tmp_path / "keys"
        return lambda: FileKeyStore(directory)
    engine = sql_engine_for(request, kind)
    return lambda: SqlKeyStore(engine, KEK)


def sql_engine_for(request: pytest.FixtureRequest, kind: str) -> AsyncEngine:
    """The ``sqlite_engine`` or ``pg_engine`` fixture, chosen by a parameter."""
    engine: AsyncEngine = request.getfixturevalue(
        "sqlite_engine" if kind == "sqlite" else "pg_engine"
    )
    return engine


@pytest.fixture
def store(store_factory: Callable[[], KeyStore]) -> KeyStore:
    return store_factory()


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
