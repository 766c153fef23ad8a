"""Strict compact JWS serialization (RFC 7515 sec. 7.1), verification and signing.

This is the hot path of every request, so each step is the cheapest check that is still
exact (security profile sec. 1, rules 1-10):

1. size cap on the raw input before anything else (D8, D9);
2. shape: exactly two dots without splitting unbounded input first
   (``token.count(".") == 2``; every segment is then decoded by ``a2b_base64`` in strict
   mode after a translation that maps the standard-only ``+``, ``/`` and ``=`` to an invalid
   byte, so exactly the unpadded base64url alphabet passes; header and signature non-empty)
   (C6, C7, D1, D2);
3. canonical base64url via the last character of each segment (RFC 7515 appendix C);
4. the header (parsed, checked and key-resolved) is cached per key or key set, keyed by the
   exact header segment: our own tokens repeat it;
5. payload and signature are decoded before the header is looked at, so a malformed token
   never reaches JSON parsing or crypto; the signature is verified over the received ASCII
   bytes (A20).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tokenward.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    ConfigurationError,
    InvalidKey,
    InvalidToken,
    MalformedToken,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
)
from tokenward.jose._b64 import LAST_CHAR_OK, PADDING, URL_TO_STD, b64url_decode, b64url_encode
from tokenward.jose._json import JSON_ERRORS, loads_object, loads_object_text

if TYPE_CHECKING:
    from tokenward.keys import Key

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORBIDDEN_HEADERS",
    "MAX_KID_LENGTH",
    "KeyResolver",
    "decode_jwt",
    "encode_header",
    "sign_compact",
    "verify_compact",
]

#: default cap on the token length in bytes (security profile rule 1)
DEFAULT_MAX_BYTES = 8192
#: header parameters that are never accepted (RFC 7515 sec. 4.1.11 crit, RFC 7797 b64,
#: RFC 7516 zip/enc, RFC 7519 sec. 5.2 cty (C5), RFC 8725 sec. 3.10 jku/x5u/jwk/x5c)
FORBIDDEN_HEADERS = frozenset({"crit", "b64", "zip", "enc", "cty", "jku", "x5u", "jwk", "x5c"})
#: longest ``kid`` accepted in token headers and on keys (``tokenward.keys`` uses it too)
MAX_KID_LENGTH = 256
_HEADER_CACHE_SIZE = 64
_ERRORS = (*JSON_ERRORS, binascii.Error, IndexError, KeyError)


class KeyResolver(Protocol):
    """What ``Key`` and ``KeySet`` offer to the parser: a kid lookup and a header cache."""

    _header_cache: dict[str, tuple[dict[str, Any], Key]]

    def _lookup(self, kid: str | None) -> Key: ...


def _as_text(token: object) -> str:
    if isinstance(token, bytes | bytearray | memoryview):
        try:
            return bytes(token).decode("ascii")
        except UnicodeError:
            raise MalformedToken() from None
    raise MalformedToken("token must be str or bytes")


def _resolve_header(segment: str, resolver: KeyResolver) -> tuple[dict[str, Any], Key]:
    """Parse and check one header segment and find its key; the result is cached."""
    if not segment:
        raise MalformedToken("empty header")
    header = loads_object(b64url_decode(segment))
    if not FORBIDDEN_HEADERS.isdisjoint(header):
        raise UnsupportedHeader()
    alg = header.get("alg")
    if type(alg) is not str:  # RFC 7515 sec. 4.1.1: alg MUST be present (A2)
        raise MalformedToken("alg missing or not a string")
    kid = header.get("kid")
    if "kid" in header and (type(kid) is not str or len(kid) > MAX_KID_LENGTH):
        raise MalformedToken("kid is not a short string")  # B4 (null, number, array, 10 KB)
    # kid is only a dictionary key: no I/O, no path, no query (RFC 8725 sec. 3.10)
    key = resolver._lookup(kid)
    if alg != key.alg:  # the key decides the algorithm (RFC 8725 sec. 3.1; A1-A6)
        raise AlgorithmNotAllowed()
    cache = resolver._header_cache
    if len(cache) >= _HEADER_CACHE_SIZE:
        cache.clear()
    cache[segment] = (header, key)
    return header, key


def _verified(
    token: str | bytes,
    resolver: KeyResolver,
    algorithms: Collection[str] | None,
    max_bytes: int,
    require_kid: bool = False,
) -> tuple[dict[str, Any], Key, bytes]:
    """Steps 1-5 up to a verified signature: (cached header, key, payload bytes).

    ``require_kid`` refuses a header without ``kid`` before any crypto, whatever the
    resolver (a single key resolves a kid-less header, and the header cache is shared with
    callers that allow that), so the check runs on every call (profile B5).
    """
    if len(token) > max_bytes:
        raise TokenTooLarge()
    if type(token) is not str:
        token = _as_text(token)
    if token.count(".") != 2:
        raise MalformedToken()
    signing_input, _, s = token.rpartition(".")
    h, _, p = signing_input.partition(".")
    last = LAST_CHAR_OK
    if not s or s[-1] not in last[len(s) & 3] or (p and p[-1] not in last[len(p) & 3]):
        raise MalformedToken("non-canonical base64url")
    decode, table, pad = binascii.a2b_base64, URL_TO_STD, PADDING
    payload = decode(p.encode().translate(table) + pad[len(p) & 3], strict_mode=True)
    signature = decode(s.encode().translate(table) + pad[len(s) & 3], strict_mode=True)
    entry = resolver._header_cache.get(h)
    header, key = entry if entry is not None else _resolve_header(h, resolver)
    if require_kid and "kid" not in header:  # a present kid is a short string (B4)
        raise UnknownKey("token has no kid")
    if algorithms is not None and key.alg not in algorithms:
        raise AlgorithmNotAllowed()
    if not key._verify(signing_input.encode(), signature):
        raise BadSignature()
    return header, key, payload


def verify_compact(
    token: str | bytes,
    resolver: KeyResolver,
    *,
    algorithms: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[dict[str, Any], bytes, Key]:
    """Verify a compact JWS; return (header copy, payload bytes, key).

    :raise InvalidToken: a subclass for every failure; nothing else escapes
    """
    if type(algorithms) is str:
        raise ConfigurationError("algorithms must be a collection of names, not a string")
    try:
        header, key, payload = _verified(token, resolver, algorithms, max_bytes)
    except InvalidToken:
        raise
    except _ERRORS:
        raise MalformedToken() from None
    return dict(header), payload, key


def decode_jwt(
    token: str | bytes,
    resolver: KeyResolver,
    *,
    algorithms: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    copy_header: bool = True,
    require_kid: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], Key]:
    """Verify a compact JWS whose payload is a JWT claims set; return (header, claims, key).

    The claims are a strict UTF-8 JSON object (rule 10), parsed only after the signature
    verified, and a fresh dict. ``header`` is a fresh copy too unless ``copy_header=False``:
    then it is the dict shared through the header cache (saves a copy per call) and the
    caller must never mutate it. With ``require_kid=True`` a token without a ``kid`` header
    raises ``UnknownKey`` even when ``resolver`` is a single key (profile B5).

    :raise InvalidToken: a subclass for every failure; nothing else escapes
    """
    if type(algorithms) is str:
        raise ConfigurationError("algorithms must be a collection of names, not a string")
    try:
        header, key, payload = _verified(token, resolver, algorithms, max_bytes, require_kid)
        claims = loads_object_text(payload.decode("utf-8"))
    except InvalidToken:
        raise
    except _ERRORS:
        raise MalformedToken() from None
    return (dict(header) if copy_header else header), claims, key


def encode_header(key: Key, header: Mapping[str, Any] | None) -> str:
    """The base64url protected header for ``key`` (``alg``/``kid`` from it) plus ``header``."""
    fields: dict[str, Any] = {"alg": key.alg, "kid": key.kid}
    if header:
        for name, value in header.items():
            if name in fields and value != fields[name]:
                raise ConfigurationError(f"header may not override {name}")
            if name in FORBIDDEN_HEADERS:
                raise ConfigurationError(f"header parameter {name!r} is never accepted")
            fields[name] = value
    try:
        encoded = json.dumps(fields, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"header is not JSON-serializable: {exc}") from None
    return b64url_encode(encoded)


def sign_compact(payload: bytes, key: Key, header: Mapping[str, Any] | None = None) -> str:
    """Compact JWS of ``payload`` signed by ``key``; ``alg`` and ``kid`` come from the key.

    :raise ConfigurationError: ``header`` tries to change ``alg``/``kid`` or carries a
        parameter the verifier refuses
    :raise InvalidKey: the key cannot sign
    """
    # encoded headers of string-valued parameters repeat: cache them per key
    cacheable = header is None or all(type(v) is str for v in header.values())
    cache_key = tuple(header.items()) if header and cacheable else ()
    encoded = key._sign_cache.get(cache_key) if cacheable else None
    if encoded is None:
        encoded = encode_header(key, header)
        if cacheable:
            if len(key._sign_cache) >= _HEADER_CACHE_SIZE:
                key._sign_cache.clear()
            key._sign_cache[cache_key] = encoded
    signer = key._sign
    if signer is None:
        raise InvalidKey("a public key cannot sign")
    signing_input = f"{encoded}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(signer(signing_input.encode()))}"
