"""Storage Protocols and plain records. Framework-free: no SQLAlchemy or Redis here.

Every backend (memory, SQL, Redis) implements the subset of these Protocols that it can
serve; one contract suite in ``tests/storage`` runs against all of them. Times are POSIX
seconds (floats) from an injected ``Clock``; backends never read the wall clock themselves
except where a method takes ``now`` explicitly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "FamilyRecord",
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

#: Test seam: awaited by ``rotate`` after the old token is consumed and the new one written,
#: before the change is committed (lets tests interleave a concurrent revocation, R3).
RotateHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user account."""

    #: opaque unique id (``uuid4().hex``); becomes the ``sub`` claim
    id: str
    #: username exactly as given at creation
    username: str
    #: normalised form used for uniqueness and look-up (NFKC + casefold)
    username_key: str
    #: Argon2id PHC string
    password_hash: str
    roles: tuple[str, ...] = ()
    #: custom claims copied into access tokens (e.g. ``{"tenant": "contoso"}``)
    claims: Mapping[str, Any] = field(default_factory=dict)
    disabled: bool = False
    #: tokens (access and refresh) issued before this time are invalid; None = no cut-off
    tokens_valid_after: float | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """One refresh token of a session family. Only the digest of its secret is stored."""

    #: the non-secret selector carried in the token; primary key
    id: str
    #: family (session) id; carried as ``sid`` in access tokens
    family_id: str
    parent_id: str | None
    user_id: str
    #: SHA-256 or HMAC-SHA-256 (peppered) of the secret part
    digest: bytes
    created_at: float
    #: idle expiry of this token
    expires_at: float
    #: absolute expiry of the whole family
    family_expires_at: float
    used_at: float | None = None
    replaced_by: str | None = None
    revoked_at: float | None = None
    revoked_reason: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    #: the one sibling minted when this (consumed) token was replayed inside the grace
    #: window (security profile sec. 4.3); set at most once, see ``create_grace_sibling``
    grace_child: str | None = None


@dataclass(frozen=True, slots=True)
class FamilyRecord:
    """A session family: every refresh token descending from one login."""

    #: family (session) id; the ``sid`` of the family's access tokens
    id: str
    user_id: str
    #: creation time of the family's first token
    created_at: float
    #: absolute expiry: no token of the family is usable from then on, so a revocation of
    #: its ``sid`` need not be kept any longer
    expires_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class RefreshContext:
    """Everything a refresh decision needs, read in one statement
    (:meth:`RefreshStore.load_refresh_context`)."""

    #: the presented token's record (used or not, revoked or not)
    record: RefreshRecord
    #: the token's user; ``None`` if the account no longer exists
    user: UserRecord | None
    #: the family's ``sid`` is in the store's session denylist
    session_revoked: bool
    #: the user's subject cut-off in the store's denylist (``issued_before``), if any
    subject_revoked_before: float | None

    @property
    def denylisted(self) -> bool:
        """True when the store's denylist rejects the token's session or subject, with
        :meth:`RevocationStore.is_revoked`'s rules (``iat`` = the token's ``created_at``)."""
        cut = self.subject_revoked_before
        return self.session_revoked or (cut is not None and self.record.created_at < cut)


@dataclass(frozen=True, slots=True)
class RotateOutcome:
    """Result of :meth:`RefreshStore.rotate`."""

    #: True when this call consumed the old token and stored the new one
    rotated: bool
    #: the old record as it was before the call (None if unknown)
    old: RefreshRecord | None


class UserStore(Protocol):
    async def create_user(self, user: UserRecord) -> None:
        """Insert; raises ``UserExists`` when ``username_key`` is taken."""
        ...

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_user_by_username(self, username_key: str) -> UserRecord | None: ...

    async def update_user(self, user: UserRecord) -> None:
        """Replace the stored record with the same id; raises ``UserNotFound``."""
        ...

    async def list_users(self) -> Sequence[UserRecord]: ...


