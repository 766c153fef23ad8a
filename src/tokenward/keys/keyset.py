"""``KeySet``: an immutable map ``kid -> Key`` (RFC 7517 sec. 5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from tokenward.errors import InvalidKey, UnknownKey
from tokenward.keys._key import Key

__all__ = ["KeySet"]


class KeySet:
    """An immutable set of keys with unique ``kid`` values.

    Token verification looks a key up by the header ``kid`` only, never by trying every key
    (security profile B5); when the set holds more than one key a token without ``kid`` is
    rejected (``jws.verify`` accepts it for a one-key set; ``TokenValidator`` never does).
    Each key keeps its own algorithm, so HMAC and public keys never mix (B6).

    :raise InvalidKey: on a non-``Key`` member or a duplicate ``kid``
    """

    __slots__ = ("__weakref__", "_by_kid", "_header_cache", "_keys", "_single")

    _by_kid: dict[str, Key]
    _keys: tuple[Key, ...]
    _single: Key | None
    _header_cache: dict[str, tuple[dict[str, Any], Key]]

    def __init__(self, keys: Iterable[Key]) -> None:
        by_kid: dict[str, Key] = {}
        for key in keys:
            if not isinstance(key, Key):
                raise InvalidKey("KeySet members must be Key objects")
            if key.kid in by_kid:  # Wycheproof jws_duplicate_kid (B5)
                raise InvalidKey(f"duplicate kid {key.kid!r} in key set")
            by_kid[key.kid] = key
        values = tuple(by_kid.values())
        put = object.__setattr__
        put(self, "_by_kid", by_kid)
        put(self, "_keys", values)
        put(self, "_single", values[0] if len(values) == 1 else None)
        put(self, "_header_cache", {})

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("KeySet is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("KeySet is immutable")

    @classmethod
    def from_jwks(cls, doc: Mapping[str, Any], *, skip_unusable: bool = False) -> KeySet:
        """Import a JWK Set document ``{"keys": [...]}``.

        With ``skip_unusable=True`` keys that fail to import (other ``use``, unsupported
        ``kty``, weak keys, missing ``alg``) are left out instead of failing the whole set;
        useful for third-party JWKS that also publish encryption keys.

        :raise InvalidKey: malformed document, an unusable key (unless skipped), duplicate kid
        """
        if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
            raise InvalidKey("a JWKS must be an object with a 'keys' array")
        keys = []
        for jwk in doc["keys"]:
            try:
                keys.append(Key.from_jwk(jwk))
            except InvalidKey:
                if not skip_unusable:
                    raise
        return cls(keys)

    def get(self, kid: str) -> Key | None:
        """The key with this ``kid``, or ``None``."""
        return self._by_kid.get(kid) if isinstance(kid, str) else None

    @property
    def kids(self) -> tuple[str, ...]:
        """The ``kid`` of every key, in insertion order."""
        return tuple(self._by_kid)

    def to_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set: public members only, HMAC (``oct``) keys left out
        (RFC 7517 sec. 9.2; security profile B9)."""
        return {"keys": [key.to_jwk() for key in self._keys if key.kty != "oct"]}

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return isinstance(kid, str) and kid in self._by_kid

    def __repr__(self) -> str:
        return f"<KeySet kids={list(self._by_kid)!r}>"

    # --- resolver protocol used by tokenward.jose --- #

    def _lookup(self, kid: str | None) -> Key:
        if kid is None:
            if self._single is not None:
                return self._single
            raise UnknownKey("token has no kid and the key set holds several keys")
        key = self._by_kid.get(kid)
        if key is None:
            raise UnknownKey(kid=kid)
        return key
