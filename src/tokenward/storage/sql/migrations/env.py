"""Alembic environment of tokenward's SQL backend.

Run through :func:`tokenward.storage.sql.upgrade_database` (which passes an open
connection in ``config.attributes["connection"]``), or with the ``alembic`` command and
``sqlalchemy.url`` set in the config (``-x`` is not used).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from tokenward.storage.sql.engine import create_engine, normalise_url
from tokenward.storage.sql.models import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    connection = config.attributes.get("connection")
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=normalise_url(url or "sqlite://").render_as_string(hide_password=False),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    elif connection is not None:
        _run(connection)
    elif url:
        asyncio.run(_run_with_url(url))
    else:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")


main()
