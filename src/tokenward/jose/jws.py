"""Compact JWS (RFC 7515), strict profile: ``tokenward.jws``.

>>> from tokenward import Key, jws
>>> key = Key.generate("ES256", kid="k1")
>>> token = jws.sign(b'{"sub":"alice"}', key, header={"typ": "at+jwt"})
>>> jws.verify(token, key.public()).payload
b'{"sub":"alice"}'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenward.errors import ConfigurationError
from tokenward.jose._compact import DEFAULT_MAX_BYTES, sign_compact, verify_compact

if TYPE_CHECKING:
    from tokenward.keys import Key, KeySet

__all__ = ["DEFAULT_MAX_BYTES", "Verified", "sign", "verify"]


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified JWS: the protected header, the raw payload and the key that verified it."""

    header: dict[str, Any]
    payload: bytes
    key: Key


def sign(payload: bytes, key: Key, *, header: Mapping[str, Any] | None = None) -> str:
    """Sign ``payload`` and return the compact serialization.

    ``alg`` and ``kid`` always come from ``key``; ``header`` may add parameters such as
    ``typ`` but never change ``alg``/``kid`` nor add ``crit``, ``b64``, ``zip``, ``enc``,
    ``cty``, ``jku``, ``x5u``, ``jwk`` or ``x5c``.

    :raise ConfigurationError: a refused header parameter
    :raise InvalidKey: ``key`` is a public key
    """
    return sign_compact(payload, key, header)


def verify(
    token: str | bytes,
    keys: Key | KeySet,
    *,
    algorithms: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Verified:
    """Verify a compact JWS against ``keys`` (security profile sec. 1, rules 1-10).

    The key is found by the header ``kid``. A token without ``kid`` is accepted only when
    ``keys`` is a single ``Key`` or a one-key ``KeySet``: the caller has then chosen the key,
    so nothing is "tried" (profile B5), and JOSE libraries that omit ``kid`` interoperate
    (e.g. the RFC 8037 A.4 example). With several keys it raises ``UnknownKey``; a ``kid``,
    when present, must name the key. Access tokens go through ``TokenValidator``, which
    always requires a ``kid``. The header ``alg`` must equal the key's algorithm and, when
    ``algorithms`` is given, be in it.

    :param algorithms: optional allow-list of ``alg`` values
    :param max_bytes: tokens longer than this are refused before any parsing
    :raise TokenTooLarge: over ``max_bytes``
    :raise MalformedToken: not a strict compact JWS with JSON-object header
    :raise UnsupportedHeader: ``crit``, ``b64``, ``zip``, ``enc``, ``cty``, ``jku``,
        ``x5u``, ``jwk`` or ``x5c`` in the header
    :raise UnknownKey: no key for ``kid``, or no ``kid`` and several keys
    :raise AlgorithmNotAllowed: ``alg`` is not the key's algorithm or not allowed
    :raise BadSignature: the signature does not verify
    :raise ConfigurationError: ``keys`` is not a ``Key``/``KeySet``, or ``algorithms`` is a
        string
    """
    if not hasattr(keys, "_lookup"):
        raise ConfigurationError("keys must be a Key or a KeySet")
    header, payload, key = verify_compact(token, keys, algorithms=algorithms, max_bytes=max_bytes)
    return Verified(header, payload, key)
