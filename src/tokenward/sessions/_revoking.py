"""Logout and revocation for :class:`~tokenward.sessions.service.AuthService`.

Ending a session always acts on both stores: the refresh family is revoked in the refresh
store **and** its session id (``sid``) is denied in the revocation store, so access tokens
already handed out for that session stop validating at once (RFC 9700 sec. 4.14.2; security
profile sec. 4.4). Denylist entries are keyed by identity, never by token bytes (profile
rule 12) and kept until the last token they could match has expired.
"""

from __future__ import annotations

import logging
import math

from tokenward.clock import Clock
from tokenward.errors import InvalidGrant, InvalidRequest, InvalidToken
from tokenward.observability import security_event
from tokenward.sessions.config import SessionConfig
from tokenward.sessions.refresh import ParsedRefreshToken, RefreshTokenCodec
from tokenward.storage.base import RefreshRecord, RefreshStore, RevocationStore
from tokenward.validation import Principal, TokenValidator

__all__ = ["SessionRevocation"]

logger = logging.getLogger("tokenward.sessions")


class SessionRevocation:
    """Logout and revocation; a base of ``AuthService`` (which sets these attributes)."""

    _refresh: RefreshStore
    _revocations: RevocationStore
    _config: SessionConfig
    _clock: Clock
    _codec: RefreshTokenCodec
    _validator: TokenValidator | None

    async def logout(
        self, *, refresh_token: str | None = None, principal: Principal | None = None
    ) -> None:
        """End a session: revoke the refresh family and its ``sid``, and the access token's
        ``jti``. Unknown or malformed refresh tokens are ignored (logout is idempotent).
        """
        now = self._clock.now()
        if refresh_token is not None:
            record = await self.refresh_info(refresh_token)
            if record is not None:
                await self._revoke_family(record.family_id, record.family_expires_at, now, "logout")
        if principal is not None:
            await self._revoke_principal(principal)
            sid = principal.session_id
            if sid is not None:
                await self._revoke_family(sid, now + self._config.family_lifetime, now, "logout")

    async def revoke_session(self, family_id: str, *, reason: str = "admin") -> bool:
        """Revoke one session (refresh family) by its id, e.g. from ``tokenward sessions
        revoke``: every refresh token of the family and every access token carrying its
        ``sid``. Logged as the security event ``session_family_revoked``.

        The ``sid`` is denied even for an unknown (e.g. already pruned) family: fail closed.

        :returns: True when this call ended a live session, False when the family is unknown
            or was already revoked.
        :raises InvalidRequest: for an empty or non-string ``family_id``.
        """
        if not isinstance(family_id, str) or not family_id:
            raise InvalidRequest("session id must be a non-empty string")
        now = self._clock.now()
        family = await self._refresh.get_family(family_id)
        # Unknown: its expiry is at most family_lifetime after a login that was before now.
        expires_at = now + self._config.family_lifetime if family is None else family.expires_at
        changed = await self._revoke_family(family_id, expires_at, now, reason)
        return family is not None and (family.revoked_at is None or changed > 0)

    async def revoke_token(self, token: str) -> None:
        """RFC 7009 revocation. A refresh token revokes its whole family and session
        (sec. 2.1: "SHOULD also invalidate all access tokens based on the same grant"); an
        access token (verified by the ``validator``) is denylisted by ``(iss, jti)``. Invalid,
        unknown and expired tokens are silently ignored (sec. 2.2).
        """
        if not isinstance(token, str):
            return
        if self._codec.looks_like_refresh_token(token):
            record = await self.refresh_info(token)
            if record is not None:
                now = self._clock.now()
                await self._revoke_family(
                    record.family_id, record.family_expires_at, now, "revoked"
                )
            return
        if self._validator is None:
            return
        try:
            principal = await self._validator.avalidate(token)
        except InvalidToken:
            return  # invalid, expired or already revoked; storage errors still propagate
        await self._revoke_principal(principal)

    async def refresh_info(self, refresh_token: str) -> RefreshRecord | None:
        """The stored record of ``refresh_token`` (used or not), or None; for introspection."""
        try:
            parsed = self._codec.parse(refresh_token)
        except InvalidGrant:
            return None
        return await self._find(parsed)

    # --- helpers --- #

    async def _find(self, parsed: ParsedRefreshToken) -> RefreshRecord | None:
        record = await self._refresh.get_refresh(parsed.selector)
        if record is None or not self._codec.matches(parsed, record.digest):
            return None
        return record

    async def _revoke_everything(self, user_id: str, *, now: float, reason: str) -> None:
        family_ids = await self._refresh.revoke_user_families(user_id, now=now, reason=reason)
        until = self._session_retention(now + self._config.family_lifetime)
        for family_id in family_ids:
            await self._revocations.revoke_session(family_id, expires_at=until)
        # Access tokens carry whole-second iat (RFC 7519 NumericDate): cut at floor(now) so a
        # token minted right after this call, in the same second, stays valid; tokens of the
        # revoked families from that second are caught by their sid above.
        await self._revocations.revoke_subject(
            user_id, issued_before=math.floor(now), expires_at=self._session_retention(now)
        )
        security_event(logger, "user_sessions_revoked", sub=user_id, reason=reason)

    async def _revoke_principal(self, principal: Principal) -> None:
        """Denylist the access token by ``(iss, jti)`` until ``exp`` + margin (profile rule
        12: by identity, never by token bytes)."""
        if principal.jti is not None:
            await self._revocations.revoke_jti(
                principal.issuer,
                principal.jti,
                expires_at=float(principal.expires_at) + self._config.revocation_margin,
            )

    async def _revoke_family(
        self, family_id: str, family_expires_at: float, now: float, reason: str
    ) -> int:
        """Revoke the family's refresh tokens and deny its ``sid`` (reaches access tokens);
        returns how many refresh tokens this call revoked."""
        changed = await self._refresh.revoke_family(family_id, now=now, reason=reason)
        await self._revocations.revoke_session(
            family_id, expires_at=self._session_retention(family_expires_at)
        )
        security_event(logger, "session_family_revoked", sid=family_id, reason=reason)
        return changed

    def _session_retention(self, family_expires_at: float) -> float:
        """How long a session (sid) revocation must be kept: until the last access token
        that could carry the sid has expired, plus the leeway margin."""
        return (
            family_expires_at + self._config.access_lifetime_bound + self._config.revocation_margin
        )
