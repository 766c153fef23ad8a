"""Record builders shared by the storage tests."""

from __future__ import annotations

import uuid
from typing import Any

from tokenward.storage.base import RefreshRecord, UserRecord

NOW = 1_800_000_000.0
IDLE = 14 * 86400.0
ABSOLUTE = 30 * 86400.0


def make_user(username: str = "Alice", **changes: Any) -> UserRecord:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "username": username,
        "username_key": username.casefold(),
        "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "roles": ("reader",),
        "claims": {"tenant": "contoso", "level": 3},
        "created_at": NOW,
    }
    values.update(changes)
    return UserRecord(**values)


def make_refresh(
    *,
    family_id: str | None = None,
    parent_id: str | None = None,
    user_id: str = "user-1",
    now: float = NOW,
    **changes: Any,
) -> RefreshRecord:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "family_id": family_id or uuid.uuid4().hex,
        "parent_id": parent_id,
        "user_id": user_id,
        "digest": uuid.uuid4().bytes + uuid.uuid4().bytes,
        "created_at": now,
        "expires_at": now + IDLE,
        "family_expires_at": now + ABSOLUTE,
        "user_agent": "pytest/1.0",
        "ip": "192.0.2.1",
    }
    values.update(changes)
    return RefreshRecord(**values)


def successor(old: RefreshRecord, *, now: float = NOW + 60) -> RefreshRecord:
    """The next token of ``old``'s family (same family expiry)."""
    return make_refresh(
        family_id=old.family_id,
        parent_id=old.id,
        user_id=old.user_id,
        now=now,
        family_expires_at=old.family_expires_at,
    )
