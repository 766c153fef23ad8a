"""Hooks the validator calls: revocation checks and key sources (typed Protocols)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tokenward.keys import KeySet

__all__ = ["AsyncKeySource", "KeySource", "RevocationCheck", "SyncRevocationCheck"]


@runtime_checkable
class RevocationCheck(Protocol):
    """Answers "is this token revoked?" by identity, never by token bytes.

    Revocation is keyed by ``(issuer, jti)`` and by session (``sid``) or subject cut-offs
    (``sub`` + ``iat``), because ECDSA signatures are malleable and the same claims can
    travel in several byte strings (profile rule 12, OWASP JWT Cheat Sheet "JWT denylist").
    """

    async def is_revoked(
        self, *, issuer: str, jti: str | None, sid: str | None, sub: str | None, iat: float | None
    ) -> bool:
        """Return True when the token must be refused."""
        ...  # pragma: no cover


@runtime_checkable
class SyncRevocationCheck(RevocationCheck, Protocol):
    """A revocation check that can also answer without awaiting (e.g. in-memory)."""

    def is_revoked_now(
        self, *, issuer: str, jti: str | None, sid: str | None, sub: str | None, iat: float | None
    ) -> bool:
        """Synchronous twin of :meth:`RevocationCheck.is_revoked`."""
        ...  # pragma: no cover


@runtime_checkable
class KeySource(Protocol):
    """Something whose key set can change (a key manager, a remote JWKS)."""

    def current_keys(self) -> KeySet:
        """The keys to verify with now. Returns the same object until the set changes."""
        ...  # pragma: no cover


@runtime_checkable
class AsyncKeySource(KeySource, Protocol):
    """A key source that can fetch (``RemoteKeySet``); used by ``avalidate``."""

    async def aget_keys(self) -> KeySet:
        """Current keys, fetching first when never loaded or when a scheduled refresh is due."""
        ...  # pragma: no cover

    async def refresh_for_unknown_kid(self) -> bool:
        """Re-fetch once because a token named an unknown ``kid``, unless a cooldown is
        running. Return True when the key set changed. Never uses anything from the token.
        """
        ...  # pragma: no cover
