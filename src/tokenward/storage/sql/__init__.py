"""SQL backend (SQLAlchemy 2 async): SQLite (aiosqlite) by default, PostgreSQL (asyncpg).

::

    engine = create_engine("sqlite+aiosqlite:///data/tokenward.db")
    await upgrade_database("sqlite+aiosqlite:///data/tokenward.db")
    store = SqlStore(engine)        # UserStore + RefreshStore + RevocationStore
"""

from tokenward.storage.sql.engine import create_engine, create_schema, drop_schema
from tokenward.storage.sql.migrate import (
    current_revision,
    database_is_current,
    head_revision,
    upgrade_database,
)
from tokenward.storage.sql.models import metadata, signing_keys
from tokenward.storage.sql.refresh import SqlRefreshStore
from tokenward.storage.sql.revocations import SqlRevocationStore
from tokenward.storage.sql.store import SqlStore
from tokenward.storage.sql.users import SqlUserStore

__all__ = [
    "SqlRefreshStore",
    "SqlRevocationStore",
    "SqlStore",
    "SqlUserStore",
    "create_engine",
    "create_schema",
    "current_revision",
    "database_is_current",
    "drop_schema",
    "head_revision",
    "metadata",
    "signing_keys",
    "upgrade_database",
]
