"""Storage fixtures: one store per backend, each test in its own database / schema / prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tokenward.storage.sql import (
    SqlStore,
    create_engine,
    create_schema,
    drop_schema,
    upgrade_database,
)

SQL_BACKENDS = ["sqlite", "postgres"]
ALL_BACKENDS = ["memory", *SQL_BACKENDS]

#: ``make_store(rotate_hook=None)`` -> a store of the test's backend (tests/conftest.py)
StoreFactory = Callable[..., Any]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Backend name; SQL-only tests override it with ``parametrize("backend", SQL_BACKENDS)``."""
    name: str = request.param
    return name


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
