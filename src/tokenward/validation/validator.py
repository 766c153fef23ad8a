"""``TokenValidator``: signature, header and claim checks, with a verified-token cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tokenward.errors import (
    ConfigurationError,
    InvalidToken,
    InvalidTokenType,
    MalformedToken,
    RevokedToken,
    StorageUnavailable,
    TokenwardError,
    UnknownKey,
)
from tokenward.jose import decode_jwt
from tokenward.keys import Key, KeySet
from tokenward.validation._rules import Entry, Rules
from tokenward.validation.policy import ValidationPolicy
from tokenward.validation.principal import Principal
from tokenward.validation.protocols import AsyncKeySource, KeySource, RevocationCheck

__all__ = ["DEFAULT_CACHE_SIZE", "TokenValidator"]

#: verified tokens remembered per validator (each entry is bounded by ``max_token_bytes``)
DEFAULT_CACHE_SIZE = 1024


def _with_jti(error: InvalidToken, jti: object) -> InvalidToken:
    """Attach the token's ``jti`` claim to ``error`` for logs when it is a string. Only ever
    called once the signature verified: an unverified token's claims are attacker-chosen
    and never reported (RFC 8725 sec. 3.10)."""
    if type(jti) is str:
        error.jti = jti
    return error


class TokenValidator:
    """Validate access tokens against a key set and a :class:`ValidationPolicy`.

    :param keys: a :class:`Key`, a :class:`KeySet`, or a :class:`KeySource` whose
        ``current_keys()`` is consulted on every call (a key manager, a ``RemoteKeySet``).
    :param policy: the rules beyond the signature.
    :param clock: time source (default: the system clock).
    :param revocation: a :class:`RevocationCheck`; :meth:`validate` needs one that is also
        a :class:`SyncRevocationCheck`, :meth:`avalidate` works with either.
    :param cache_size: how many verified tokens to remember (0 disables the cache).

    Every token must carry a string ``kid`` header naming one of the keys (security
    profile B5; the issuer always sets it): a token without one raises ``UnknownKey``, even
    when ``keys`` is a single key (unlike ``jws.verify``), and a ``kid`` that is not a
    short string raises ``MalformedToken``.

    The cache maps the exact token string to the result of the signature and clock-free
    claim checks. It is emptied whenever the key set object changes. Expiry, ``nbf``,
    ``iat``, ``typ`` and revocation are checked on every call, hit or miss.

    :raises ConfigurationError: for an unusable ``keys``, ``revocation`` or ``cache_size``.
    """

    __slots__ = (
        "_algorithms",
        "_async_only",
        "_async_source",
        "_cache",
        "_cache_size",
        "_entry_of",
        "_keys",
        "_max_bytes",
        "_now",
        "_revocation",
        "_rev_now",
        "_rules",
        "_source",
        "_typ_exact",
        "_wants_rev_args",
        "policy",
    )

    def __init__(
        self,
        keys: Key | KeySet | KeySource,
        policy: ValidationPolicy,
        *,
        clock: Any | None = None,
        revocation: RevocationCheck | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not isinstance(policy, ValidationPolicy):
            raise ConfigurationError("policy must be a ValidationPolicy")
        if type(cache_size) is not int or cache_size < 0:
            raise ConfigurationError("cache_size must be a non-negative int")
        #: the policy this validator enforces (immutable)
        self.policy = policy
        self._rules = Rules(policy)
        self._typ_exact = self._rules.typ_exact
        self._entry_of = self._rules.entry
        self._algorithms = frozenset(policy.algorithms)
        self._max_bytes = policy.max_token_bytes
        self._now: Callable[[], float] = time.time if clock is None else clock.now
        self._cache: dict[str | bytes, Entry] = {}
        self._cache_size = cache_size
        self._source: KeySource | None = None
        self._async_source: AsyncKeySource | None = None
        self._keys: Key | KeySet | None
        if isinstance(keys, (Key, KeySet)):
            self._keys = keys
        elif callable(getattr(keys, "current_keys", None)):
            self._source = keys
            self._keys = None  # bound on first use
            if isinstance(keys, AsyncKeySource):
                self._async_source = keys
        else:
            raise ConfigurationError("keys must be a Key, a KeySet or a KeySource")
        self._revocation = revocation
        self._rev_now: Callable[..., bool] | None = None
        self._async_only = False
        self._wants_rev_args = revocation is not None
        if revocation is not None:
            if not callable(getattr(revocation, "is_revoked", None)):
                raise ConfigurationError("revocation must implement RevocationCheck")
            rev_now = getattr(revocation, "is_revoked_now", None)
            if callable(rev_now):
                self._rev_now = rev_now
            else:
                self._async_only = True

    # --- public API --- #

    def validate(self, token: str | bytes) -> Principal:
        """Validate ``token`` and return its :class:`Principal`.

        :raises InvalidToken: (a subclass naming the reason) when the token is refused.
            When the refusal comes after the signature verified (claims, ``typ``, clock,
            revocation), ``error.jti`` is the token's ``jti`` if that is a string; it stays
            None for every earlier failure (RFC 8725 sec. 3.10).
        :raises ConfigurationError: when the revocation check can only be awaited; a
            revocation check is never skipped, use :meth:`avalidate` instead.
        :raises KeySetUnavailable: when a remote key set was never loaded.
        :raises StorageUnavailable: when the revocation check fails (fail closed).
        """
        if self._async_only:
            raise ConfigurationError("revocation check is async-only: use avalidate()")
        source = self._source
        if source is not None:
            keys = source.current_keys()
            if keys is not self._keys:
                self._rebind(keys)
        entry = None
        cache_size = self._cache_size
        if cache_size:
            try:
                entry = self._cache.get(token)
            except TypeError:  # unhashable: not a token at all
                raise MalformedToken() from None
        if entry is None:
            entry = self._load(token)
            if cache_size:
                self._remember(token, entry)
        principal, start, end, typ, rev_args = entry
        now = self._now()
        if now < start or now >= end:
            raise self._time_error(entry, now)
        if typ not in self._typ_exact and not self._rules.typ_ok(typ):
            raise _with_jti(InvalidTokenType(), principal.jti)
        if rev_args is not None:
            try:
                revoked = self._rev_now(**rev_args)  # type: ignore[misc]
            except TokenwardError:
                raise
            except Exception as exc:  # fail closed on a broken backend, as avalidate does
                raise StorageUnavailable("revocation check failed") from exc
            if revoked:
                raise _with_jti(RevokedToken(), principal.jti)
        return principal

    async def avalidate(self, token: str | bytes) -> Principal:
        """Like :meth:`validate`, awaiting the revocation check and, for a remote key set,
        a due scheduled refresh; on an unknown ``kid`` it asks the remote key set for one
        refresh (which enforces its cooldown) and retries once.

        :raises InvalidToken: (a subclass naming the reason, ``error.jti`` as in
            :meth:`validate`) when the token is refused.
        :raises KeySetUnavailable: when a remote key set cannot be loaded.
        :raises StorageUnavailable: when the revocation check fails (fail closed).
        """
        asource = self._async_source
        if asource is not None:
            keys = await asource.aget_keys()
            if keys is not self._keys:
                self._rebind(keys)
        elif self._source is not None:
            keys = self._source.current_keys()
            if keys is not self._keys:
                self._rebind(keys)
        try:
            entry = self._cache.get(token)
        except TypeError:
            raise MalformedToken() from None
        if entry is None:
            try:
                entry = self._load(token)
            except UnknownKey as exc:
                # The key set may have rotated: one refresh, rate-limited by the source's
                # cooldown; the URL fetched never depends on the token (RFC 8725 3.10).
                # A token without kid matches no key set: it never causes a fetch.
                if exc.kid is None or asource is None:
                    raise
                if not await asource.refresh_for_unknown_kid():
                    raise
                self._rebind(asource.current_keys())
                entry = self._load(token)
            if self._cache_size:
                self._remember(token, entry)
        now = self._now()
        if now < entry[1] or now >= entry[2]:
            raise self._time_error(entry, now)
        if entry[3] not in self._typ_exact and not self._rules.typ_ok(entry[3]):
            raise _with_jti(InvalidTokenType(), entry[0].jti)
        revocation, rev_args = self._revocation, entry[4]
        if revocation is not None and rev_args is not None:
            try:
                revoked = await revocation.is_revoked(**rev_args)
            except TokenwardError:
                raise
            except Exception as exc:  # fail closed on a broken backend
                raise StorageUnavailable("revocation check failed") from exc
            if revoked:
                raise _with_jti(RevokedToken(), entry[0].jti)
        return entry[0]

    @property
    def needs_await(self) -> bool:
        """True when :meth:`avalidate` must be used: the revocation check is async-only, or
        the keys come from an :class:`AsyncKeySource` whose refreshes only ``avalidate``
        performs (``validate`` then uses the last fetched keys)."""
        return self._async_only or self._async_source is not None

    def clear_cache(self) -> None:
        """Forget every verified token (e.g. after an out-of-band key compromise)."""
        self._cache = {}

    # --- internals --- #

    def _time_error(self, entry: Entry, now: float) -> InvalidToken:
        """The error for a verified token outside its validity window at ``now``."""
        return _with_jti(self._rules.time_error(entry, now), entry[0].jti)

    def _rebind(self, keys: object) -> None:
        if not isinstance(keys, KeySet):
            raise ConfigurationError("KeySource.current_keys() must return a KeySet")
        # A new dict, not clear(): a verification still running against the old keys
        # inserts into the discarded dict, never into the live cache.
        self._cache = {}
        self._keys = keys

    def _load(self, token: str | bytes) -> Entry:
        """Verify the signature, then the clock-free rules (decode_jwt refuses non-str)."""
        # copy_header=False: the header dict is shared with the JOSE header cache; the
        # rules only read it and the Principal exposes a frozen copy of it.
        header, claims, _ = decode_jwt(
            token,
            self._keys,  # type: ignore[arg-type]  # bound before the first lookup
            algorithms=self._algorithms,
            max_bytes=self._max_bytes,
            copy_header=False,
            require_kid=True,  # never "the only key" for a kid-less token (B5)
        )
        try:
            return self._entry_of(header, claims, self._wants_rev_args)
        except InvalidToken as exc:
            _with_jti(exc, claims.get("jti"))
            raise

    def _remember(self, token: str | bytes, entry: Entry) -> None:
        cache = self._cache
        if len(cache) >= self._cache_size:
            try:  # evict the oldest insertion (FIFO; concurrent callers may race)
                del cache[next(iter(cache))]
            except (KeyError, RuntimeError, StopIteration):
                pass
        cache[token] = entry
