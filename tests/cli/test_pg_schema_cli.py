"""`database.pg_schema` reaches every CLI command that opens the database itself: `db upgrade`,
`db current` and the `keys` commands (which build their own engine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tokenward.keyring import generate_kek
from tokenward.storage.sql import create_schema, drop_schema, head_revision

from .conftest import Run, ok_json

pytestmark = pytest.mark.services


@pytest.fixture
async def pg_schema(pg_url: str, unique_prefix: str) -> AsyncIterator[str]:
    """An empty PostgreSQL schema of its own, dropped afterwards."""
    await create_schema(pg_url, unique_prefix)
    yield unique_prefix
    await drop_schema(pg_url, unique_prefix)


def _scalar(url: str, sql: str) -> object:
    async def query() -> object:
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)
        try:
            async with engine.connect() as conn:
                return (await conn.exec_driver_sql(sql)).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(query())


def test_db_and_keys_commands_use_the_configured_schema(
    run: Run, pg_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENWARD__DATABASE__URL", pg_url)
    monkeypatch.setenv("TOKENWARD__DATABASE__PG_SCHEMA", pg_schema)
    monkeypatch.setenv("TOKENWARD__KEYS__SOURCE", "sql")
    monkeypatch.setenv("TOKENWARD__KEYS__KEK", generate_kek())

    before = ok_json(run("db", "current", "--dev", "--json"))
    assert before["current"] is None and before["up_to_date"] is False

    upgraded = ok_json(run("db", "upgrade", "--dev", "--json"))
    assert upgraded["revision"] == head_revision()
    # the migration landed in the configured schema (version table and all)
    version = _scalar(pg_url, f'SELECT version_num FROM "{pg_schema}".alembic_version')
    assert version == head_revision()

    current = ok_json(run("db", "current", "--dev", "--json"))
    assert current == {"current": head_revision(), "head": head_revision(), "up_to_date": True}

    listed = ok_json(run("keys", "list", "--dev", "--json"))
    assert sorted(k["state"] for k in listed["keys"]) == ["active", "next"]
    kids = _scalar(
        pg_url, f"SELECT string_agg(kid, ',' ORDER BY kid) FROM \"{pg_schema}\".signing_keys"
    )
    assert kids == ",".join(sorted(k["kid"] for k in listed["keys"]))
