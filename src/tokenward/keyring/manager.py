"""``KeyManager``: the in-process view of the key ring, and the rotation logic.

Lifecycle (RFC 7517 sec. 5 key sets; RFC 8725 sec. 3.1 one algorithm per key)::

    next ──rotate──> active ──rotate──> retired ──(retire_after passes)──prune──> removed

* ``next`` is published in the JWKS before it signs anything, so resource servers that cache
  the JWKS already know it when the first token signed by it arrives (pre-publication). With
  automatic rotation the next key is published for ``rotate_every`` seconds, which must be at
  least ``min_prepublish`` (the JWKS cache lifetime your resource servers use).
* ``retired`` stays published for :attr:`KeyManager.retire_period` = ``retire_after`` (the
  maximum access-token lifetime plus the validation leeway) + ``poll_interval`` (another
  instance may keep signing with the old key until its next poll): every token it signed
  has expired by then (RFC 8725 sec. 3.8 lifetimes; RFC 7517 sec. 5 key sets).

Every instance of a deployment runs a ``KeyManager`` over the same store; one of them (or
``tokenward keys rotate``) rotates, and the others converge on :meth:`KeyManager.poll`
(run by :meth:`KeyManager.run_polling` every ``poll_interval`` seconds and on SIGHUP). Until an
instance polls it keeps signing with its old active key, which is still published (retired),
so tokens from every instance validate everywhere throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tokenward.clock import Clock, SystemClock
from tokenward.errors import ConfigurationError, InvalidKey, TokenwardError
from tokenward.keyring._model import KeyState, KeyStore, StoredKey
from tokenward.keys import KeySet
from tokenward.observability import security_event
from tokenward.tokens import issuer_factory

if TYPE_CHECKING:
    from tokenward.keys import Key
    from tokenward.observability import Metrics
    from tokenward.tokens import TokenIssuer

__all__ = ["KeyManager"]

_log = logging.getLogger("tokenward.keyring")
_MAX_ROTATE_ATTEMPTS = 3


class KeyManager:
    """Loads, rotates, prunes and polls the signing keys of one instance.

    :param store: the shared :class:`~tokenward.keyring.KeyStore`
    :param alg: algorithm of newly generated keys (existing keys keep theirs)
    :param clock: time source (tests pass a ``FixedClock``)
    :param retire_after: max access-token lifetime plus leeway; a retired key stays
        published for this plus ``poll_interval`` (:attr:`retire_period`)
    :param poll_interval: seconds between :meth:`poll` calls in :meth:`run_polling`; keep it
        well below the time between rotations
    :param rotate_every: rotate automatically when the active key is this old (None = never)
    :param min_prepublish: a next key must have been published this long before it may be
        promoted by the schedule; at least the JWKS cache lifetime of resource servers
    :param metrics: counts ``key_rotations_total`` whenever this instance's active key changes
    """

    def __init__(
        self,
        store: KeyStore,
        *,
        alg: str = "RS256",
        clock: Clock | None = None,
        retire_after: float,
        poll_interval: float = 10.0,
        rotate_every: float | None = None,
        min_prepublish: float = 0.0,
        metrics: Metrics | None = None,
    ) -> None:
        if retire_after < 0 or poll_interval <= 0 or min_prepublish < 0:
            raise ConfigurationError("key manager periods must be positive")
        if rotate_every is not None and rotate_every < max(min_prepublish, poll_interval):
            raise ConfigurationError(
                "rotate_every must be at least the JWKS cache lifetime (min_prepublish) "
                "and the poll interval, or resource servers would meet unknown kids"
            )
        self.store = store
        self.alg = alg
        self.clock: Clock = clock or SystemClock()
        self.retire_after = float(retire_after)
        self.poll_interval = float(poll_interval)
        self.rotate_every = rotate_every
        self.min_prepublish = float(min_prepublish)
        self._metrics = metrics
        self._keys: tuple[StoredKey, ...] = ()
        self._active: StoredKey | None = None
        self._fingerprint: tuple[tuple[str, str, float | None], ...] = ()
        self._keyset = KeySet(())
        self._keyset_kids: tuple[str, ...] = ()
        self._background: set[asyncio.Task[object]] = set()
        #: True when :meth:`load` found no active key and created the first two keys
        self.created_on_load = False

    # --- views --- #

    @property
    def loaded(self) -> bool:
        return self._active is not None

    @property
    def retire_period(self) -> float:
        """Seconds a retired key stays published: ``retire_after + poll_interval``."""
        return self.retire_after + self.poll_interval

    @property
    def active(self) -> StoredKey:
        """The active key record. :raises ConfigurationError: before :meth:`load`."""
        if self._active is None:
            raise ConfigurationError("key manager not loaded; await load() first")
        return self._active

    @property
    def active_key(self) -> Key:
        """The PRIVATE key that signs new tokens."""
        return self.active.key

    @property
    def keys(self) -> tuple[StoredKey, ...]:
        """Snapshot of every key (all states) as of the last load/poll."""
        return self._keys

    def current_keys(self) -> KeySet:
        """PUBLIC keys of every published key (next, active, retired).

        Returns the same object until the set of kids changes, so validators can key caches
        on identity (``KeySource`` contract).
        """
        return self._keyset

    def issuer_factory(
        self, *, issuer: str, audience: str, lifetime: float, token_type: str = "at+jwt"
    ) -> Callable[[], TokenIssuer]:
        """:func:`issuer_factory` over this manager's active key and clock."""
        return issuer_factory(
            self,
            issuer=issuer,
            audience=audience,
            lifetime=lifetime,
            token_type=token_type,
            clock=self.clock,
        )

    # --- loading and polling --- #

    async def load(self) -> None:
        """Read the store; create an active and a next key when none is active."""
        keys = await self.store.list_keys()
        if not any(k.state is KeyState.ACTIVE for k in keys):
            now = self.clock.now()
            active, next_key = await asyncio.gather(
                self._new(KeyState.ACTIVE, now), self._new(KeyState.NEXT, now)
            )
            if await self.store.initialize(active, next_key):
                self.created_on_load = True
                _log.info("signing_keys_created", extra={"kid": active.kid, "next": next_key.kid})
            keys = await self.store.list_keys()
        self._apply(keys, source="load")

    async def poll(self) -> bool:
        """Reload from the store; True if anything (a state, a key) changed."""
        before = self._fingerprint
        self._apply(await self.store.list_keys(), source="poll")
        return self._fingerprint != before

    async def tick(self) -> bool:
        """One background step: poll, then scheduled rotation and pruning. True if changed."""
        changed = await self.poll()
        if await self.maybe_rotate():
            changed = True
        if await self.prune():
            changed = True
        return changed

    async def run_polling(self) -> None:
        """Call :meth:`tick` every ``poll_interval`` seconds until cancelled.

        A store outage keeps the last known keys and logs; it never stops the loop.
        """
        while True:
            await asyncio.sleep(self.poll_interval)
            await self._safe_tick()

    async def _safe_tick(self) -> None:
        """:meth:`tick`, but no exception ever escapes: the poller must outlive any failure.

        The log line carries the error code and the exception *type* only: an exception's
        message or arguments could quote a key or a connection string.
        """
        try:
            await self.tick()
        except Exception as exc:  # anything (CancelledError is a BaseException: it stops us)
            code = exc.code if isinstance(exc, TokenwardError) else "internal_error"
            _log.warning(
                "key_poll_failed",
                extra={"event": "key_poll_failed", "code": code, "exc_type": type(exc).__name__},
            )

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Poll immediately on SIGHUP. False where signals are unavailable (Windows, threads)."""

        def on_hup() -> None:
            task: asyncio.Task[object] = loop.create_task(self._safe_tick())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            return False
        return True

    @property
    def reloads_pending(self) -> int:
        """Number of SIGHUP-triggered reloads still running."""
        return len(self._background)

    async def wait_reloads(self) -> None:
        """Wait for SIGHUP-triggered reloads in flight (graceful shutdown, tests)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def remove_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.remove_signal_handler(signal.SIGHUP)

    # --- changes --- #

    async def generate(self, *, alg: str | None = None) -> StoredKey:
        """Add a new ``next`` key (published now, promoted by a later rotation)."""
        key = await self._new(KeyState.NEXT, self.clock.now(), alg=alg)
        await self.store.put_key(key)
        self._apply(await self.store.list_keys(), source="local")
        return key

    async def rotate(self) -> tuple[StoredKey, StoredKey]:
        """Promote the oldest next key, retire the active key, publish a new next key.

        Reads the store afresh, so it is correct even if this instance has not polled; when
        another process rotates at the same moment, this one re-reads and rotates once more
        on top (never two active keys). Returns ``(new_active, new_next)``.
        """
        for _ in range(_MAX_ROTATE_ATTEMPTS):
            new_next = await self._rotate_once(source="local")
            if new_next is not None:
                return self.active, new_next
        raise ConfigurationError("key rotation kept conflicting with another process")

    async def _rotate_once(self, *, source: str) -> StoredKey | None:
        """One rotation on top of what the store holds now, then apply the result.

        Returns the next key it published, or None (nothing changed) when another process
        moved a state first.
        """
        keys = await self.store.list_keys()
        actives = [k for k in keys if k.state is KeyState.ACTIVE]
        nexts = [k for k in keys if k.state is KeyState.NEXT]
        if len(actives) != 1:
            raise ConfigurationError("the key store has no active key; run load() first")
        now = self.clock.now()
        old = actives[0]
        new_next = await self._new(KeyState.NEXT, now)
        promoted = (nexts[0] if nexts else await self._new(KeyState.NEXT, now)).with_state(
            KeyState.ACTIVE, activated_at=now
        )
        if not nexts:  # no pre-published key (deleted by hand): publish one and promote it
            await self.store.put_key(promoted.with_state(KeyState.NEXT))
        retired = old.with_state(
            KeyState.RETIRED, retired_at=now, retire_after=now + self.retire_period
        )
        if not await self.store.rotate(active=retired, next_key=promoted, new_next=new_next):
            return None
        self._apply(await self.store.list_keys(), source=source)
        return new_next

    async def maybe_rotate(self) -> bool:
        """Rotate if the schedule says so (``rotate_every``); True if this call rotated."""
        if self.rotate_every is None or self._active is None:
            return False
        now = self.clock.now()
        since = self._active.activated_at or self._active.created_at
        nexts = [k for k in self._keys if k.state is KeyState.NEXT]
        if now < since + self.rotate_every or not nexts:
            return False
        if now < nexts[0].created_at + self.min_prepublish:
            return False  # never promote a key resource servers may not have fetched yet
        if await self._rotate_once(source="schedule") is not None:
            return True
        await self.poll()  # another instance rotated first
        return False

    async def retire(self, kid: str) -> StoredKey:
        """Withdraw a ``next`` key (it never signed: removable at once) or expire a retired
        key now (e.g. suspected compromise). The active key is retired only by rotate()."""
        current = await self.store.get_key(kid)
        if current is None:
            raise InvalidKey(f"no key with kid {kid!r}")
        if current.state is KeyState.ACTIVE:
            raise InvalidKey("the active key cannot be retired directly; rotate first")
        now = self.clock.now()
        new = current.with_state(KeyState.RETIRED, retired_at=now, retire_after=now)
        if not await self.store.update_state(kid, expected=current.state, new=new):
            raise InvalidKey(f"key {kid!r} changed concurrently; try again")
        security_event(_log, "signing_key_retired", kid=kid)
        self._apply(await self.store.list_keys(), source="local")
        return new

    async def prune(self) -> list[str]:
        """Remove retired keys whose ``retire_after`` has passed; returns their kids."""
        now = self.clock.now()
        gone = [
            k.kid
            for k in self._keys
            if k.state is KeyState.RETIRED and k.retire_after is not None and k.retire_after <= now
        ]
        removed = [kid for kid in gone if await self.store.delete_key(kid)]
        if gone:
            self._apply(await self.store.list_keys(), source="prune")
        if removed:
            security_event(_log, "signing_keys_pruned", kids=removed)
        return removed

    # --- internals --- #

    async def _new(self, state: KeyState, now: float, *, alg: str | None = None) -> StoredKey:
        # RSA generation takes ~100 ms: a worker thread keeps the event loop serving requests.
        return await asyncio.to_thread(StoredKey.generate, alg or self.alg, state, now=now)

    def _apply(self, keys: Sequence[StoredKey], *, source: str) -> None:
        actives = [k for k in keys if k.state is KeyState.ACTIVE]
        if len(actives) != 1:
            # Keep serving with what we had; a broken store must not stop signing.
            raise ConfigurationError(
                f"the key store must hold exactly one active key, found {len(actives)}"
            )
        previous = self._active
        self._keys = tuple(keys)
        self._active = actives[0]
        self._fingerprint = tuple((k.kid, k.state.value, k.retire_after) for k in keys)
        kids = tuple(sorted(k.kid for k in keys))
        if kids != self._keyset_kids:
            order = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}
            ordered = sorted(keys, key=lambda k: (order[k.state], k.created_at))
            self._keyset = KeySet(k.key.public() for k in ordered)
            self._keyset_kids = kids
        if previous is not None and previous.kid != self._active.kid:
            if self._metrics is not None:
                self._metrics.key_rotations.inc()
            security_event(
                _log,
                "signing_key_rotated",
                kid=self._active.kid,
                previous_kid=previous.kid,
                source=source,
            )
