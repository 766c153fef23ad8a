"""Schema migrations: Alembic driven programmatically (``tokenward db upgrade``, start-up).

The migration scripts ship inside the package (``tokenward/storage/sql/migrations``), so an
installed wheel can upgrade its own database without an ``alembic.ini``.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from tokenward.storage.sql._conn import unavailable_on_error
from tokenward.storage.sql.engine import create_engine

__all__ = [
    "alembic_config",
    "current_revision",
    "database_is_current",
    "head_revision",
    "upgrade_database",
]

SCRIPT_LOCATION = "tokenward.storage.sql:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the packaged scripts (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this version of tokenward."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade_database(
    url: str | URL, *, schema: str | None = None, revision: str = "head"
) -> None:
    """Run ``alembic upgrade <revision>`` on the database at ``url`` (in a worker greenlet).

    :param schema: PostgreSQL schema to migrate (must exist; see ``create_schema``).
    """

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    engine = create_engine(url, schema=schema)
    try:
        async with unavailable_on_error(), engine.begin() as conn:
            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()


async def current_revision(url: str | URL, *, schema: str | None = None) -> str | None:
    """The revision the database is at; ``None`` for an empty (never migrated) database."""

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_engine(url, schema=schema)
    try:
        async with unavailable_on_error(), engine.connect() as conn:
            return await conn.run_sync(current)
    finally:
        await engine.dispose()


async def database_is_current(url: str | URL, *, schema: str | None = None) -> bool:
    """True when the database is at the head revision (the service refuses to start if not)."""
    return await current_revision(url, schema=schema) == head_revision()