class RefreshStore(Protocol):
    async def create_refresh(self, record: RefreshRecord) -> None: ...

    async def get_refresh(self, token_id: str) -> RefreshRecord | None: ...

    async def load_refresh_context(self, token_id: str) -> RefreshContext | None:
        """The token, its user and the denylist entries for its session and subject, in one
        read (one round trip on SQL); ``None`` for an unknown (or unstorable) id.

        The denylist part is read from this store's own revocation tables, so it answers for
        the revocation store only when that is this store or a cache in front of it.
        """
        ...

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family (with its absolute expiry); ``None`` if unknown or already pruned."""
        ...

    async def rotate(self, old_id: str, new: RefreshRecord, *, now: float) -> RotateOutcome:
        """Atomically consume ``old_id`` and store ``new``.

        The old token is consumed only if it is unused, unrevoked and unexpired at ``now``
        (one conditional UPDATE: of N concurrent calls exactly one wins). ``new`` is stored
        only by the winner, in the same transaction.

        Also refused: the family is revoked or past ``family_expires_at``, or
        ``new.family_id`` differs from the old token's family. A rotation and a concurrent
        ``revoke_family``/``revoke_user_families`` serialise: either the rotation fails or
        its new token is revoked too (security profile sec. 4.2, R3).

        ``RotateOutcome.old``: on success the record before the call; on failure the record
        as stored after the failed attempt (``None`` if unknown), so ``old.used_at`` /
        ``old.replaced_by`` tell reuse from revocation or expiry.
        """
        ...

    async def create_grace_sibling(
        self, parent_id: str, sibling: RefreshRecord, *, now: float
    ) -> bool:
        """Atomically record ``sibling`` as the one grace sibling of ``parent_id`` and store it.

        Succeeds only once per parent: the parent must be consumed (``used_at`` set), not
        revoked, without a ``grace_child`` yet, in ``sibling``'s family, and that family
        live (not revoked, ``now`` before its expiry). Of N concurrent calls at most one
        wins; the others store nothing and return ``False`` (the caller treats the replay as
        reuse). Serialises with ``revoke_family`` like :meth:`rotate` (R3).
        """
        ...

    async def revoke_family(self, family_id: str, *, now: float, reason: str) -> int:
        """Mark every token of the family revoked; returns how many rows changed."""
        ...

    async def revoke_user_families(self, user_id: str, *, now: float, reason: str) -> list[str]:
        """Revoke every family of a user; returns the ids of the families this call revoked
        (families revoked earlier are not listed again)."""
        ...

    async def list_user_refresh(self, user_id: str) -> Sequence[RefreshRecord]: ...

    async def prune_refresh(self, *, now: float) -> int:
        """Delete records whose family has expired; returns the count."""
        ...


class RevocationStore(Protocol):
    """Denylist keyed by identity, never by token bytes (security profile sec. 1 rule 12)."""

    async def revoke_jti(self, issuer: str, jti: str, *, expires_at: float) -> None: ...

    async def revoke_session(self, sid: str, *, expires_at: float) -> None: ...

    async def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float) -> None:
        """Reject every token of ``sub`` with ``iat < issued_before`` (strictly less).

        Re-revoking keeps the later ``issued_before`` and the later ``expires_at``; the same
        "later expiry wins" rule holds for ``revoke_jti`` and ``revoke_session``.
        """
        ...

    async def is_revoked(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool:
        """One round trip on Redis or SQL; nothing on memory."""
        ...

    async def prune_revocations(self, *, now: float) -> int: ...


class SyncRevocationStore(RevocationStore, Protocol):
    """A revocation store that can answer without I/O (the memory backend)."""

    def is_revoked_now(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class RevocationDump:
    """Every live revocation entry; used to rebuild a cache (Redis) from the durable store."""

    #: ``(issuer, jti, expires_at)``
    jtis: tuple[tuple[str, str, float], ...] = ()
    #: ``(sid, expires_at)``
    sessions: tuple[tuple[str, float], ...] = ()
    #: ``(sub, issued_before, expires_at)``
    subjects: tuple[tuple[str, float, float], ...] = ()


class RevocationSource(Protocol):
    """A durable revocation store that can list its entries."""

    async def dump_revocations(self, *, now: float) -> RevocationDump:
        """Every entry with ``expires_at > now``."""
        ...
