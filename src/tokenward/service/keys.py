"""Signing keys for the service: the one place that builds the key manager.

Asymmetric algorithms (the default RS256) use ``tokenward.keyring.KeyManager`` over the
configured store (JWK files in the data dir, or the SQL database with keys sealed by the
key-encryption key). HMAC algorithms use one static secret from the environment or a file,
which is never published (``KeySet.to_jwks`` omits ``oct`` keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tokenward.errors import ConfigurationError
from tokenward.service.settings import DAY, read_secret

if TYPE_CHECKING:
    from tokenward.clock import Clock
    from tokenward.keys import Key, KeySet
    from tokenward.observability import Metrics
    from tokenward.service.settings import Settings

__all__ = ["SigningKeys", "StaticKeys", "open_signing_keys"]


@runtime_checkable
class SigningKeys(Protocol):
    """What the service needs from a key manager (``tokenward.keyring.KeyManager`` fits)."""

    @property
    def active_key(self) -> Key:
        """The private (or HMAC) key that signs new tokens."""
        ...  # pragma: no cover

    def current_keys(self) -> KeySet:
        """Keys to verify with and to publish (identity changes when the set changes)."""
        ...  # pragma: no cover

    async def poll(self) -> bool:
        """Reload from the store; True when the key set changed."""
        ...  # pragma: no cover


class StaticKeys:
    """One HMAC key from configuration (HS256/384/512): never rotated by the service."""

    def __init__(self, key: Key) -> None:
        from tokenward.keys import KeySet

        self._key = key
        self._set = KeySet([key])

    @property
    def active_key(self) -> Key:
        return self._key

    def current_keys(self) -> KeySet:
        return self._set

    async def poll(self) -> bool:
        return False


def _store(settings: Settings, engine: Any) -> Any:
    from tokenward.keyring import FileKeyStore, SqlKeyStore, parse_kek

    if settings.keys.source == "dir":
        return FileKeyStore(settings.key_dir)
    raw = read_secret(settings.keys.kek, settings.keys.kek_file, name="keys.kek")
    if raw is None:
        raise ConfigurationError(
            "keys.source = 'sql' needs a key-encryption key (TOKENWARD__KEYS__KEK or "
            "keys.kek_file); private keys are never stored in clear"
        )
    return SqlKeyStore(engine, parse_kek(raw))


async def open_signing_keys(
    settings: Settings, *, engine: Any, clock: Clock, metrics: Metrics | None = None
) -> SigningKeys:
    """Build and load the signing keys described by ``settings``.

    With an empty store the key manager creates the first ``active`` and ``next`` keys.

    :param engine: the SQLAlchemy async engine (for ``keys.source = "sql"``).
    :raises ConfigurationError: missing HMAC secret or key-encryption key, wrong KEK.
    """
    token = settings.token
    if token.algorithm.startswith("HS"):
        from tokenward.keys import Key

        secret = read_secret(token.hmac_secret, token.hmac_secret_file, name="token.hmac_secret")
        if secret is None:
            raise ConfigurationError(f"token.hmac_secret is required for {token.algorithm}")
        # Key.from_secret enforces the RFC 7518 sec. 3.2 minimum length.
        return StaticKeys(Key.from_secret(secret, alg=token.algorithm))

    from tokenward.keyring import KeyManager

    rotate_days = settings.keys.rotate_every_days
    manager = KeyManager(
        _store(settings, engine),
        alg=token.algorithm,
        clock=clock,
        # A retired key stays published until every token it signed has expired (profile
        # B10): max lifetime plus leeway, plus one poll interval because an instance that has
        # not polled yet may still sign with it (docs/operations.md).
        retire_after=(
            settings.access_lifetime + token.clock_skew_seconds + settings.keys.poll_seconds
        ),
        poll_interval=settings.keys.poll_seconds,
        rotate_every=None if rotate_days is None else rotate_days * DAY,
        min_prepublish=float(settings.service.jwks_max_age),
        metrics=metrics,
    )
    await manager.load()
    return manager
