"""Storage Protocols and backends (memory, SQL via SQLAlchemy, Redis).

Only the Protocols, records and the dependency-free ``MemoryStore`` are imported here; the
SQL backend lives in ``tokenward.storage.sql`` and the Redis cache in
``tokenward.storage.redis`` (they need the ``server`` extra).
"""

from tokenward.storage.base import (
    FamilyRecord,
    RefreshContext,
    RefreshRecord,
    RefreshStore,
    RevocationDump,
    RevocationSource,
    RevocationStore,
    RotateHook,
    RotateOutcome,
    SyncRevocationStore,
    UserRecord,
    UserStore,
)
from tokenward.storage.memory import MemoryStore

__all__ = [
    "FamilyRecord",
    "MemoryStore",
    "RefreshContext",
    "RefreshRecord",
    "RefreshStore",
    "RevocationDump",
    "RevocationSource",
    "RevocationStore",
    "RotateHook",
    "RotateOutcome",
    "SyncRevocationStore",
    "UserRecord",
    "UserStore",
]
