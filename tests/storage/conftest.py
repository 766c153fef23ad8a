"""Storage fixtures: one store per backend, each test in its own database / schema / prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tokenward.storage.base import RotateHook
from tokenward.storage.memory import MemoryStore
from tokenward.storage.sql import (
    SqlStore,
    create_engine,
    create_schema,
    drop_schema,
    upgrade_database,
)

SQL_BACKENDS = ["sqlite", "postgres"]
ALL_BACKENDS = ["memory", *SQL_BACKENDS]

#: ``make_store(rotate_hook=None)`` -> a store of the test's backend
StoreFactory = Callable[..., Any]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Backend name; SQL-only tests override it with ``parametrize("backend", SQL_BACKENDS)``."""
    name: str = request.param
    return name


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tokenward.db'}"


@pytest.fixture
def db_target(request: pytest.FixtureRequest, backend: str) -> tuple[str, str | None] | None:
    """``(url, schema)`` for a SQL backend (None for memory); the schema is created later."""
    if backend == "sqlite":
        return request.getfixturevalue("sqlite_url"), None
    if backend == "postgres":
        return request.getfixturevalue("pg_url"), request.getfixturevalue("unique_prefix")
    return None


@pytest.fixture
async def empty_db(
    db_target: tuple[str, str | None] | None,
) -> AsyncIterator[tuple[str, str | None] | None]:
    """An empty database (SQLite file / fresh PostgreSQL schema), dropped afterwards."""
    if db_target is None:
        yield None
        return
    url, schema = db_target
    if schema is not None:
        await create_schema(url, schema)
    try:
        yield url, schema
    finally:
        if schema is not None:
            await drop_schema(url, schema)


@pytest.fixture
async def migrated_db(
    empty_db: tuple[str, str | None] | None,
) -> tuple[str, str | None] | None:
    if empty_db is None:
        return None
    url, schema = empty_db
    await upgrade_database(url, schema=schema)
    return url, schema


@pytest.fixture
async def make_store(
    migrated_db: tuple[str, str | None] | None,
) -> AsyncIterator[StoreFactory]:
    """Factory for stores of ``backend`` sharing one database; engines disposed after."""
    if migrated_db is None:

        def build_memory(rotate_hook: RotateHook | None = None) -> Any:
            return MemoryStore(rotate_hook=rotate_hook)

        yield build_memory
        return
    url, schema = migrated_db
    engines: list[Any] = []

    def build_sql(rotate_hook: RotateHook | None = None) -> Any:
        engine = create_engine(url, schema=schema)
        engines.append(engine)
        return SqlStore(engine, rotate_hook=rotate_hook)

    try:
        yield build_sql
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
def store(make_store: StoreFactory) -> Any:
    return make_store()


@asynccontextmanager
async def open_sql_store(url: str, schema: str | None) -> AsyncIterator[SqlStore]:
    """A migrated SqlStore in a fresh schema (PostgreSQL) that is dropped afterwards."""
    if schema is not None:
        await create_schema(url, schema)
    engine = create_engine(url, schema=schema)
    try:
        await upgrade_database(url, schema=schema)
        yield SqlStore(engine)
    finally:
        await engine.dispose()
        if schema is not None:
            await drop_schema(url, schema)
