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
from typing import Any, NamedTuple

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
            row = (await conn.execute(_BY_ID, {"token_id": token_id})).first()
        return None if row is None else _from_row(row)

    async def load_refresh_context(self, token_id: str) -> RefreshContext | None:
        """The token, its user and the denylist entries for its sid and subject: one SELECT
        (one round trip on PostgreSQL), so a refresh reads everything it decides on at once.
        """
        if not storable(token_id):
            return None
        async with self._single() as conn:
            row = (await conn.execute(_CONTEXT, {"token_id": token_id})).first()
        if row is None:
            return None
        m = row._mapping
        return RefreshContext(
            record=_from_row(row),
            user=None if m[f"{_USER}id"] is None else user_from_mapping(m, _USER),
            session_revoked=bool(m["session_revoked"]),
            subject_revoked_before=m["subject_revoked_before"],
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
        row = await self._claim_then_insert(_CONSUME, old_id, new, now, hook=self._rotate_hook)
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
        return await self._claim_then_insert(_GRACE_CLAIM, parent_id, sibling, now) is not None

    async def _claim_then_insert(
        self,
        claim: _Claim,
        token_id: str,
        new: RefreshRecord,
        now: float,
        *,
        hook: RotateHook | None = None,
    ) -> sa.Row[Any] | None:
        """Run the conditional ``claim`` on token ``token_id`` at ``now`` and store ``new``
        only if it matched, atomically; the claimed row as updated, or ``None`` (nothing
        stored).

        PostgreSQL: one CTE statement in autocommit (one round trip); with ``hook`` it runs
        in a transaction that stays open while the hook is awaited. SQLite: ``UPDATE ...
        RETURNING`` then ``INSERT`` under ``BEGIN IMMEDIATE`` (one writer).
        """
        values = asdict(new)
        params = {"p_token": token_id, "p_family": new.family_id, "p_now": now, "p_new": new.id}
        row: sa.Row[Any] | None
        if self._sqlite:
            async with self._tx() as conn:
                row = (await conn.execute(claim.returning, params)).first()
                if row is not None:
                    await conn.execute(toks.insert(), values)
                    if hook is not None:
                        await hook()
            return row
        params.update((f"new_{name}", value) for name, value in values.items())
        if hook is None:
            async with self._single() as conn:
                row = (await conn.execute(claim.then_insert, params)).first()
            return row
        async with self._tx() as conn:
            row = (await conn.execute(claim.then_insert, params)).first()
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


# The refresh path's statements are built once, with bound parameters: building them on
# every call cost more CPU than their database round trips (about 2 ms for the rotation).


def _context_query() -> sa.Select[Any]:
    # SELECT t.*, u.* AS account_*, EXISTS(sid denied), (sub cut-off) FROM refresh_tokens t
    # LEFT JOIN users u ON u.id = t.user_id WHERE t.id = :token_id
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
        sa.select(toks, *(c.label(f"{_USER}{c.name}") for c in users.c), session_revoked, cutoff)
        .select_from(toks.outerjoin(users, users.c.id == toks.c.user_id))
        .where(toks.c.id == sa.bindparam("token_id"))
    )


_BY_ID = sa.select(toks).where(toks.c.id == sa.bindparam("token_id"))
_CONTEXT = _context_query()


class _Claim(NamedTuple):
    """A conditional UPDATE of one token, prepared for both dialects. Parameters:
    ``p_token`` (the token), ``p_family`` (its required family), ``p_now``, ``p_new`` (the
    id of the record stored if the claim matches) and, in ``then_insert``, that record's
    columns as ``new_<column>``."""

    #: SQLite: ``UPDATE ... RETURNING *`` (the caller inserts the new record)
    returning: sa.Executable
    #: PostgreSQL: ``WITH upd AS (UPDATE ... RETURNING *), ins AS (INSERT new ... FROM upd)
    #: SELECT upd.*``: the new record is stored only if the UPDATE matched; one statement,
    #: one round trip in autocommit
    then_insert: sa.Executable


def _claim(update: sa.Update) -> _Claim:
    upd = update.returning(*toks.c).cte("upd")
    source = sa.select(
        *(sa.bindparam(f"new_{c.name}", type_=c.type).label(c.name) for c in toks.c)
    ).select_from(upd)
    ins = toks.insert().from_select([c.name for c in toks.c], source).cte("ins")
    return _Claim(update.returning(*toks.c), sa.select(*upd.c).add_cte(ins))


#: the token is unrevoked and in family ``p_family``, which is live at ``p_now`` and
#: share-locked against a concurrent revocation (R3)
_EXTENDABLE = (
    toks.c.id == sa.bindparam("p_token"),
    toks.c.family_id.in_(
        sa.select(fams.c.id)
        .where(
            fams.c.id == sa.bindparam("p_family"),
            fams.c.revoked_at.is_(None),
            fams.c.expires_at > sa.bindparam("p_now"),
        )
        .with_for_update(read=True)  # FOR SHARE (PostgreSQL); ignored by SQLite
        .scalar_subquery()
    ),
    toks.c.revoked_at.is_(None),
)

#: the conditional UPDATE of profile sec. 4.2: consume an unused, unexpired token
_CONSUME = _claim(
    toks.update()
    .where(
        *_EXTENDABLE,
        toks.c.used_at.is_(None),
        toks.c.expires_at > sa.bindparam("p_now"),
        toks.c.family_expires_at > sa.bindparam("p_now"),
    )
    .values(used_at=sa.bindparam("p_now"), replaced_by=sa.bindparam("p_new"))
)

#: claim a consumed token's one grace slot (profile sec. 4.3)
_GRACE_CLAIM = _claim(
    toks.update()
    .where(*_EXTENDABLE, toks.c.used_at.is_not(None), toks.c.grace_child.is_(None))
    .values(grace_child=sa.bindparam("p_new"))
)


def _from_row(row: sa.Row[Any]) -> RefreshRecord:
    m = row._mapping
    return RefreshRecord(**{c.name: m[c.name] for c in toks.c})
