"""``SqlStore``: users, refresh tokens and revocations over one ``AsyncEngine``."""

from __future__ import annotations

from tokenward.storage.sql.refresh import SqlRefreshStore
from tokenward.storage.sql.revocations import SqlRevocationStore
from tokenward.storage.sql.users import SqlUserStore

__all__ = ["SqlStore"]


class SqlStore(SqlUserStore, SqlRefreshStore, SqlRevocationStore):
    """UserStore + RefreshStore + RevocationStore (+ RevocationSource) on SQLite or PostgreSQL.

    ``SqlStore(engine, *, rotate_hook=None)``; build the engine with
    :func:`tokenward.storage.sql.create_engine` and migrate it with
    :func:`tokenward.storage.sql.upgrade_database` first. Connection failures raise
    ``StorageUnavailable``.
    """
