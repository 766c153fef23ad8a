"""Serialising an access token's claims without building and encoding a dict per token.

``TokenIssuer`` knows most of its payload in advance (``iss``, ``aud``, ``client_id``, the
member names), so it writes the JSON text from pre-encoded pieces and escapes only the
per-token strings. The output is exactly what ``json.dumps(claims, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` gives for the same claims: compact, UTF-8 once
encoded (RFC 8259 sec. 8.1), strings escaped by the stdlib's own C escaper (sec. 7).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Callable, Collection, Mapping
from json.encoder import encode_basestring
from typing import Any

from tokenward.errors import ConfigurationError
from tokenward.jose._b64 import b64url_bytes

__all__ = ["JtiPool", "custom_claims", "json_string", "role_list"]

#: JSON string literal of a ``str``: quotes, ``"``/``\\`` and control characters escaped,
#: everything else kept as is (the C escaper behind ``ensure_ascii=False``)
json_string: Callable[[str], str] = encode_basestring

#: jtis made per refill: one getrandom call and one base64 pass for the lot
_JTI_BATCH = 256


def role_list(roles: Collection[str]) -> str:
    """The JSON array of ``roles``; raise ConfigurationError unless it holds strings only."""
    if not isinstance(roles, str):
        try:  # the C escaper raises TypeError for anything but a str
            return "[" + ",".join(map(encode_basestring, roles)) + "]"
        except TypeError:
            pass
    raise ConfigurationError("roles must be a collection of strings")


def custom_claims(claims: Mapping[str, Any], encode: Callable[[Any], str]) -> str:
    """``,"name":value`` for each custom claim, in order; ``encode`` handles nested values.

    Claim names must be strings: ``json.dumps`` would turn ``1`` or ``True`` into the
    names ``"1"``/``"true"`` and could emit a duplicate member (RFC 7519 sec. 4, which
    tokenward's own validator refuses).

    :raises ConfigurationError: for a non-string name; ``encode`` raises TypeError or
        ValueError for values that are not JSON (the caller maps those).
    """
    parts = []
    for name, value in claims.items():
        if type(name) is not str:
            raise ConfigurationError("custom claim names must be strings")
        kind = type(value)
        if kind is str:
            text = encode_basestring(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is int:
            text = int.__repr__(value)
        elif value is None:
            text = "null"
        else:  # floats (NaN and Infinity refused), containers, subclasses
            text = encode(value)
        parts.append(f",{encode_basestring(name)}:{text}")
    return "".join(parts)


def _fresh_jtis(count: int) -> list[str]:
    """``count`` jtis, each the canonical unpadded base64url of 16 CSPRNG bytes.

    Every 16 random bytes are followed by two zero bytes, so each 18-byte group encodes
    to 24 characters on its own (RFC 4648 sec. 4 works in 3-byte blocks) and the first 22
    of them are exactly ``b64url(16 bytes)`` (its last character carries 2 random bits
    and 4 zero bits, the canonical form). One ``os.urandom`` and one base64 pass serve
    the whole batch.
    """
    buffer = bytearray(os.urandom(18 * count))
    buffer[16::18] = bytes(count)
    buffer[17::18] = bytes(count)
    text = b64url_bytes(bytes(buffer)).decode("ascii")
    return [text[i : i + 22] for i in range(0, 24 * count, 24)]


class JtiPool(list[str]):
    """A per-issuer stock of unused jtis (RFC 7519 sec. 4.1.7: 128 random bits each).

    ``pop()`` is atomic, so threads never share a jti. A forked child empties its copy
    (``os.register_at_fork``), so parent and child never hand out the same values. A jti
    is public once issued and unguessable before, like ``secrets.token_urlsafe(16)``.
    """

    __slots__ = ("__weakref__",)

    def __init__(self) -> None:
        super().__init__()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def forget() -> None:
                pool = ref()
                if pool is not None:
                    pool.clear()

            os.register_at_fork(after_in_child=forget)

    def refill(self) -> str:
        """Restock and return one jti (call when ``pop()`` found the pool empty)."""
        fresh = _fresh_jtis(_JTI_BATCH)
        jti = fresh.pop()
        self.extend(fresh)
        return jti


def compact_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with compact separators, no NaN/Infinity (RFC 8259 sec. 6)."""
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
