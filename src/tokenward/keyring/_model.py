"""Key-ring records and the ``KeyStore`` Protocol every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from tokenward.errors import InvalidKey

if TYPE_CHECKING:
    from tokenward.keys import Key

__all__ = ["KeyState", "KeyStore", "StoredKey"]


class KeyState(StrEnum):
    """Lifecycle of a signing key: ``next`` -> ``active`` -> ``retired`` -> removed."""

    #: published in the JWKS, not yet signing (pre-publication lets caches pick it up)
    NEXT = "next"
    #: signs new tokens; exactly one key is active at any time
    ACTIVE = "active"
    #: no longer signs; still published until every token it signed has expired
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One signing key with its lifecycle metadata. ``key`` is the PRIVATE key."""

    kid: str
    alg: str
    state: KeyState
    key: Key
    created_at: float
    activated_at: float | None = None
    retired_at: float | None = None
    #: when a retired key may be removed (retired_at + max token lifetime + leeway)
    retire_after: float | None = None

    @classmethod
    def generate(cls, alg: str, state: KeyState, *, now: float) -> StoredKey:
        """A freshly generated private key in ``state`` (kid = RFC 7638 thumbprint)."""
        from tokenward.keys import Key

        key = Key.generate(alg)
        return cls(
            kid=key.kid,
            alg=alg,
            state=state,
            key=key,
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
        )

    def lifecycle(self) -> dict[str, Any]:
        """State and timestamps as plain JSON-ready values: what every store keeps next to
        the key, and what ``tokenward keys list --json`` shows."""
        return {
            "state": self.state.value,
            "created_at": self.created_at,
            "activated_at": self.activated_at,
            "retired_at": self.retired_at,
            "retire_after": self.retire_after,
        }

    def with_state(
        self,
        state: KeyState,
        *,
        activated_at: float | None = None,
        retired_at: float | None = None,
        retire_after: float | None = None,
    ) -> StoredKey:
        """A copy in ``state``; timestamps not given keep their current value."""
        return replace(
            self,
            state=state,
            activated_at=self.activated_at if activated_at is None else activated_at,
            retired_at=self.retired_at if retired_at is None else retired_at,
            retire_after=self.retire_after if retire_after is None else retire_after,
        )


def check_insert(key: StoredKey) -> None:
    """What every store refuses before inserting ``key``: a key without its private half.

    :raises InvalidKey:
    """
    if not key.key.is_private:
        raise InvalidKey("the key store holds private signing keys only")


def check_update(expected: KeyState, new: StoredKey) -> None:
    """What every store refuses in ``update_state``: making a key active (only the atomic
    ``rotate`` may, so there is never a second active key).

    :raises InvalidKey:
    """
    if new.state is KeyState.ACTIVE and expected is not KeyState.ACTIVE:
        raise InvalidKey("a key becomes active only through rotate()")


class KeyStore(Protocol):
    """Persistent home of the signing keys, shared by every instance of a deployment.

    The two compound operations (:meth:`initialize`, :meth:`rotate`) are atomic across
    processes, which is what keeps "exactly one active key" true when several instances
    (or an instance and the CLI) act at the same time.
    """

    async def list_keys(self) -> Sequence[StoredKey]:
        """Every stored key, oldest first."""
        ...

    async def get_key(self, kid: str) -> StoredKey | None: ...

    async def put_key(self, key: StoredKey) -> None:
        """Insert a new key; raises ``InvalidKey`` if the kid exists or ``key`` would be a
        second active key."""
        ...

    async def update_state(self, kid: str, *, expected: KeyState, new: StoredKey) -> bool:
        """Compare-and-set: replace the metadata of ``kid`` with ``new``'s only if its
        state is still ``expected``. Returns False (and changes nothing) otherwise."""
        ...

    async def delete_key(self, kid: str) -> bool:
        """Remove a key; True if it existed."""
        ...

    async def initialize(self, active: StoredKey, next_key: StoredKey) -> bool:
        """Atomically insert an active and a next key if no key is active yet.

        Returns False (inserting nothing) when another process got there first.
        """
        ...

    async def rotate(self, *, active: StoredKey, next_key: StoredKey, new_next: StoredKey) -> bool:
        """Atomically: ``next_key`` (still next) becomes active, ``active`` (still active)
        becomes retired, and ``new_next`` is inserted. ``active``/``next_key`` carry the
        new metadata. Returns False and changes nothing if either state moved meanwhile."""
        ...
