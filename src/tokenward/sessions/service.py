"""``AuthService``: users, logins, refresh-token rotation with reuse detection, revocation.

Framework-free; it only calls the storage Protocols (``tokenward.storage.base``). The flows
follow the security profile sec. 4 and 6:

* **login**: throttle check, look-up by normalised username, Argon2id verification (against
  a dummy hash for unknown users), one generic :class:`InvalidCredentials` for unknown user,
  wrong password and disabled account; rehash when the parameters changed; a new session
  family.
* **refresh**: strict parse, one read of the token with its user and its session/subject
  denylist entries (``RefreshStore.load_refresh_context``), constant-time digest compare,
  one atomic rotate: two round trips on SQL (issue 3 sec. 6). A token that
  was already used is *reuse* (unless it is the immediate parent within the grace window,
  which mints at most one sibling per parent, claimed atomically in the store):
  the whole family is revoked in the refresh store **and** its session id in the revocation
  store, so every access token carrying that ``sid`` is refused (RFC 9700 sec. 4.14.2; the
  Auth0/Okta model). Otherwise the token is consumed and its successor stored by one atomic
  ``RefreshStore.rotate``; the loser of a concurrent rotation is treated as reuse. Unknown,
  expired, revoked and reused tokens all raise the same :class:`InvalidGrant`
  (RFC 6749 sec. 5.2).
* **logout / revoke_session / revoke_token** (``_revoking.py``) and **logout_all /
  set_password / disable_user** (``_accounts.py``) revoke families, sessions, the presented
  ``jti`` and, for account-wide actions, every token of the subject issued before now.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import NoReturn, Protocol

from tokenward.clock import Clock, SystemClock
from tokenward.errors import InvalidCredentials, InvalidGrant, Throttled
from tokenward.observability import security_event
from tokenward.sessions._accounts import AccountAdmin
from tokenward.sessions.config import SessionConfig, TokenPair
from tokenward.sessions.passwords import PasswordHasher, normalize_username
from tokenward.sessions.refresh import ParsedRefreshToken, RefreshTokenCodec
from tokenward.sessions.revocation import revocation_check_for
from tokenward.sessions.throttle import LoginThrottle
from tokenward.storage.base import (
    RefreshContext,
    RefreshRecord,
    RefreshStore,
    RevocationStore,
    UserRecord,
    UserStore,
)
from tokenward.tokens import TokenIssuer
from tokenward.validation import RevocationCheck, TokenValidator

__all__ = ["AuthService", "OutcomeRecorder"]

logger = logging.getLogger("tokenward.sessions")


class OutcomeRecorder(Protocol):
    """Receives login/refresh outcomes (``tokenward.observability.Metrics`` fits)."""

    def login_outcome(self, outcome: str) -> None: ...

    def refresh_outcome(self, outcome: str) -> None: ...


class AuthService(AccountAdmin):
    """The session service the web layer and the CLI call.

    :param users: user store
    :param refresh: refresh-token store (must rotate atomically)
    :param revocations: access-token denylist (jti, session, subject cut-offs)
    :param throttle: login throttle
    :param issuer: returns the current ``TokenIssuer`` (called per token so key rotation
        takes effect at once)
    :param hasher: Argon2id password hasher
    :param config: session lifetimes and options
    :param clock: time source
    :param validator: verifies access tokens presented to :meth:`revoke_token` (RFC 7009);
        without one, access tokens given there are ignored
    :param outcomes: optional metrics sink for login/refresh outcomes
    """

    def __init__(
        self,
        *,
        users: UserStore,
        refresh: RefreshStore,
        revocations: RevocationStore,
        throttle: LoginThrottle,
        issuer: Callable[[], TokenIssuer],
        hasher: PasswordHasher,
        config: SessionConfig | None = None,
        clock: Clock | None = None,
        validator: TokenValidator | None = None,
        outcomes: OutcomeRecorder | None = None,
    ) -> None:
        self._users = users
        self._refresh = refresh
        self._revocations = revocations
        self._throttle = throttle
        self._issuer = issuer
        self._hasher = hasher
        self._config = SessionConfig() if config is None else config
        self._clock: Clock = SystemClock() if clock is None else clock
        self._validator = validator
        self._outcomes = outcomes
        self._codec = RefreshTokenCodec(pepper=self._config.pepper)
        self._revocation_check = revocation_check_for(revocations)
        # What one refresh-context read answers, fixed by the stores given (see _live_user):
        # the joined user when the refresh store is the user store, and the denylist when
        # its tables are the revocation store's durable record (the store itself, or
        # FallbackRevocationStore.durable in front of it).
        store: object = refresh
        self._context_has_user = users is store
        self._context_has_denylist = (
            revocations is store or getattr(revocations, "durable", None) is store
        )

    @property
    def config(self) -> SessionConfig:
        """The session configuration (frozen)."""
        return self._config

    @property
    def revocation_check(self) -> RevocationCheck:
        """The hook for ``TokenValidator(revocation=...)``; sync-capable on the memory store."""
        return self._revocation_check

    # --- login --- #

    async def authenticate_user(
        self, username: str, password: str, *, ip: str | None = None
    ) -> UserRecord:
        """Check a username and password (throttled); for login and the OAuth password grant.

        :raises InvalidRequest: malformed input (no hash is computed)
        :raises Throttled: the account or the client is locked, or the hashing pool is
            saturated; nothing was verified
        :raises InvalidCredentials: unknown user, wrong password or disabled account alike
        """
        key = normalize_username(username)
        self._hasher.check_length(password)
        try:
            await self._throttle.check(key, ip)
        except Throttled:
            self._outcome("login", "throttled")  # the lock itself was logged when it began
            raise
        user = await self._users.get_user_by_username(key)
        try:
            if user is None:
                # Same Argon2id cost and path as a wrong password (OWASP Authentication
                # Cheat Sheet), on the hasher's bounded pool.
                ok = await self._hasher.averify_dummy(password)
            else:
                ok = await self._hasher.averify(user.password_hash, password)
        except Throttled:
            self._outcome("login", "throttled")  # hashing pool saturated: nothing verified
            raise
        if user is None or not ok or user.disabled:
            await self._throttle.record_failure(key, ip)
            self._outcome("login", "failed")
            reason = "unknown_user" if user is None else "disabled" if ok else "bad_password"
            security_event(logger, "login_failed", reason=reason, ip=ip)
            raise InvalidCredentials()
        await self._throttle.record_success(key, ip)
        if self._hasher.needs_rehash(user.password_hash):
            user = await self._rehash(user, password)
        self._outcome("login", "ok")
        return user

    async def login(
        self, username: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> TokenPair:
        """Authenticate and start a new session family.

        :raises InvalidRequest | Throttled | InvalidCredentials: see :meth:`authenticate_user`
        """
        user = await self.authenticate_user(username, password, ip=ip)
        return await self.start_session(user, ip=ip, user_agent=user_agent)

    async def start_session(
        self, user: UserRecord, *, ip: str | None = None, user_agent: str | None = None
    ) -> TokenPair:
        """Open a new family for an already authenticated ``user``."""
        now = self._clock.now()
        token, record = self._mint(
            family_id=uuid.uuid4().hex,
            parent_id=None,
            user_id=user.id,
            family_expires_at=now + self._config.family_lifetime,
            now=now,
            ip=ip,
            user_agent=user_agent,
        )
        await self._refresh.create_refresh(record)
        return self._pair(user, record, token)

    # --- refresh --- #

    async def refresh(
        self, refresh_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> TokenPair:
        """Rotate ``refresh_token``: consume it, return a new access and refresh token.

        :raises InvalidGrant: unknown, malformed, expired, revoked or reused token, disabled
            user (one generic error, RFC 6749 sec. 5.2)
        :raises Throttled: too many failed refresh attempts from this client
        """
        await self._throttle.check(None, ip, kind="refresh")
        try:
            return await self._refresh_once(refresh_token, ip=ip, user_agent=user_agent)
        except InvalidGrant:
            await self._throttle.record_failure(None, ip, kind="refresh")
            raise

    async def _refresh_once(
        self, refresh_token: str, *, ip: str | None, user_agent: str | None
    ) -> TokenPair:
        # Two round trips on SQL: one read of everything the decision needs
        # (load_refresh_context), one atomic conditional rotate (issue 3 sec. 6).
        parsed = self._parse_or_fail(refresh_token)
        context = await self._refresh.load_refresh_context(parsed.selector)
        if context is None or not self._codec.matches(parsed, context.record.digest):
            self._fail("invalid")
        record = context.record
        now = self._clock.now()
        if record.revoked_at is not None:
            self._fail("revoked")
        if record.used_at is not None:
            return await self._used(context, now=now, ip=ip, user_agent=user_agent)
        if now >= record.expires_at or now >= record.family_expires_at:
            self._fail("expired")
        user = await self._live_user(context)
        token, new = self._successor(record, now=now, ip=ip, user_agent=user_agent)
        outcome = await self._refresh.rotate(record.id, new, now=now)
        if not outcome.rotated:
            # Lost a race (or the family was revoked meanwhile): re-read and judge again.
            current = await self._refresh.load_refresh_context(record.id)
            if current is None or current.record.revoked_at is not None:
                self._fail("revoked")
            if current.record.used_at is not None:
                return await self._used(current, now=now, ip=ip, user_agent=user_agent)
            self._fail("expired")
        self._outcome("refresh", "rotated")
        return self._pair(user, new, token)

    async def _used(
        self, context: RefreshContext, *, now: float, ip: str | None, user_agent: str | None
    ) -> TokenPair:
        """A consumed token came back: grace retry for the immediate parent, else reuse."""
        record = context.record
        if (
            self._config.grace_period > 0
            and record.used_at is not None
            and now - record.used_at <= self._config.grace_period
            and record.replaced_by is not None
            and now < record.family_expires_at
        ):
            child = await self._refresh.get_refresh(record.replaced_by)
            # Only the direct parent of the *current* token qualifies (profile sec. 4.3), and
            # only once: the store claims the parent's single grace slot atomically, so a
            # further replay (a concurrent loser, a thief) is reuse and kills the family.
            if (
                child is not None
                and child.used_at is None
                and child.revoked_at is None
                and record.grace_child is None
            ):
                user = await self._live_user(context)
                token, sibling = self._successor(record, now=now, ip=ip, user_agent=user_agent)
                if await self._refresh.create_grace_sibling(record.id, sibling, now=now):
                    self._outcome("refresh", "rotated")
                    return self._pair(user, sibling, token)
        await self._revoke_family(record.family_id, record.family_expires_at, now, "reuse")
        self._outcome("refresh", "reuse_detected")
        security_event(
            logger,
            "refresh_token_reuse_detected",
            sub=record.user_id,
            sid=record.family_id,
            refresh_id=record.id,
            code=InvalidGrant.code,
        )
        raise InvalidGrant()

    async def _live_user(self, context: RefreshContext) -> UserRecord:
        """The token's user if still allowed to refresh, else :class:`InvalidGrant`."""
        record = context.record
        # Second barrier: a family whose session was revoked never refreshes again, even if
        # a concurrent rotation slipped a token past revoke_family (R3; RFC 9700 sec.
        # 4.14.2). The context read this store's own denylist tables in the same statement.
        # They are the durable record of every revocation: FallbackRevocationStore writes
        # them first and Redis only caches them, so with Redis configured this check sees
        # at least what Redis would (more, while the cache is stale or down) and the refresh
        # path needs no Redis call (nor does it depend on Redis being up: fail_closed guards
        # answers the cache cannot give, and this one comes from the durable record). Any
        # other revocation store is asked as well.
        revoked = context.denylisted
        if not revoked and not self._context_has_denylist:
            revoked = await self._revocations.is_revoked(
                issuer="", jti="", sid=record.family_id, sub=record.user_id, iat=record.created_at
            )
        if revoked:
            self._fail("revoked")
        if self._context_has_user:
            user = context.user  # joined in the same read
        else:
            user = await self._users.get_user(record.user_id)
        if user is None or user.disabled:
            self._fail("revoked")
        cutoff = user.tokens_valid_after
        if cutoff is not None and record.created_at < cutoff:
            self._fail("revoked")
        return user

    def _successor(
        self, parent: RefreshRecord, *, now: float, ip: str | None, user_agent: str | None
    ) -> tuple[str, RefreshRecord]:
        return self._mint(
            family_id=parent.family_id,
            parent_id=parent.id,
            user_id=parent.user_id,
            family_expires_at=parent.family_expires_at,
            now=now,
            ip=ip,
            user_agent=user_agent,
        )

    def _mint(
        self,
        *,
        family_id: str,
        parent_id: str | None,
        user_id: str,
        family_expires_at: float,
        now: float,
        ip: str | None,
        user_agent: str | None,
    ) -> tuple[str, RefreshRecord]:
        """A new token and its record; idle expiry never passes the family's expiry."""
        token, parsed = self._codec.new()
        record = RefreshRecord(
            id=parsed.selector,
            family_id=family_id,
            parent_id=parent_id,
            user_id=user_id,
            digest=self._codec.digest(parsed),
            created_at=now,
            expires_at=min(now + self._config.refresh_idle_lifetime, family_expires_at),
            family_expires_at=family_expires_at,
            user_agent=(
                user_agent[: self._config.max_user_agent_length]
                if isinstance(user_agent, str)
                else None
            ),
            ip=ip[:64] if isinstance(ip, str) else None,
        )
        return token, record

    # --- helpers --- #

    def _parse_or_fail(self, refresh_token: object) -> ParsedRefreshToken:
        try:
            return self._codec.parse(refresh_token)
        except InvalidGrant:
            self._outcome("refresh", "invalid")
            raise

    def _pair(self, user: UserRecord, record: RefreshRecord, token: str) -> TokenPair:
        access = self._issuer().issue(
            user.id,
            name=user.username,
            roles=user.roles,
            claims=dict(user.claims) or None,
            session_id=record.family_id,
        )
        return TokenPair(access, token, record.expires_at, record.family_id)

    def _outcome(self, flow: str, outcome: str) -> None:
        if self._outcomes is None:
            return
        if flow == "login":
            self._outcomes.login_outcome(outcome)
        else:
            self._outcomes.refresh_outcome(outcome)

    def _fail(self, outcome: str) -> NoReturn:
        """Raise the one generic :class:`InvalidGrant` after recording why."""
        self._outcome("refresh", outcome)
        raise InvalidGrant()
