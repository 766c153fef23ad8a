"""Adapters from a :class:`~tokenward.storage.base.RevocationStore` to the validator's hook.

``TokenValidator`` calls ``is_revoked(issuer=, jti=, sid=, sub=, iat=)`` with optional values
(a policy may not require ``jti``/``sub``/``iat``); the stores take plain strings and numbers.
Missing values are mapped so that the check fails *closed*: a token without ``iat`` is treated
as issued at the epoch, hence older than any subject cut-off (RFC 8725 sec. 3.10 spirit:
never let missing data widen acceptance).
"""

from __future__ import annotations

from typing import cast

from tokenward.storage.base import RevocationStore, SyncRevocationStore
from tokenward.validation import RevocationCheck

__all__ = ["StoreRevocationCheck", "SyncStoreRevocationCheck", "revocation_check_for"]


class StoreRevocationCheck:
    """:class:`~tokenward.validation.RevocationCheck` over an async revocation store.

    One call per token: one round trip on Redis or SQL, no I/O on the memory backend.
    """

    __slots__ = ("_store",)

    def __init__(self, store: RevocationStore) -> None:
        self._store = store

    async def is_revoked(
        self, *, issuer: str, jti: str | None, sid: str | None, sub: str | None, iat: float | None
    ) -> bool:
        """True when the token's jti, session or subject cut-off is revoked."""
        return await self._store.is_revoked(
            issuer=issuer, jti=jti or "", sid=sid, sub=sub or "", iat=0.0 if iat is None else iat
        )


class SyncStoreRevocationCheck(StoreRevocationCheck):
    """Adds the synchronous ``is_revoked_now`` for stores that answer without I/O (memory)."""

    __slots__ = ("_sync",)

    def __init__(self, store: SyncRevocationStore) -> None:
        super().__init__(store)
        self._sync = store

    def is_revoked_now(
        self, *, issuer: str, jti: str | None, sid: str | None, sub: str | None, iat: float | None
    ) -> bool:
        """Synchronous twin of :meth:`is_revoked` for ``TokenValidator.validate``."""
        return self._sync.is_revoked_now(
            issuer=issuer, jti=jti or "", sid=sid, sub=sub or "", iat=0.0 if iat is None else iat
        )


def revocation_check_for(store: RevocationStore) -> RevocationCheck:
    """The sync-capable adapter when ``store`` has ``is_revoked_now``, else the async one."""
    if callable(getattr(store, "is_revoked_now", None)):
        return SyncStoreRevocationCheck(cast(SyncRevocationStore, store))
    return StoreRevocationCheck(store)
