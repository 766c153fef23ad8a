"""Storage Protocols and backends (memory, SQL via SQLAlchemy, Redis)."""

from tokenward.storage.base import (
    RefreshRecord,
    RefreshStore,
    RevocationStore,
    RotateOutcome,
    UserRecord,
    UserStore,
)

__all__ = [
    "RefreshRecord",
    "RefreshStore",
    "RevocationStore",
    "RotateOutcome",
    "UserRecord",
    "UserStore",
]
