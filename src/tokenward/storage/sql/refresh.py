"""SQL repository for refresh-token families and rotation (security profile sec. 4.2).

Locking protocol (the R3 guarantee): every rotation takes a *shared* lock on its
``refresh_families`` row before consuming the old token, and ``revoke_family`` /
``revoke_user_families`` first take an *exclusive* lock on the family row, then, in a
second statement with a fresh READ COMMITTED snapshot, revoke the tokens. So a rotation
that commits first has its new token revoked, and one that runs second finds the family
revoked and stores nothing. On SQLite both run under ``BEGIN IMMEDIATE`` (one writer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tokenward.storage.base import (
    FamilyRecord,
    RefreshContext,
    RefreshRecord,
    RotateHook,
    RotateOutcome,
)
from tokenward.storage.sql._conn import SqlBase, storable
from tokenward.storage.sql.models import refresh_families as fams
from tokenward.storage.sql.models import refresh_tokens as toks
from tokenward.storage.sql.models import revoked_sessions, revoked_subjects, users
from tokenward.storage.sql.users import user_from_mapping

__all__ = ["SqlRefreshStore"]


class SqlRefreshStore(SqlBase):
    """``RefreshStore`` over ``refresh_families`` + ``refresh_tokens``.

    :param rotate_hook: test seam awaited inside :meth:`rotate` after the rotation's
        statements ran and before its transaction commits.
    """

    def __init__(self, engine: AsyncEngine, *, rotate_hook: RotateHook | None = None) -> None:
        super().__init__(engine)
        self._rotate_hook = rotate_hook

    async def create_refresh(self, record: RefreshRecord) -> None:
        """Store a token; the first token of a family creates the family row."""
        family = (
            self._insert(fams)
            .values(
                id=record.family_id,
                user_id=record.user_id,
                created_at=record.created_at,
                expires_at=record.family_expires_at,
            )
            .on_conflict_do_nothing(index_elements=[fams.c.id])
        )
        token = toks.insert().values(**asdict(record))
        if self._sqlite:
            async with self._tx() as conn:
                await conn.execute(family)
                await conn.execute(token)
            return
        # PostgreSQL: one round trip; FK checks run at statement end and see the CTE's row
        async with self._single() as conn:
            await conn.execute(token.add_cte(family.cte("fam")))

    async def get_refresh(self, token_id: str) -> RefreshRecord | None:
        if not storable(token_id):
            return None
        async with self._single() as conn:
            row = (await conn.execute(sa.select(toks).where(toks.c.id == token_id))).first()
        return None if row is None else _from_row(row)

    async def load_refresh_context(self, token_id: str) -> RefreshContext | None:
        """The token, its user and the denylist entries for its sid and subject: one SELECT
        (one round trip on PostgreSQL), so a refresh reads everything it decides on at once.
        """
        if not storable(token_id):
            return None
        async with self._single() as conn:
            row = (await conn.execute(self._context_query(token_id))).first()
        if row is None:
            return None
        m = row._mapping
        return RefreshContext(
            record=_from_row(row),
            user=None if m[f"{_USER}id"] is None else user_from_mapping(m, _USER),
            session_revoked=bool(m["session_revoked"]),
            subject_revoked_before=m["subject_revoked_before"],
        )

    @staticmethod
    def _context_query(token_id: str) -> sa.Select[Any]:
        # SELECT t.*, u.* AS account_*, EXISTS(sid denied), (sub cut-off) FROM refresh_tokens t
        # LEFT JOIN users u ON u.id = t.user_id WHERE t.id = :id
        session_revoked = (
            sa.exists().where(revoked_sessions.c.sid == toks.c.family_id).label("session_revoked")
        )
        cutoff = (
            sa.select(revoked_subjects.c.issued_before)
            .where(revoked_subjects.c.sub == toks.c.user_id)
            .scalar_subquery()
            .label("subject_revoked_before")
        )
        return (
            sa.select(
                toks, *(c.label(f"{_USER}{c.name}") for c in users.c), session_revoked, cutoff
            )
            .select_from(toks.outerjoin(users, users.c.id == toks.c.user_id))
            .where(toks.c.id == token_id)
        )

    async def get_family(self, family_id: str) -> FamilyRecord | None:
        """The family with its absolute expiry; ``None`` if unknown or pruned."""
        if not storable(family_id):
            return None
        async with self._single() as conn:
            row = (await conn.execute(sa.select(fams).where(fams.c.id == family_id))).first()
        return None if row is None else FamilyRecord(**row._mapping)

    async def rotate(self, old_id: str, new: RefreshRecord, *, now: float) -> RotateOutcome:
        """Consume ``old_id`` and store ``new`` atomically; exactly one concurrent call wins.

        On success ``old`` is the record before the call. On failure it is the record as
        stored now (``None`` if unknown), so callers can tell reuse (``used_at`` set) from
        revocation or expiry.
        """
        if not storable(old_id):
            return RotateOutcome(rotated=False, old=None)
        consume = self._consume(old_id, new, now)
        row = await self._claim_then_insert(consume, new, hook=self._rotate_hook)
        if row is not None:
            # the claim matched only an unused token: before it, used_at/replaced_by were unset
            return RotateOutcome(
                rotated=True, old=replace(_from_row(row), used_at=None, replaced_by=None)
            )
        return RotateOutcome(rotated=False, old=await self.get_refresh(old_id))

    async def create_grace_sibling(
        self, parent_id: str, sibling: RefreshRecord, *, now: float
    ) -> bool:
        """Claim the parent's one grace slot and store ``sibling``, atomically (sec. 4.3)."""
        if not storable(parent_id):
            return False
        claim = (
            toks.update()
            .where(
                *_extendable(parent_id, sibling.family_id, now),
                toks.c.used_at.is_not(None),
                toks.c.grace_child.is_(None),
            )
            .values(grace_child=sibling.id)
        )
        return await self._claim_then_insert(claim, sibling) is not None

    def _consume(self, old_id: str, new: RefreshRecord, now: float) -> sa.Update:
        """The conditional UPDATE of profile sec. 4.2, guarded by a live, locked family."""
        return (
            toks.update()
            .where(
                *_extendable(old_id, new.family_id, now),
                toks.c.used_at.is_(None),
                toks.c.expires_at > now,
                toks.c.family_expires_at > now,
            )
            .values(used_at=now, replaced_by=new.id)
        )

    async def _claim_then_insert(
        self, claim: sa.Update, new: RefreshRecord, *, hook: RotateHook | None = None
    ) -> sa.Row[Any] | None:
        """Run the conditional ``claim`` on one token and store ``new`` only if it matched,
        atomically; the claimed row as updated, or ``None`` (nothing stored).

        PostgreSQL: one CTE statement in autocommit (one round trip); with ``hook`` it runs
        in a transaction that stays open while the hook is awaited. SQLite: ``UPDATE ...
        RETURNING`` then ``INSERT`` under ``BEGIN IMMEDIATE`` (one writer).
        """
        row: sa.Row[Any] | None
        if self._sqlite:
            async with self._tx() as conn:
                row = (await conn.execute(claim.returning(*toks.c))).first()
                if row is not None:
                    await conn.execute(toks.insert().values(**asdict(new)))
                    if hook is not None:
                        await hook()
            return row
        stmt = _then_insert(claim, new)
        if hook is None:
            async with self._single() as conn:
                row = (await conn.execute(stmt)).first()
            return row
        async with self._tx() as conn:
            row = (await conn.execute(stmt)).first()
            if row is not None:
                await hook()
        return row

    async def revoke_family(self, family_id: str, *, now: float, reason: str) -> int:
        """Revoke the family and every token in it; returns how many tokens changed."""
        async with self._tx() as conn:
            # exclusive row lock first: waits for in-flight rotations of this family
            await conn.execute(
                fams.update()
                .where(fams.c.id == family_id, fams.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            result = await conn.execute(
                toks.update()
                .where(toks.c.family_id == family_id, toks.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
        return int(result.rowcount)

    async def revoke_user_families(self, user_id: str, *, now: float, reason: str) -> list[str]:
        """Revoke every not yet revoked family of ``user_id``; returns their ids."""
        async with self._tx() as conn:
            rows = await conn.execute(
                fams.update()
                .where(fams.c.user_id == user_id, fams.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(fams.c.id)
            )
            ids = sorted(r[0] for r in rows)
            await conn.execute(
                toks.update()
                .where(toks.c.user_id == user_id, toks.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
        return ids

    async def list_user_refresh(self, user_id: str) -> Sequence[RefreshRecord]:
        async with self._single() as conn:
            rows = await conn.execute(
                sa.select(toks)
                .where(toks.c.user_id == user_id)
                .order_by(toks.c.created_at, toks.c.id)
            )
        return [_from_row(r) for r in rows]

    async def prune_refresh(self, *, now: float) -> int:
        """Delete tokens and families whose family lifetime has ended; returns tokens deleted."""
        async with self._tx() as conn:
            result = await conn.execute(toks.delete().where(toks.c.family_expires_at <= now))
            await conn.execute(fams.delete().where(fams.c.expires_at <= now))
        return int(result.rowcount)


#: label prefix of the ``users`` columns in the refresh-context query
_USER = "account_"


def _extendable(token_id: str, family_id: str, now: float) -> tuple[sa.ColumnElement[bool], ...]:
    """Token ``token_id`` is unrevoked and in ``family_id``, which is live and share-locked
    against a concurrent revocation (R3)."""
    family = (
        sa.select(fams.c.id)
        .where(fams.c.id == family_id, fams.c.revoked_at.is_(None), fams.c.expires_at > now)
        .with_for_update(read=True)  # FOR SHARE (PostgreSQL); ignored by SQLite
        .scalar_subquery()
    )
    return (toks.c.id == token_id, toks.c.family_id.in_(family), toks.c.revoked_at.is_(None))


def _then_insert(update: sa.Update, new: RefreshRecord) -> sa.Select[Any]:
    """``WITH upd AS (UPDATE ... RETURNING *), ins AS (INSERT new ... FROM upd) SELECT upd.*``:
    ``new`` is stored only if the conditional UPDATE matched; one statement, one round trip
    in autocommit (PostgreSQL)."""
    upd = update.returning(*toks.c).cte("upd")
    values = asdict(new)
    source = sa.select(
        *(sa.literal(values[c.name], type_=c.type).label(c.name) for c in toks.c)
    ).select_from(upd)
    ins = toks.insert().from_select([c.name for c in toks.c], source).cte("ins")
    return sa.select(*upd.c).add_cte(ins)


def _from_row(row: sa.Row[Any]) -> RefreshRecord:
    m = row._mapping
    return RefreshRecord(**{c.name: m[c.name] for c in toks.c})
