"""SQL repository for the access-token denylist (jti, session, subject cut-off)."""

from __future__ import annotations

import sqlalchemy as sa

from tokenward.errors import InvalidRequest
from tokenward.storage.base import RevocationDump
from tokenward.storage.sql._conn import SqlBase, greatest, storable
from tokenward.storage.sql.models import revoked_jtis, revoked_sessions, revoked_subjects

__all__ = ["SqlRevocationStore"]


class SqlRevocationStore(SqlBase):
    """``RevocationStore`` (and ``RevocationSource``) over the three ``revoked_*`` tables.

    Entries are keyed by identity (issuer + jti, sid, sub), never by token bytes
    (security profile sec. 1 rule 12). Re-revoking keeps the later expiry / cut-off.
    """

    async def revoke_jti(self, issuer: str, jti: str, *, expires_at: float) -> None:
        _check_storable(issuer, jti)
        stmt = self._insert(revoked_jtis).values(issuer=issuer, jti=jti, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[revoked_jtis.c.issuer, revoked_jtis.c.jti],
            set_={"expires_at": greatest(revoked_jtis.c.expires_at, stmt.excluded.expires_at)},
        )
        async with self._single() as conn:
            await conn.execute(stmt)

    async def revoke_session(self, sid: str, *, expires_at: float) -> None:
        _check_storable(sid)
        stmt = self._insert(revoked_sessions).values(sid=sid, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[revoked_sessions.c.sid],
            set_={"expires_at": greatest(revoked_sessions.c.expires_at, stmt.excluded.expires_at)},
        )
        async with self._single() as conn:
            await conn.execute(stmt)

    async def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float) -> None:
        """Reject tokens of ``sub`` with ``iat < issued_before``; a later cut-off wins."""
        _check_storable(sub)
        t = revoked_subjects
        stmt = self._insert(t).values(sub=sub, issued_before=issued_before, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.sub],
            set_={
                "issued_before": greatest(t.c.issued_before, stmt.excluded.issued_before),
                "expires_at": greatest(t.c.expires_at, stmt.excluded.expires_at),
            },
        )
        async with self._single() as conn:
            await conn.execute(stmt)

    async def is_revoked(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool:
        """One statement: ``SELECT EXISTS(jti) OR EXISTS(sid) OR EXISTS(sub cut-off)``."""
        # an identity no text column can hold was never revoked: it is bound as NULL (as an
        # absent sid is), which equals nothing, so its term is false and the driver never
        # sees the value
        jti_ok = storable(issuer, jti)
        params = {
            "issuer": issuer if jti_ok else None,
            "jti": jti if jti_ok else None,
            "sid": sid if storable(sid) else None,
            "sub": sub if storable(sub) else None,
            "iat": iat,
        }
        async with self._single() as conn:
            value = (await conn.execute(_IS_REVOKED, params)).scalar_one()
        return bool(value)

    async def prune_revocations(self, *, now: float) -> int:
        """Delete entries whose ``expires_at`` has passed; returns the count."""
        count = 0
        async with self._tx() as conn:
            for table in (revoked_jtis, revoked_sessions, revoked_subjects):
                result = await conn.execute(table.delete().where(table.c.expires_at <= now))
                count += int(result.rowcount)
        return count

    async def dump_revocations(self, *, now: float) -> RevocationDump:
        """Every live entry (``expires_at > now``), for rebuilding the Redis cache."""
        j, s, u = revoked_jtis, revoked_sessions, revoked_subjects
        async with self._single() as conn:
            jtis = await conn.execute(
                sa.select(j.c.issuer, j.c.jti, j.c.expires_at).where(j.c.expires_at > now)
            )
            sids = await conn.execute(
                sa.select(s.c.sid, s.c.expires_at).where(s.c.expires_at > now)
            )
            subs = await conn.execute(
                sa.select(u.c.sub, u.c.issued_before, u.c.expires_at).where(u.c.expires_at > now)
            )
            return RevocationDump(
                jtis=tuple((r[0], r[1], r[2]) for r in jtis),
                sessions=tuple((r[0], r[1]) for r in sids),
                subjects=tuple((r[0], r[1], r[2]) for r in subs),
            )


#: the statement of ``is_revoked``, built once: on the request-authentication path building
#: it per call cost about as much as the database round trip itself
_IS_REVOKED = sa.select(
    sa.or_(
        sa.exists().where(
            revoked_jtis.c.issuer == sa.bindparam("issuer"),
            revoked_jtis.c.jti == sa.bindparam("jti"),
        ),
        sa.exists().where(
            revoked_subjects.c.sub == sa.bindparam("sub"),
            revoked_subjects.c.issued_before > sa.bindparam("iat"),
        ),
        sa.exists().where(revoked_sessions.c.sid == sa.bindparam("sid")),
    )
)


def _check_storable(*values: str) -> None:
    if not storable(*values):
        raise InvalidRequest("identity contains characters that cannot be stored")
