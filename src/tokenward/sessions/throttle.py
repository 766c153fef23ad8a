"""Login throttling per account and per client IP with exponential back-off.

Design (security profile sec. 6; NIST SP 800-63B sec. 5.2.2; OWASP Authentication Cheat
Sheet "Account Lockout"):

* Counters live in a :mod:`limits` async storage (``limits.aio.storage.MemoryStorage`` for one
  process, ``RedisStorage`` via an ``async+redis://`` URI for many). We use the storage layer
  (atomic increment-with-expiry, a Lua script on Redis) rather than limits' window strategies:
  exponential back-off needs the *number* of failures, not a fixed quota.
* Every failed attempt increments a failure counter per scope (account key, client IP; IPv6
  addresses are bucketed per /64, IPv4-mapped addresses as IPv4). The counter expires
  ``window`` seconds after its first failure.
* From the ``free``-th failure on, the scope is locked for ``base_delay * 2 ** (n - free)``
  seconds, capped at ``max_delay`` (a temporary lock, never permanent, so lockout is not a
  denial of service for the account owner). With the defaults an account gets 5 free tries,
  then waits 1, 2, 4 ... seconds up to 15 minutes: at most ~100 failures per day, NIST's cap.
* :meth:`LoginThrottle.check` raises :class:`~tokenward.errors.Throttled` with ``retry_after``
  (seconds, for ``Retry-After``) while any scope is locked. A success resets the *account*
  counter only; the IP counter keeps counting, so an attacker cannot reset it by logging into
  an account of their own.
* Refresh-token failures have their own per-IP scope (``kind="refresh"``, RFC 9700
  sec. 4.14: the token endpoint is a login too) so guessing refresh tokens is slowed without
  locking a shared NAT address out of password logins.
* Account keys are SHA-256-hashed before they become storage keys (no usernames in Redis).

Time: limits reads the wall clock itself (``time.time()``) and cannot take an injected clock, so
``retry_after`` is computed against the same wall clock. Tests assert counts and lock state.
Concurrent attempts that all pass :meth:`check` before any failure is recorded are each let
through once; the counter still records every one of them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.errors import StorageError

from tokenward.errors import ConfigurationError, StorageUnavailable, Throttled
from tokenward.observability import security_event

__all__ = ["LoginThrottle", "ThrottleConfig", "ThrottlePolicy", "client_bucket"]

logger = logging.getLogger("tokenward.sessions.throttle")

Kind = Literal["login", "refresh"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottlePolicy:
    """Back-off policy of one scope."""

    #: failures allowed before the first lock
    free: int
    #: lock length after the ``free``-th failure (seconds); doubles with every further failure
    base_delay: float = 1.0
    #: longest lock (seconds)
    max_delay: float = 900.0
    #: the failure counter expires this long after its first failure (seconds)
    window: int = 86_400

    def __post_init__(self) -> None:
        if self.free < 1 or self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ConfigurationError("invalid throttle policy")
        if self.window < 1:
            raise ConfigurationError("throttle window must be >= 1 s")

    def delay(self, failures: int) -> float:
        """Lock length after ``failures`` failures (0 while below ``free``)."""
        if failures < self.free:
            return 0.0
        exponent = min(failures - self.free, 62)  # keep 2**n finite
        return min(self.max_delay, self.base_delay * 2.0**exponent)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleConfig:
    """Policies of the three scopes."""

    #: per normalised username
    account: ThrottlePolicy = ThrottlePolicy(free=5)
    #: per client IP (IPv6: per /64) for password logins
    ip: ThrottlePolicy = ThrottlePolicy(free=20)
    #: per client IP (IPv6: per /64) for failed refresh-token grants
    refresh_ip: ThrottlePolicy = ThrottlePolicy(free=50)


def client_bucket(ip: str) -> str:
    """The throttle bucket of a client address: the IPv4 address, or the IPv6 /64 network.

    An unparsable address maps to one shared bucket (fail towards throttling, never crash).
    """
    try:
        addr = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return "unparsable"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def _account_id(username_key: str) -> str:
    return hashlib.sha256(username_key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class LoginThrottle:
    """Per-account and per-IP exponential back-off over a :mod:`limits` storage.

    :param storage: a ``limits.aio.storage`` instance; see :meth:`memory` and :meth:`redis`
    :param config: policies; default :class:`ThrottleConfig()`
    """

    __slots__ = ("_config", "_storage")

    def __init__(self, storage: Storage, *, config: ThrottleConfig | None = None) -> None:
        self._storage = storage
        self._config = ThrottleConfig() if config is None else config

    @classmethod
    def memory(cls, *, config: ThrottleConfig | None = None) -> LoginThrottle:
        """In-process counters (single worker, tests)."""
        return cls(MemoryStorage(wrap_exceptions=True), config=config)

    @classmethod
    def redis(
        cls,
        url: str,
        *,
        key_prefix: str,
        config: ThrottleConfig | None = None,
        connection_pool: Any = None,
    ) -> LoginThrottle:
        """Counters shared through Redis.

        :param url: ``redis://``, ``rediss://`` or ``async+redis://`` URL
        :param key_prefix: namespace of every key this throttle writes
        :param connection_pool: optional ``redis.asyncio.ConnectionPool`` to share with the
            application's client (whoever owns the pool closes it)
        """
        uri = url if url.startswith("async+") else f"async+{url}"
        options: dict[str, Any] = {}
        if connection_pool is not None:
            options["connection_pool"] = connection_pool
        storage = RedisStorage(
            uri,
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            **options,
        )
        return cls(storage, config=config)

    @property
    def config(self) -> ThrottleConfig:
        """The policies in force (frozen)."""
        return self._config

    def _scopes(
        self, username_key: str | None, ip: str | None, kind: Kind
    ) -> list[tuple[str, ThrottlePolicy]]:
        scopes: list[tuple[str, ThrottlePolicy]] = []
        if kind == "refresh":
            if ip is not None:
                scopes.append((f"rip:{client_bucket(ip)}", self._config.refresh_ip))
            return scopes
        if username_key is not None:
            scopes.append((f"acct:{_account_id(username_key)}", self._config.account))
        if ip is not None:
            scopes.append((f"ip:{client_bucket(ip)}", self._config.ip))
        return scopes

    async def check(
        self, username_key: str | None, ip: str | None, *, kind: Kind = "login"
    ) -> None:
        """Raise :class:`Throttled` while the account or the client is locked.

        :param username_key: normalised username (``normalize_username``), or None
        :param ip: client address, or None
        :param kind: ``"login"`` (account + IP scopes) or ``"refresh"`` (refresh IP scope)
        """
        wait = 0.0
        try:
            for scope, _policy in self._scopes(username_key, ip, kind):
                if await self._storage.get(f"lock:{scope}") > 0:
                    expiry = await self._storage.get_expiry(f"lock:{scope}")
                    wait = max(wait, expiry - time.time(), 1.0)
        except StorageError as exc:
            raise StorageUnavailable("throttle storage unavailable") from exc
        if wait > 0:
            raise Throttled(retry_after=math.ceil(wait))

    async def record_failure(
        self, username_key: str | None, ip: str | None, *, kind: Kind = "login"
    ) -> float:
        """Count one failed attempt; returns the lock (seconds) it started, 0 if none."""
        longest = 0.0
        try:
            for scope, policy in self._scopes(username_key, ip, kind):
                failures = await self._storage.incr(f"n:{scope}", policy.window)
                delay = policy.delay(failures)
                if delay > 0:
                    lock = f"lock:{scope}"
                    await self._storage.clear(lock)
                    await self._storage.incr(lock, math.ceil(delay))
                    longest = max(longest, delay)
                    # "log every lockout" (security profile sec. 6); one event per lock, not
                    # per refused attempt, so an attack cannot flood the log
                    security_event(
                        logger,
                        "login_throttled",
                        scope=scope.split(":", 1)[0],
                        failures=failures,
                        retry_after=math.ceil(delay),
                    )
        except StorageError as exc:
            raise StorageUnavailable("throttle storage unavailable") from exc
        return longest

    async def record_success(self, username_key: str | None, ip: str | None) -> None:
        """Reset the account's counter and lock after a successful login (not the IP's)."""
        if username_key is None:
            return
        scope = f"acct:{_account_id(username_key)}"
        try:
            await self._storage.clear(f"n:{scope}")
            await self._storage.clear(f"lock:{scope}")
        except StorageError as exc:
            raise StorageUnavailable("throttle storage unavailable") from exc

    async def failures(
        self, username_key: str | None, ip: str | None, *, kind: Kind = "login"
    ) -> dict[str, int]:
        """Current failure counts by scope name (``account``/``ip``/``refresh_ip``); for ops."""
        names = {"acct": "account", "ip": "ip", "rip": "refresh_ip"}
        out: dict[str, int] = {}
        try:
            for scope, _policy in self._scopes(username_key, ip, kind):
                out[names[scope.split(":", 1)[0]]] = await self._storage.get(f"n:{scope}")
        except StorageError as exc:
            raise StorageUnavailable("throttle storage unavailable") from exc
        return out

    async def reset(self) -> None:
        """Delete every counter of this throttle (tests, admin)."""
        try:
            await self._storage.reset()
        except StorageError as exc:
            raise StorageUnavailable("throttle storage unavailable") from exc
