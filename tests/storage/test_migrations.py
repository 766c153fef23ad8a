"""Packaged Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tokenward.storage.sql import (
    SqlStore,
    create_engine,
    current_revision,
    database_is_current,
    head_revision,
    metadata,
    upgrade_database,
)
from tokenward.storage.sql.migrate import alembic_config

from .conftest import SQL_BACKENDS
from .records import make_refresh

pytestmark = pytest.mark.parametrize("backend", SQL_BACKENDS)

_T = TypeVar("_T")


async def _inspect(url: str, schema: str | None, fn: Callable[[sa.Connection], _T]) -> _T:
    """Run ``fn`` on a connection of a throwaway engine (disposed before returning)."""
    engine = create_engine(url, schema=schema)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


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
    assert await _inspect(url, schema, _diff) == []
    tables = await _inspect(url, schema, lambda c: set(sa.inspect(c).get_table_names()))
    assert tables == {*metadata.tables, "alembic_version"}


def _partial_indexes(connection: sa.Connection) -> dict[str, tuple[bool, str]]:
    found = {}
    for index in sa.inspect(connection).get_indexes("signing_keys"):
        where = {k: v for k, v in index["dialect_options"].items() if k.endswith("_where")}
        if where:
            (predicate,) = where.values()
            found[index["name"]] = (bool(index["unique"]), str(predicate))
    return found


async def test_one_active_signing_key_index_is_partial(empty_db: tuple[str, str | None]) -> None:
    # compare_metadata ignores an index's WHERE clause, so check the migrated predicate here
    url, schema = empty_db
    await upgrade_database(url, schema=schema)
    found = await _inspect(url, schema, _partial_indexes)
    assert list(found) == ["uq_signing_keys_one_active"]
    unique, predicate = found["uq_signing_keys_one_active"]
    assert unique
    assert "state" in predicate
    assert "'active'" in predicate


async def test_upgrade_is_idempotent(empty_db: tuple[str, str | None]) -> None:
    url, schema = empty_db
    await upgrade_database(url, schema=schema)
    await upgrade_database(url, schema=schema)
    assert await database_is_current(url, schema=schema)


async def test_empty_database_differs_from_models(empty_db: tuple[str, str | None]) -> None:
    # the comparison above can fail: an unmigrated database is reported as different
    url, schema = empty_db
    diff = await _inspect(url, schema, _diff)
    added = {entry[1].name for entry in diff if entry[0] == "add_table"}
    assert added == set(metadata.tables)


async def test_0003_adds_grace_child_to_existing_tokens(empty_db: tuple[str, str | None]) -> None:
    # a database at 0002 with a token in it upgrades in place; downgrade drops the column
    url, schema = empty_db
    await upgrade_database(url, schema=schema, revision="0002_one_active_signing_key")
    old = make_refresh()
    engine = create_engine(url, schema=schema)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO refresh_families (id, user_id, created_at, expires_at)"
                    " VALUES (:f, :u, :c, :e)"
                ),
                {
                    "f": old.family_id,
                    "u": old.user_id,
                    "c": old.created_at,
                    "e": old.family_expires_at,
                },
            )
            values = {c: getattr(old, c) for c in _COLUMNS_0002}
            await conn.execute(
                sa.text(
                    f"INSERT INTO refresh_tokens ({', '.join(values)})"
                    f" VALUES ({', '.join(':' + c for c in values)})"
                ),
                values,
            )
    finally:
        await engine.dispose()
    await upgrade_database(url, schema=schema)
    assert await database_is_current(url, schema=schema)
    engine = create_engine(url, schema=schema)
    try:
        assert await SqlStore(engine).get_refresh(old.id) == old  # grace_child NULL
    finally:
        await engine.dispose()
    await _run_alembic(url, schema, "downgrade", "0002_one_active_signing_key")
    columns = await _inspect(
        url, schema, lambda c: {col["name"] for col in sa.inspect(c).get_columns("refresh_tokens")}
    )
    assert columns == set(_COLUMNS_0002)


_COLUMNS_0002 = (
    "id",
    "family_id",
    "parent_id",
    "user_id",
    "digest",
    "created_at",
    "expires_at",
    "family_expires_at",
    "used_at",
    "replaced_by",
    "revoked_at",
    "revoked_reason",
    "user_agent",
    "ip",
)


async def _run_alembic(url: str, schema: str | None, name: str, revision: str) -> None:
    def run(connection: sa.Connection) -> None:
        getattr(command, name)(alembic_config(connection), revision)

    engine = create_engine(url, schema=schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()
