"""The service's wired object graph, shared by the HTTP app and the CLI.

``open_runtime(settings)`` opens the database engine, the stores, Redis (when configured), the
signing keys, and builds the issuer, validator, :class:`~tokenward.sessions.AuthService` and
CSRF protector on top of them. Closing the context manager disposes of every connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tokenward.clock import Clock, SystemClock
from tokenward.errors import ConfigurationError
from tokenward.service.keys import SigningKeys, open_signing_keys
from tokenward.service.settings import DAY, Settings, read_secret, validate_for_production
from tokenward.tokens import issuer_factory

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tokenward.observability import Metrics
    from tokenward.sessions import AuthService, LoginThrottle, PasswordHasher, SessionConfig
    from tokenward.storage.base import RevocationStore
    from tokenward.storage.sql import SqlStore
    from tokenward.tokens import TokenIssuer
    from tokenward.validation import TokenValidator, ValidationPolicy
    from tokenward.web import CsrfProtector

__all__ = ["Runtime", "open_runtime"]

log = logging.getLogger("tokenward.service")

_CSRF_SECRET_FILE = "csrf-secret"  # noqa: S105 - a file name


@dataclass(frozen=True, slots=True, eq=False)
class Runtime:
    """Everything a request handler or a CLI command needs. Built by :func:`open_runtime`."""

    settings: Settings
    clock: Clock
    #: the SQLAlchemy engine every SQL component shares
    engine: AsyncEngine
    #: the SQL store (``UserStore`` + ``RefreshStore`` + ``RevocationStore``)
    store: SqlStore
    #: the revocation store the sessions write to and the validator reads (Redis-cached or SQL)
    revocations: RevocationStore
    #: the Redis client, or None when no Redis is configured (its URL may hold a password)
    redis: Redis | None = field(repr=False)
    # Fields holding key material or the CSRF key stay out of repr() (security profile:
    # secrets never reach logs or tracebacks).
    #: the signing keys (``tokenward.keyring.KeyManager``; a static key for HS*)
    keys: SigningKeys = field(repr=False)
    #: returns a ``TokenIssuer`` bound to the currently active key
    issuer: Callable[[], TokenIssuer] = field(repr=False)
    #: validator over ``keys`` with the sessions' revocation check
    validator: TokenValidator = field(repr=False)
    #: users, logins, refresh rotation, logout, RFC 7009 revocation (holds the issuer, pepper)
    auth: AuthService = field(repr=False)
    #: the Argon2id password hasher
    hasher: PasswordHasher = field(repr=False)
    #: issues and checks the session-bound CSRF tokens of cookie mode (holds the CSRF key)
    csrf: CsrfProtector = field(repr=False)


def _csrf_secret(settings: Settings) -> bytes:
    cookies = settings.cookies
    secret = read_secret(cookies.csrf_secret, cookies.csrf_secret_file, name="cookies.csrf_secret")
    if secret is not None:
        if len(secret) < 32:
            raise ConfigurationError("cookies.csrf_secret must be at least 32 bytes")
        return secret
    if not settings.service.dev:
        raise ConfigurationError("cookies.csrf_secret is not set")
    return _persisted_secret(settings.service.data_dir / _CSRF_SECRET_FILE)


def _persisted_secret(path: Path) -> bytes:
    """Read or create a random 32-byte secret file (mode 0600) in the data dir (dev only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created earlier (or by a concurrent instance)
        return path.read_bytes()
    secret = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret


def _redacted_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by create_engine itself
        return "<database url>"


async def _prepare_database(settings: Settings, url: str) -> None:
    """Migrate when configured (always in dev); otherwise refuse an unmigrated database."""
    from tokenward.storage.sql import database_is_current, upgrade_database

    schema = settings.database.pg_schema
    if settings.service.dev or settings.database.auto_migrate:
        await upgrade_database(url, schema=schema)
        return
    if not await database_is_current(url, schema=schema):
        raise ConfigurationError(
            f"database {_redacted_url(url)} has no (or outdated) migrations applied; "
            "run `tokenward db upgrade` first"
        )


def _session_config(settings: Settings) -> SessionConfig:
    from tokenward.sessions import SessionConfig

    sessions = settings.sessions
    pepper = read_secret(
        sessions.refresh_pepper, sessions.refresh_pepper_file, name="sessions.refresh_pepper"
    )
    return SessionConfig(
        refresh_idle_lifetime=sessions.refresh_idle_days * DAY,
        family_lifetime=sessions.refresh_family_days * DAY,
        grace_period=float(sessions.grace_seconds),
        pepper=pepper,
        access_lifetime_bound=settings.access_lifetime,
        revocation_margin=float(settings.token.clock_skew_seconds) + 60.0,
    )


def _throttle(settings: Settings, redis_client: Redis | None) -> LoginThrottle:
    """The login/refresh throttle: in Redis (shared by every instance) when one is
    configured, else in memory."""
    from tokenward.sessions import LoginThrottle, ThrottleConfig, ThrottlePolicy

    t = settings.throttle

    def policy(free: int) -> ThrottlePolicy:
        return ThrottlePolicy(
            free=free,
            base_delay=t.base_delay_seconds,
            max_delay=max(t.max_delay_seconds, t.base_delay_seconds),
            window=t.window_seconds,
        )

    config = ThrottleConfig(
        account=policy(t.account_failures),
        ip=policy(t.ip_failures),
        refresh_ip=policy(t.refresh_failures),
    )
    if redis_client is not None and settings.redis.url:
        # The runtime's client's pool, not a second one: open_runtime closes it on exit.
        return LoginThrottle.redis(
            settings.redis.url,
            key_prefix=f"{settings.redis.key_prefix}throttle",
            config=config,
            connection_pool=redis_client.connection_pool,
        )
    return LoginThrottle.memory(config=config)


def _policy(settings: Settings, keys: SigningKeys) -> ValidationPolicy:
    from tokenward.validation import ValidationPolicy

    token = settings.token
    # Every published key's algorithm, plus the configured one (RFC 8725 sec. 3.1: the key
    # decides; the allowlist only has to admit each key's own algorithm).
    algorithms = {token.algorithm, *(key.alg for key in keys.current_keys())}
    return ValidationPolicy(
        issuers=(token.issuer or "",),
        audiences=token.audiences,
        algorithms=tuple(sorted(algorithms)),
        leeway=float(token.clock_skew_seconds),
        max_lifetime=max(settings.access_lifetime, 60.0),
    )


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    hasher: PasswordHasher | None = None,
) -> AsyncIterator[Runtime]:
    """Open every backend described by ``settings`` and wire the services.

    Outside ``--dev`` the configuration is checked by :func:`validate_for_production` and an
    unmigrated database is refused; in dev mode migrations are applied automatically.

    :param clock: time source (tests inject a ``FixedClock``); default the system clock.
    :param metrics: a ``tokenward.observability.Metrics`` to record outcomes into.
    :param hasher: a ``PasswordHasher`` (tests pass a cheap one); default Argon2id RFC 9106.
    :raises ConfigurationError: unsafe or inconsistent configuration, unmigrated database.
    :raises StorageUnavailable: the database cannot be reached.
    """
    from tokenward.sessions import AuthService, PasswordHasher, revocation_check_for
    from tokenward.storage.sql import SqlStore, create_engine
    from tokenward.validation import TokenValidator
    from tokenward.web.csrf import CsrfProtector

    if not settings.service.dev:
        validate_for_production(settings)
    clock = clock or SystemClock()
    csrf = CsrfProtector(_csrf_secret(settings), allowed_origins=settings.http.allowed_origins)
    url = settings.database_url
    if settings.database.url is None:
        settings.service.data_dir.mkdir(parents=True, exist_ok=True)
    await _prepare_database(settings, url)
    engine = create_engine(url, schema=settings.database.pg_schema)
    redis_client: Redis | None = None
    owned_hasher = hasher is None  # the runtime closes only the pool it created
    try:
        store = SqlStore(engine)
        revocations: RevocationStore = store
        if settings.redis.url:
            revocations, redis_client = await _open_redis(settings, store, clock)
        keys = await open_signing_keys(settings, engine=engine, clock=clock, metrics=metrics)
        token = settings.token
        issuer = issuer_factory(
            keys,
            issuer=token.issuer or "",
            audience=settings.audience,
            lifetime=settings.access_lifetime,
            client_id=token.client_id,
            clock=clock,
        )
        validator = TokenValidator(
            keys,
            _policy(settings, keys),
            clock=clock,
            revocation=revocation_check_for(revocations),
        )
        hasher = hasher if hasher is not None else PasswordHasher()
        auth = AuthService(
            users=store,
            refresh=store,
            revocations=revocations,
            throttle=_throttle(settings, redis_client),
            issuer=issuer,
            hasher=hasher,
            config=_session_config(settings),
            clock=clock,
            validator=validator,
            outcomes=metrics,
        )
        yield Runtime(
            settings=settings,
            clock=clock,
            engine=engine,
            store=store,
            revocations=revocations,
            redis=redis_client,
            keys=keys,
            issuer=issuer,
            validator=validator,
            auth=auth,
            hasher=hasher,
            csrf=csrf,
        )
    finally:
        if owned_hasher and hasher is not None:  # set inside try once created
            await hasher.aclose()
        if redis_client is not None:
            with contextlib.suppress(Exception):
                await redis_client.aclose()
        await engine.dispose()


async def _open_redis(
    settings: Settings, store: SqlStore, clock: Clock
) -> tuple[RevocationStore, Redis]:
    """The Redis revocation cache in front of the SQL store, and the client.

    Writes go to SQL first, then Redis; reads fall back to SQL whenever Redis is down or not
    loaded, so a Redis outage never turns a revoked token into an accepted one.
    """
    from tokenward.storage.redis import (
        FallbackRevocationStore,
        RedisRevocationStore,
        create_redis,
    )

    url = settings.redis.url
    assert url is not None
    client = create_redis(url)
    cache = RedisRevocationStore(client, key_prefix=f"{settings.redis.key_prefix}rev", clock=clock)
    revocations = FallbackRevocationStore(
        cache, store, clock=clock, fail_closed=settings.redis.fail_closed
    )
    await revocations.rebuild()  # best effort; SQL answers until it succeeds
    return revocations, client
