"""``RemoteKeySet``: a JWKS fetched over HTTPS and cached (async; httpx imported lazily).

Security choices:

- The URL is fixed at construction. Nothing from a token (``jku``, ``x5u``, ``kid``) ever
  selects what is fetched (RFC 8725 sec. 3.10; PyJWT CVE-2026-48522).
- ``https`` is required except for loopback hosts (local development and tests).
- Redirects are not followed and the body is capped (``max_bytes``) while streaming.
- A failed fetch keeps the last-known-good key set; an unknown ``kid`` triggers at most one
  fetch per ``unknown_kid_cooldown`` so random kids cannot turn us into a request amplifier.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tokenward.errors import ConfigurationError, InvalidKey, KeySetUnavailable
from tokenward.jose import ALGORITHMS
from tokenward.jose._json import JSON_ERRORS, loads_object
from tokenward.keys._key import Key
from tokenward.keys.keyset import KeySet

if TYPE_CHECKING:
    import asyncio

    import httpx

__all__ = ["RemoteKeySet"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> str:
    if not isinstance(url, str):
        raise ConfigurationError("JWKS url must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigurationError(f"invalid JWKS url: {exc}") from None
    if not host or parts.username or parts.password:
        raise ConfigurationError("JWKS url needs a host and no credentials")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return url
    raise ConfigurationError("JWKS url must use https (http only for loopback hosts)")


def _positive(value: object, name: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:  # type: ignore[operator,arg-type]
        raise ConfigurationError(f"{name} must be a positive number of seconds")
    return float(value)  # type: ignore[arg-type]


def _parse_jwks(body: bytes, default_alg: str | None) -> tuple[dict[str, Any], KeySet]:
    """Parse a JWKS document; keys that cannot be used for signatures are skipped.

    A JWK without ``alg`` is bound to ``default_alg`` (local configuration binds the key to
    one algorithm, RFC 8725 sec. 3.1); without a default such keys are skipped.

    The document goes through the same strict parser as token headers: UTF-8 without BOM,
    duplicate member names refused rather than last-wins (RFC 7517 sec. 4, RFC 7515 sec. 4;
    security profile C3), no NaN/Infinity (RFC 8259 sec. 6), bounded nesting. A refusal
    keeps the last-known-good key set.
    """
    try:
        doc = loads_object(body)
    except JSON_ERRORS as exc:
        raise KeySetUnavailable(f"JWKS is not strict JSON: {type(exc).__name__}") from None
    if type(doc.get("keys")) is not list:
        raise KeySetUnavailable("JWKS must be an object with a 'keys' array")
    keys = []
    for jwk in doc["keys"]:
        if type(jwk) is not dict:
            continue
        try:
            keys.append(Key.from_jwk(jwk, alg=None if "alg" in jwk else default_alg))
        except InvalidKey:
            continue  # encryption keys, keys without alg, weak keys: never used
    if not keys:
        raise KeySetUnavailable("JWKS holds no usable signature key")
    try:
        return doc, KeySet(keys)
    except InvalidKey as exc:  # duplicate kids (Wycheproof jws_duplicate_kid)
        raise KeySetUnavailable(f"JWKS rejected: {exc.description}") from None


class RemoteKeySet:
    """A JWKS fetched from ``url`` and cached, refreshed on schedule and on unknown kids.

    :param url: the JWKS URL (``https``; ``http`` only for loopback hosts).
    :param refresh_interval: seconds between scheduled refreshes.
    :param unknown_kid_cooldown: minimum seconds between fetches caused by unknown kids.
    :param timeout: seconds for the whole HTTP request.
    :param clock: time source (default: the system clock).
    :param client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`).
    :param retry_interval: seconds to wait after a failed fetch before the next attempt.
    :param max_bytes: largest accepted response body.
    :param default_alg: algorithm for published keys that carry no ``alg`` member (many
        identity providers omit it); keys with an ``alg`` keep their own.
    :raises ConfigurationError: for a non-https URL or invalid intervals.
    """

    def __init__(
        self,
        url: str,
        *,
        refresh_interval: float = 3600,
        unknown_kid_cooldown: float = 300,
        timeout: float = 5,
        clock: Any | None = None,
        client: httpx.AsyncClient | None = None,
        retry_interval: float = 30,
        max_bytes: int = 512 * 1024,
        default_alg: str | None = None,
    ) -> None:
        #: the JWKS URL (fixed for the object's lifetime)
        self.url = _check_url(url)
        self._refresh_interval = _positive(refresh_interval, "refresh_interval")
        self._cooldown = _positive(unknown_kid_cooldown, "unknown_kid_cooldown")
        self._timeout = _positive(timeout, "timeout")
        self._retry_interval = _positive(retry_interval, "retry_interval")
        if type(max_bytes) is not int or max_bytes < 64:
            raise ConfigurationError("max_bytes must be an int >= 64")
        self._max_bytes = max_bytes
        if default_alg is not None and default_alg not in ALGORITHMS:
            raise ConfigurationError(f"default_alg: unsupported {default_alg!r}")
        self._default_alg = default_alg
        self._now: Callable[[], float] = time.time if clock is None else clock.now
        self._client = client
        self._owns_client = client is None
        self._keys: KeySet | None = None
        self._doc: dict[str, Any] | None = None
        self._next_refresh = -math.inf
        self._last_unknown_kid_fetch = -math.inf
        self._lock: asyncio.Lock | None = None
        #: number of HTTP fetches attempted (for tests and metrics)
        self.fetch_count = 0
        #: the last fetch error, or None after a success
        self.last_error: KeySetUnavailable | None = None

    # --- KeySource / AsyncKeySource --- #

    def current_keys(self) -> KeySet:
        """The last-known-good key set (same object until a fetch brings a different one).

        :raises KeySetUnavailable: when no fetch has ever succeeded.
        """
        keys = self._keys
        if keys is None:
            raise KeySetUnavailable("JWKS not loaded yet")
        return keys

    async def aget_keys(self) -> KeySet:
        """Current keys, fetching first when never loaded or when a refresh is due.

        :raises KeySetUnavailable: when no fetch has ever succeeded.
        """
        if self._now() >= self._next_refresh:
            await self._refresh(due_check=True)
        return self.current_keys()

    async def refresh_for_unknown_kid(self) -> bool:
        """Fetch once because a token named an unknown kid, unless the cooldown runs.

        :returns: True when the key set changed.
        """
        now = self._now()
        if now - self._last_unknown_kid_fetch < self._cooldown:
            return False
        self._last_unknown_kid_fetch = now
        return await self._refresh(due_check=False)

    async def refresh(self) -> bool:
        """Fetch now, whatever the schedule. Returns True when the key set changed.

        :raises KeySetUnavailable: when the fetch fails (the last-known-good set is kept).
        """
        changed = await self._refresh(due_check=False)
        if self.last_error is not None:
            raise self.last_error
        return changed

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> RemoteKeySet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals --- #

    async def _refresh(self, *, due_check: bool) -> bool:
        if self._lock is None:
            import asyncio  # lazily: ``import tokenward.keys`` stays free of asyncio

            self._lock = asyncio.Lock()
        async with self._lock:
            if due_check and self._now() < self._next_refresh:
                return False  # another task refreshed while we waited
            try:
                doc, keys = _parse_jwks(await self._fetch(), self._default_alg)
            except KeySetUnavailable as exc:
                self.last_error = exc
                self._next_refresh = self._now() + self._retry_interval
                return False
            self.last_error = None
            self._next_refresh = self._now() + self._refresh_interval
            if doc == self._doc:
                return False  # unchanged: keep the same KeySet object (validator caches)
            self._doc, self._keys = doc, keys
            return True

    async def _fetch(self) -> bytes:
        import httpx  # lazily: the core must not import httpx at import time

        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        self.fetch_count += 1
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._client.stream(
                "GET",
                self.url,
                headers={"Accept": "application/jwk-set+json, application/json"},
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                if response.status_code != 200:
                    raise KeySetUnavailable(f"JWKS fetch returned HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise KeySetUnavailable("JWKS response too large")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise KeySetUnavailable(f"JWKS fetch failed: {type(exc).__name__}") from None
        return b"".join(chunks)
