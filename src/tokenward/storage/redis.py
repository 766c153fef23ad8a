"""Redis revocation cache (redis-py asyncio) in front of the durable SQL store.

Redis holds nothing durable here (issue 3, sec. 1): every entry is written to SQL first and
then to Redis with ``TTL = expires_at - now``; ``rebuild_from`` reloads Redis from SQL and
only then sets a *ready* marker. A look-up is one ``MGET`` (one round trip) of the marker and
the jti / sid / subject keys. Without the marker (Redis restarted or flushed) the cache does
not answer, and :class:`FallbackRevocationStore` asks SQL instead, so an empty cache never
accepts a revoked token. Redis must run with ``maxmemory-policy noeviction``: an evicted
entry would be a forgotten revocation.

**Propagation bound.** A revocation written through any instance is seen by every instance
at once (bound 0) whenever its Redis write succeeds, or fails but the marker delete
(``invalidate``) succeeds. When *both* fail (typically a Redis timeout), the cache may lack
the entry while the marker still stands. The marker therefore lives at most ``ready_ttl``
seconds (default 30, :data:`DEFAULT_READY_TTL`), counted from the moment the rebuild began
to read SQL: it carries its deadline as its value (checked against the instance clock in
the same ``MGET``) and a Redis ``PX`` expiry (checked by Redis's own clock). Once it is gone,
every instance answers from SQL and rebuilds the cache from SQL (one rebuild at a time per
instance). So **no instance trusts a cache that misses a committed revocation for longer
than ``ready_ttl`` seconds** after that revocation's SQL commit; the writing instance
itself reads SQL at once. Steady-state look-ups stay one round trip; the price is one
rebuild (a full read of the live revocations) per instance every ``ready_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tokenward.clock import Clock
from tokenward.errors import ConfigurationError, StorageUnavailable
from tokenward.storage.base import RevocationDump, RevocationSource, RevocationStore

__all__ = [
    "DEFAULT_READY_TTL",
    "DurableRevocations",
    "FallbackRevocationStore",
    "RedisRevocationStore",
    "create_redis",
]

T = TypeVar("T")

#: seconds a rebuilt cache is trusted before it must be rebuilt from SQL (the bound above)
DEFAULT_READY_TTL = 30.0

_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")

# Keep the larger value and the longer TTL: a later cut-off or expiry always wins.
_UPSERT_MAX = """
local value = ARGV[1]
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(value) then value = current end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then ttl = left end
redis.call('SET', KEYS[1], value, 'PX', ttl)
return 1
"""


def create_redis(url: str, *, timeout: float = 0.25) -> aioredis.Redis:
    """A client for the revocation fast path: short timeouts, no retries.

    A slow or dead Redis must not stall token validation; the caller falls back to SQL.
    """
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return client


@asynccontextmanager
async def _unavailable_on_error() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise StorageUnavailable("redis unavailable") from exc


def _digest(*parts: str) -> str:
    # identities may contain ':' or be long; hash a length-prefixed encoding into the key
    data = "".join(f"{len(p)}:{p}" for p in parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


class RedisRevocationStore:
    """``RevocationStore`` on Redis alone (use it behind :class:`FallbackRevocationStore`).

    :param client: a ``redis.asyncio.Redis`` (see :func:`create_redis`)
    :param key_prefix: namespace of every key (``[A-Za-z0-9_.:-]``)
    :param clock: turns ``expires_at`` into TTLs and dates the ready marker
    :param ready_ttl: seconds a rebuild is trusted (the propagation bound of a revocation
        whose Redis write and invalidation both failed; see the module docstring)
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        key_prefix: str,
        clock: Clock,
        ready_ttl: float = DEFAULT_READY_TTL,
    ) -> None:
        if not _PREFIX_RE.fullmatch(key_prefix):
            raise ConfigurationError("key_prefix must match [A-Za-z0-9_.:-]{1,100}")
        if not 0 < ready_ttl <= 3600:
            raise ConfigurationError("ready_ttl must be in (0, 3600] seconds")
        self._ready_ttl = ready_ttl
        self._redis = client
        self._prefix = key_prefix
        self._clock = clock
        self._upsert = client.register_script(_UPSERT_MAX)

    def _key(self, kind: str, *parts: str) -> str:
        return (
            f"{self._prefix}:rv:{kind}:{_digest(*parts)}" if parts else f"{self._prefix}:rv:{kind}"
        )

    def _ttl_ms(self, expires_at: float) -> int:
        return math.ceil((expires_at - self._clock.now()) * 1000)

    async def _put(self, key: str, value: float, expires_at: float) -> None:
        ttl = self._ttl_ms(expires_at)
        if ttl <= 0:  # already expired: the token's own exp rejects it
            return
        async with _unavailable_on_error():
            await self._upsert(keys=[key], args=[repr(float(value)), ttl])

    async def revoke_jti(self, issuer: str, jti: str, *, expires_at: float) -> None:
        await self._put(self._key("jti", issuer, jti), 1.0, expires_at)

    async def revoke_session(self, sid: str, *, expires_at: float) -> None:
        await self._put(self._key("sid", sid), 1.0, expires_at)

    async def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float) -> None:
        """Reject tokens of ``sub`` with ``iat < issued_before``; a later cut-off wins."""
        await self._put(self._key("sub", sub), issued_before, expires_at)

    async def lookup(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool | None:
        """One ``MGET``; ``None`` when the cache is not loaded (no ready marker, or its
        deadline has passed)."""
        keys = [self._key("ready"), self._key("jti", issuer, jti), self._key("sub", sub)]
        if sid is not None:
            keys.append(self._key("sid", sid))
        async with _unavailable_on_error():
            values: list[Any] = await self._redis.mget(keys)
        if values[0] is None or not self._clock.now() < _deadline(values[0]):
            return None
        if values[1] is not None or (len(values) > 3 and values[3] is not None):
            return True
        return values[2] is not None and iat < float(values[2])

    async def is_revoked(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool:
        """Like :meth:`lookup`, but an unloaded cache raises ``StorageUnavailable``."""
        found = await self.lookup(issuer=issuer, jti=jti, sid=sid, sub=sub, iat=iat)
        if found is None:
            raise StorageUnavailable("revocation cache not loaded")
        return found

    async def prune_revocations(self, *, now: float) -> int:
        """Nothing to do: Redis expires entries by TTL."""
        return 0

    async def rebuild_from(self, source: RevocationSource) -> int:
        """Load every live entry of ``source``, then mark the cache ready for ``ready_ttl``
        seconds counted from *before* the read, so the marker never outlives the bound for a
        revocation committed while the rebuild ran; returns the count."""
        started = self._clock.now()
        deadline = started + self._ready_ttl
        dump = await source.dump_revocations(now=started)
        entries: list[tuple[str, float, float]] = [
            *((self._key("jti", i, j), 1.0, e) for i, j, e in dump.jtis),
            *((self._key("sid", s), 1.0, e) for s, e in dump.sessions),
            *((self._key("sub", s), b, e) for s, b, e in dump.subjects),
        ]
        async with _unavailable_on_error():
            for start in range(0, len(entries), 500):
                pipe = self._redis.pipeline(transaction=False)
                for key, value, expires_at in entries[start : start + 500]:
                    ttl = self._ttl_ms(expires_at)
                    if ttl > 0:
                        await self._upsert(keys=[key], args=[repr(value), ttl], client=pipe)
                await pipe.execute()
            left = self._ttl_ms(deadline)
            if left > 0:
                await self._redis.set(self._key("ready"), repr(deadline), px=left)
        return len(entries)

    async def invalidate(self) -> None:
        """Drop the ready marker: look-ups go to SQL until the next rebuild."""
        async with _unavailable_on_error():
            await self._redis.delete(self._key("ready"))

    async def clear(self) -> int:
        """Delete every key under this prefix (tests, ``tokenward db`` maintenance)."""
        deleted = 0
        async with _unavailable_on_error():
            async for key in self._redis.scan_iter(match=f"{self._prefix}:rv:*", count=500):
                deleted += int(await self._redis.delete(key))
        return deleted


def _deadline(marker: Any) -> float:
    try:
        return float(marker)
    except (TypeError, ValueError):  # a foreign or pre-TTL marker: not trusted
        return -math.inf


class DurableRevocations(RevocationStore, RevocationSource, Protocol):
    """The durable side of :class:`FallbackRevocationStore` (``SqlStore``, ``MemoryStore``)."""


class FallbackRevocationStore:
    """Write-through Redis cache in front of a durable store, with a safe fallback.

    Writes go to ``durable`` first (its error propagates), then to Redis. Reads use Redis
    when it is loaded and reachable; otherwise ``durable`` answers, or, with
    ``fail_closed=True``, an unreachable Redis raises ``StorageUnavailable``. A failed cache
    write marks the cache stale: this instance reads from ``durable`` and rebuilds Redis as
    soon as it answers again; it also deletes the ready marker so the other instances read
    ``durable`` too, and if that delete fails as well they stop trusting the cache when the
    marker's ``ready_ttl`` runs out (the propagation bound in the module docstring). Never
    does a Redis failure turn into "not revoked" for longer than that bound.

    :param retry_after: seconds to stop trying Redis after it failed (circuit breaker)
    """

    def __init__(
        self,
        cache: RedisRevocationStore,
        durable: DurableRevocations,
        *,
        clock: Clock,
        fail_closed: bool = False,
        retry_after: float = 5.0,
    ) -> None:
        self._cache = cache
        self._durable = durable
        self._clock = clock
        self._fail_closed = fail_closed
        self._retry_after = retry_after
        self._down_until = 0.0
        self._stale = False
        self._rebuilding = asyncio.Lock()
        self._log = logging.getLogger("tokenward.storage.redis")

    @property
    def durable(self) -> DurableRevocations:
        """The durable store behind the cache: it holds every revocation (written first)."""
        return self._durable

    async def _write(
        self, durable_op: Awaitable[None], cache_op: Callable[[], Awaitable[None]]
    ) -> None:
        await durable_op
        try:
            await cache_op()
        except StorageUnavailable:
            # the cache now misses a revocation: stop every instance from trusting it
            # (best effort) and read from the durable store here until a rebuild succeeds
            self._stale = True
            self._mark_down("revocation not written to redis; reading from SQL until rebuilt")
            with contextlib.suppress(StorageUnavailable):
                await self._cache.invalidate()

    async def revoke_jti(self, issuer: str, jti: str, *, expires_at: float) -> None:
        await self._write(
            self._durable.revoke_jti(issuer, jti, expires_at=expires_at),
            lambda: self._cache.revoke_jti(issuer, jti, expires_at=expires_at),
        )

    async def revoke_session(self, sid: str, *, expires_at: float) -> None:
        await self._write(
            self._durable.revoke_session(sid, expires_at=expires_at),
            lambda: self._cache.revoke_session(sid, expires_at=expires_at),
        )

    async def revoke_subject(self, sub: str, *, issued_before: float, expires_at: float) -> None:
        await self._write(
            self._durable.revoke_subject(sub, issued_before=issued_before, expires_at=expires_at),
            lambda: self._cache.revoke_subject(
                sub, issued_before=issued_before, expires_at=expires_at
            ),
        )

    async def is_revoked(
        self, *, issuer: str, jti: str, sid: str | None, sub: str, iat: float
    ) -> bool:
        """Redis in one round trip; SQL when Redis is not loaded, stale or down."""
        if self._clock.now() >= self._down_until and (not self._stale or await self.rebuild()):
            try:
                found = await self._cache.lookup(issuer=issuer, jti=jti, sid=sid, sub=sub, iat=iat)
            except StorageUnavailable:
                self._mark_down("redis unreachable; revocation checks fall back")
            else:
                if found is not None:
                    return found
                # reachable but not loaded (restart / flush): reload on the next call
                self._stale = True
        if self._fail_closed and self._clock.now() < self._down_until:
            raise StorageUnavailable("revocation cache unreachable (fail closed)")
        return await self._durable.is_revoked(issuer=issuer, jti=jti, sid=sid, sub=sub, iat=iat)

    def _mark_down(self, message: str) -> None:
        self._down_until = self._clock.now() + self._retry_after
        self._log.warning(message)

    async def rebuild(self) -> bool:
        """Reload Redis from the durable store; True when the cache is usable afterwards.

        Returns False at once while another task is rebuilding (the caller reads SQL).
        """
        if self._rebuilding.locked():
            return False
        async with self._rebuilding:
            try:
                count = await self._cache.rebuild_from(self._durable)
            except StorageUnavailable:
                self._mark_down("redis unreachable; revocation cache not rebuilt")
                return False
            self._stale = False
            self._log.info("revocation cache rebuilt with %d entries", count)
            return True

    async def prune_revocations(self, *, now: float) -> int:
        """Prune the durable store (Redis entries expire by TTL)."""
        return await self._durable.prune_revocations(now=now)

    async def dump_revocations(self, *, now: float) -> RevocationDump:
        return await self._durable.dump_revocations(now=now)
