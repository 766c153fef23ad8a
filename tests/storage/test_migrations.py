"""Packaged Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tokenward.storage.sql import (
    create_engine,
    current_revision,
    database_is_current,
    head_revision,
    metadata,
    upgrade_database,
)

from .conftest import SQL_BACKENDS

pytestmark = pytest.mark.parametrize("backend", SQL_BACKENDS)


def _diff(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_head_matches_models(empty_db: tuple[str, str | None]) -> None:
    url, schema = empty_db
    assert await current_revision(url, schema=schema) is None
    assert not await database_is_current(url, schema=schema)
    await upgrade_database(url, schema=schema)
    assert await current_revision(url, schema=schema) == head_revision()
    assert await database_is_current(url, schema=schema)
    engine = create_engine(url, schema=schema)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tables == {*metadata.tables, "alembic_version"}


async def test_upgrade_is_idempotent(empty_db: tuple[str, str | None]) -> None:
    url, schema = empty_db
    await upgrade_database(url, schema=schema)
    await upgrade_database(url, schema=schema)
    assert await database_is_current(url, schema=schema)


async def test_empty_database_differs_from_models(empty_db: tuple[str, str | None]) -> None:
    # the comparison above can fail: an unmigrated database is reported as different
    url, schema = empty_db
    engine = create_engine(url, schema=schema)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    added = {entry[1].name for entry in diff if entry[0] == "add_table"}
    assert added == set(metadata.tables)
