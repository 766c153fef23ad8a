"""User administration for :class:`~tokenward.sessions.service.AuthService`.

Account-wide actions (password change, disabling, "log out everywhere") set
``tokens_valid_after``, revoke every refresh family of the user, deny each family's ``sid``
and cut off every token of the subject issued before now (security profile sec. 4.4, R9).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from tokenward.errors import InvalidRequest, UserNotFound
from tokenward.observability import security_event
from tokenward.sessions._revoking import SessionRevocation
from tokenward.sessions.passwords import PasswordHasher, normalize_username
from tokenward.storage.base import UserRecord, UserStore
from tokenward.tokens import RESERVED_CLAIMS

__all__ = ["AccountAdmin"]

logger = logging.getLogger("tokenward.sessions")

_MAX_ROLES = 64
_MAX_ROLE_CHARS = 128
#: custom claims, JSON-encoded; leaves room in an 8 KiB token (profile sec. 1 rule 1)
_MAX_CLAIMS_BYTES = 2048


class AccountAdmin(SessionRevocation):
    """User management; a base of ``AuthService`` (which sets these attributes)."""

    _users: UserStore
    _hasher: PasswordHasher

    # --- users --- #

    async def create_user(
        self,
        username: str,
        password: str,
        *,
        roles: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> UserRecord:
        """Create an account; the username is stored as given, unique by its normalised key.

        :raises InvalidRequest: bad username, password, roles or claims
        :raises UserExists: the normalised username is taken
        """
        key = normalize_username(username)
        self._check_new_password(password)
        user = UserRecord(
            id=uuid.uuid4().hex,
            username=username,
            username_key=key,
            password_hash=await self._hasher.ahash(password),
            roles=_check_roles(roles),
            claims=_check_claims(claims),
            created_at=self._clock.now(),
        )
        await self._users.create_user(user)
        return user

    async def set_password(self, user_id: str, password: str) -> None:
        """Change the password and end every session of the user (security profile R9)."""
        self._check_new_password(password)
        new_hash = await self._hasher.ahash(password)
        await self._end_every_session(user_id, "password_changed", password_hash=new_hash)

    async def disable_user(self, user_id: str) -> None:
        """Disable the account and end every session (R9)."""
        await self._end_every_session(user_id, "user_disabled", disabled=True)
        security_event(logger, "user_disabled", sub=user_id)

    async def enable_user(self, user_id: str) -> None:
        """Re-enable the account (old sessions stay revoked)."""
        user = await self._get_user(user_id)
        await self._users.update_user(dataclasses.replace(user, disabled=False))

    async def set_roles(self, user_id: str, roles: Iterable[str]) -> None:
        """Replace the roles; they reach access tokens at the next login or refresh."""
        user = await self._get_user(user_id)
        await self._users.update_user(dataclasses.replace(user, roles=_check_roles(roles)))

    async def set_claims(self, user_id: str, claims: Mapping[str, Any]) -> None:
        """Replace the custom claims (never a reserved claim such as ``sub`` or ``sid``)."""
        user = await self._get_user(user_id)
        await self._users.update_user(dataclasses.replace(user, claims=_check_claims(claims)))

    async def logout_all(self, user_id: str) -> None:
        """Log out everywhere: revoke every family, session and access token of the user."""
        await self._end_every_session(user_id, "logout_all")

    async def _end_every_session(self, user_id: str, reason: str, **changes: Any) -> None:
        """Apply ``changes`` to the user with ``tokens_valid_after`` = now, then revoke every
        family, session and earlier access token of the user (R9)."""
        now = self._clock.now()
        user = await self._get_user(user_id)
        await self._users.update_user(dataclasses.replace(user, tokens_valid_after=now, **changes))
        await self._revoke_everything(user_id, now=now, reason=reason)

    async def _rehash(self, user: UserRecord, password: str) -> UserRecord:
        """Upgrade a hash made with old parameters after a successful login (L7)."""
        new_hash = await self._hasher.ahash(password)
        current = await self._users.get_user(user.id)
        if current is None or current.password_hash != user.password_hash:
            return user  # changed meanwhile (e.g. set_password): keep the newer state
        updated = dataclasses.replace(current, password_hash=new_hash)
        await self._users.update_user(updated)
        return updated

    async def _get_user(self, user_id: str) -> UserRecord:
        user = await self._users.get_user(user_id)
        if user is None:
            raise UserNotFound()
        return user

    def _check_new_password(self, password: object) -> None:
        self._hasher.check_length(password)
        if not isinstance(password, str) or len(password) < self._config.min_password_length:
            raise InvalidRequest(
                f"password must have at least {self._config.min_password_length} characters"
            )


def _check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    if isinstance(roles, str):
        raise InvalidRequest("roles must be a collection of strings")
    try:
        out = tuple(roles)
    except TypeError:
        raise InvalidRequest("roles must be a collection of strings") from None
    if len(out) > _MAX_ROLES or not all(
        isinstance(r, str) and 0 < len(r) <= _MAX_ROLE_CHARS for r in out
    ):
        raise InvalidRequest("invalid roles")
    return out


def _check_claims(claims: Mapping[str, Any] | None) -> dict[str, Any]:
    if claims is None:
        return {}
    if not isinstance(claims, Mapping) or not all(isinstance(k, str) for k in claims):
        raise InvalidRequest("claims must be a mapping with string keys")
    clash = RESERVED_CLAIMS.intersection(claims)
    if clash:
        raise InvalidRequest(f"custom claims may not set {sorted(clash)}")
    # Checked here, not at the next login: the issuer refuses non-JSON claims, and every
    # claim travels in each access token, which validators cap at 8 KiB.
    try:
        encoded = json.dumps(dict(claims), allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError):  # UnicodeEncodeError (lone surrogate) is a ValueError
        raise InvalidRequest("claims must be JSON (no NaN/Infinity, valid Unicode)") from None
    if len(encoded) > _MAX_CLAIMS_BYTES:
        raise InvalidRequest("claims too large")
    return dict(claims)
