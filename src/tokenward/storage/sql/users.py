"""SQL repository for user accounts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tokenward.errors import InvalidRequest, UserExists, UserNotFound
from tokenward.storage.base import UserRecord
from tokenward.storage.sql._conn import SqlBase, storable
from tokenward.storage.sql.models import users

__all__ = ["SqlUserStore", "user_from_mapping"]


class SqlUserStore(SqlBase):
    """``UserStore`` over the ``users`` table."""

    async def create_user(self, user: UserRecord) -> None:
        """Insert; raises ``UserExists`` when ``username_key`` (or the id) is taken."""
        _check_storable(user)
        try:
            async with self._single() as conn:
                await conn.execute(users.insert().values(**_user_values(user)))
        except sa.exc.IntegrityError as exc:
            raise UserExists() from exc

    async def get_user(self, user_id: str) -> UserRecord | None:
        if not storable(user_id):
            return None
        return await self._get_one(users.c.id == user_id)

    async def get_user_by_username(self, username_key: str) -> UserRecord | None:
        if not storable(username_key):
            return None
        return await self._get_one(users.c.username_key == username_key)

    async def _get_one(self, where: sa.ColumnElement[bool]) -> UserRecord | None:
        async with self._single() as conn:
            row = (await conn.execute(sa.select(users).where(where))).first()
        return None if row is None else _user_from_row(row)

    async def update_user(self, user: UserRecord) -> None:
        """Replace the record with the same id; ``UserNotFound`` / ``UserExists``."""
        _check_storable(user)
        values = _user_values(user)
        del values["id"]
        try:
            async with self._single() as conn:
                result = await conn.execute(
                    users.update().where(users.c.id == user.id).values(**values)
                )
        except sa.exc.IntegrityError as exc:
            raise UserExists() from exc
        if result.rowcount != 1:
            raise UserNotFound()

    async def list_users(self) -> Sequence[UserRecord]:
        async with self._single() as conn:
            rows = await conn.execute(sa.select(users).order_by(users.c.created_at, users.c.id))
        return [_user_from_row(r) for r in rows]


def _check_storable(user: UserRecord) -> None:
    if not storable(user.id, user.username, user.username_key, user.password_hash, *user.roles):
        raise InvalidRequest("user fields contain characters that cannot be stored")


def _user_values(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "username_key": user.username_key,
        "password_hash": user.password_hash,
        "roles": list(user.roles),
        "claims": dict(user.claims),
        "disabled": user.disabled,
        "tokens_valid_after": user.tokens_valid_after,
        "created_at": user.created_at,
    }


def _user_from_row(row: sa.Row[Any]) -> UserRecord:
    return user_from_mapping(row._mapping)


def user_from_mapping(m: sa.RowMapping, prefix: str = "") -> UserRecord:
    """A ``UserRecord`` from a result row whose ``users`` columns carry ``prefix``."""
    return UserRecord(
        id=m[f"{prefix}id"],
        username=m[f"{prefix}username"],
        username_key=m[f"{prefix}username_key"],
        password_hash=m[f"{prefix}password_hash"],
        roles=tuple(m[f"{prefix}roles"]),
        claims=dict(m[f"{prefix}claims"]),
        disabled=bool(m[f"{prefix}disabled"]),
        tokens_valid_after=m[f"{prefix}tokens_valid_after"],
        created_at=m[f"{prefix}created_at"],
    )
