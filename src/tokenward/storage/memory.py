"""In-memory backend: users, refresh tokens and revocations in one process.

For tests and single-process embedding. Nothing survives a restart. Every method is safe
under asyncio concurrency: refresh-token changes run under one ``asyncio.Lock`` so a rotation
and a family revocation serialise exactly like the SQL backend's transactions do
(security profile sec. 4.2). Revocation look-ups need no I/O, hence the synchronous
:meth:`MemoryStore.is_revoked_now` for the validator's sync path.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from tokenward.errors import UserExists, UserNotFound
from tokenward.storage.base import (
    FamilyRecord,
    RefreshContext,
    RefreshRecord,
    RevocationDump,
    RotateHook,
    RotateOutcome,
    UserRecord,
)

__all__ = ["MemoryStore"]


@dataclasses.dataclass(slots=True)
class _Family:
    user_id: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None


class MemoryStore:
    """UserStore + RefreshStore + RevocationStore kept in dictionaries.

    :param rotate_hook: test seam awaited inside :meth:`rotate` after the old token is
        consumed and the new one stored, while the refresh lock is still held.
    """

    def __init__(self, *, rotate_hook: RotateHook | None = None) -> None:
        self._users: dict[str, UserRecord] = {}
        self._user_keys: dict[str, str] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._families: dict[str, _Family] = {}
        self._lock = asyncio.Lock()
        self._rotate_hook = rotate_hook
        self._jtis: dict[tuple[str, str], float] = {}
        self._sessions: dict[str, float] = {}
        #: sub -> (issued_before, expires_at)
        self._subjects: dict[str, tuple[float, float]] = {}

    # --- users --- #

    async def create_user(self, user: UserRecord) -> None:
        """Insert; raises ``UserExists`` when ``username_key`` (or the id) is taken."""
        if user.username_key in self._user_keys or user.id in self._users:
            raise UserExists()
        self._users[user.id] = _copy_user(user)
        self._user_keys[user.username_key] = user.id

    async def get_user(self, user_id: str) -> UserRecord | None:
        user = self._users.get(user_id)
        return None if user is None else _copy_user(user)

    async def get_user_by_username(self, username_key: str) -> UserRecord | None:
        user_id = self._user_keys.get(username_key)
        return None if user_id is None else await self.get_user(user_id)

    async def update_user(self, user: UserRecord) -> None:
        """Replace the record with the same id; ``UserNotFound`` / ``UserExists``."""
        old = self._users.get(user.id)
        if old is None:
            raise UserNotFound()
        owner = self._user_keys.get(user.username_key)
        if owner is not None and owner != user.id:
            raise UserExists()
        del self._user_keys[old.username_key]
        self._user_keys[user.username_key] = user.id
        self._users[user.id] = _copy_user(user)

    async def list_users(self) -> Sequence[UserRecord]:
        return [_copy_user(u) for u in self._users.values()]

    # --- refresh tokens --- #

    async def create_refresh(self, record: RefreshRecord) -> None:
        """Store a token; the first token of a family creates the family."""
        async with self._lock:
            if record.id in self._refresh:
                raise ValueError("duplicate refresh token id")
            self._families.setdefault(
                record.family_id,
                _Family(record.user_id, record.created_at, record.family_expires_at),
            )
            self._refresh[record.id] = record

    async def get_refresh(self, token_id: str) -> RefreshRecord | None:
        return self._refresh.get(token_id)

    async def load_refresh_context(self, token_id: str) -> RefreshContext | None:
        """The token, its user and this store's denylist entries for its sid and subject."""
        record = self._refresh.get(token_id)
        if record is None:
            return None
        cut = self._subjects.get(record.user_id)
        return RefreshContext(
            record=record,
            user=await self.get_user(record.user_id),
            session_revoked=record.family_id in self._sessions,
            subject_revoked_before=None if cut is None else cut[0],
        )

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family with its absolute expiry; ``None`` if unknown or pruned."""
        family = self._families.get(family_id)
        if family is None:
            return None
        return FamilyRecord(
            id=family_id,
            user_id=family.user_id,
            created_at=family.created_at,
            expires_at=family.expires_at,
            revoked_at=family.revoked_at,
        )

    async def rotate(self, old_id: str, new: RefreshRecord, *, now: float) -> RotateOutcome:
        """Consume ``old_id`` and store ``new`` atomically (profile sec. 4.2)."""
        async with self._lock:
            old = self._refresh.get(old_id)
            if (
                old is None
                or not self._may_extend(old, new, now)
                or old.used_at is not None
                or old.expires_at <= now
                or old.family_expires_at <= now
            ):
                return RotateOutcome(rotated=False, old=old)
            self._refresh[old_id] = dataclasses.replace(old, used_at=now, replaced_by=new.id)
            self._refresh[new.id] = new
            if self._rotate_hook is not None:
                await self._rotate_hook()
            return RotateOutcome(rotated=True, old=old)

    def _may_extend(self, parent: RefreshRecord, new: RefreshRecord, now: float) -> bool:
        """``new`` may follow ``parent``: same live family, parent not revoked, new id free."""
        family = self._families.get(new.family_id)
        return (
            family is not None
            and family.revoked_at is None
            and family.expires_at > now
            and parent.family_id == new.family_id
            and parent.revoked_at is None
            and new.id not in self._refresh
        )

    async def create_grace_sibling(
        self, parent_id: str, sibling: RefreshRecord, *, now: float
    ) -> bool:
        """Store ``sibling`` as the one grace sibling of ``parent_id`` (at most once)."""
        async with self._lock:
            parent = self._refresh.get(parent_id)
            if (
                parent is None
                or not self._may_extend(parent, sibling, now)
                or parent.used_at is None
                or parent.grace_child is not None
            ):
                return False
            self._refresh[parent_id] = dataclasses.replace(parent, grace_child=sibling.id)
            self._refresh[sibling.id] = sibling
            return True

    async def revoke_family(self, family_id: str, *, now: float, reason: str) -> int:
        """Revoke the family and every token in it; returns how many tokens changed."""
        async with self._lock:
            family = self._families.get(family_id)
            if family is not None and family.revoked_at is None:
                family.revoked_at = now
            return self._revoke_tokens({family_id}, now=now, reason=reason)

    async def revoke_user_families(self, user_id: str, *, now: float, reason: str) -> list[str]:
        """Revoke every not yet revoked family of ``user_id``; returns their ids."""
        async with self._lock:
            ids = [
                fid
                for fid, fam in self._families.items()
                if fam.user_id == user_id and fam.revoked_at is None
            ]
            for fid in ids:
                self._families[fid].revoked_at = now
            self._revoke_tokens(set(ids), now=now, reason=reason)
            return ids

    def _revoke_tokens(self, family_ids: set[str], *, now: float, reason: str) -> int:
        changed = 0
        for rid, rec in self._refresh.items():
            if rec.family_id in family_ids and rec.revoked_at is None:
                self._refresh[rid] = dataclasses.replace(rec, revoked_at=now, revoked_reason=reason)
                changed += 1
        return changed

    async def list_user_refresh(self, user_id: str) -> Sequence[RefreshRecord]:
        return [r for r in self._refresh.values() if r.user_id == user_id]

    async def prune_refresh(self, *, now: float) -> int:
        """Delete tokens (and families) whose family lifetime has ended."""
        async with self._lock:
            dead = [rid for rid, r in self._refresh.items() if r.family_expires_at <= now]
            for rid in dead:
                del self._refresh[rid]
            for fid in [f for f, fam in self._families.items() if fam.expires_at <= now]:
                del self._families[fid]
            return len(dead)

    # --- revocations --- #

    async def revoke_jti(self, issuer: str, jti: str, *, expires_at: float) -> None:
        key = (issuer, jti)
        self._jtis[key] = max(expires_at, self._jtis.get(key, expires_at))

    async def revoke_session(self, sid: str, *, expires_at: float) -> None:
        self._sessions[sid] = max(expires_at, self._sessions.get(sid, expires_at))

    async def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float) -> None:
        """Reject tokens of ``sub`` with ``iat < issued_before``; a later cut-off wins."""
        before, until = self._subjects.get(sub, (issued_before, expires_at))
        self._subjects[sub] = (max(before, issued_before), max(until, expires_at))

    async def is_revoked(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool:
        return self.is_revoked_now(issuer=issuer, jti=jti, sid=sid, sub=sub, iat=iat)

    def is_revoked_now(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool:
        """Synchronous :meth:`is_revoked` (no I/O) for ``TokenValidator.validate``."""
        if (issuer, jti) in self._jtis:
            return True
        if sid is not None and sid in self._sessions:
            return True
        cut = self._subjects.get(sub)
        return cut is not None and iat < cut[0]

    async def prune_revocations(self, *, now: float) -> int:
        """Drop entries whose ``expires_at`` has passed; returns the count."""
        dead_jtis = [k for k, exp in self._jtis.items() if exp <= now]
        for key in dead_jtis:
            del self._jtis[key]
        dead_sids = [k for k, exp in self._sessions.items() if exp <= now]
        for sid in dead_sids:
            del self._sessions[sid]
        dead_subs = [s for s, (_, exp) in self._subjects.items() if exp <= now]
        for sub in dead_subs:
            del self._subjects[sub]
        return len(dead_jtis) + len(dead_sids) + len(dead_subs)

    async def dump_revocations(self, *, now: float) -> RevocationDump:
        """Every live entry (``expires_at > now``), for rebuilding a cache."""
        return RevocationDump(
            jtis=tuple((i, j, e) for (i, j), e in self._jtis.items() if e > now),
            sessions=tuple((s, e) for s, e in self._sessions.items() if e > now),
            subjects=tuple((s, b, e) for s, (b, e) in self._subjects.items() if e > now),
        )


def _copy_user(user: UserRecord) -> UserRecord:
    """Detach the mutable ``claims`` mapping so callers cannot change stored state."""
    return dataclasses.replace(user, roles=tuple(user.roles), claims=dict(user.claims))
