"""Build arbitrary compact tokens for attack tests (no validation whatsoever).

Reusable from any test module. ``tests/jose`` has no ``__init__.py`` (a package named
``jose`` would shadow python-jose), so outside this folder import it with::

    sys.path.insert(0, str(pathlib.Path(__file__).parent / "jose"))
    import forge

Segments may be given as a ``dict``/``list``/other JSON value (serialized compactly, in
insertion order), as ``str`` (used verbatim as JSON text, UTF-8) or as ``bytes`` (used
verbatim). Signatures come from a ``Key`` (its own algorithm, whatever the header says),
from an HMAC secret with any hash, or are given raw.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import hmac
import json
import socket
from typing import Any

from tokenward import Key

__all__ = [
    "ALGS",
    "b64",
    "forbid_decoding",
    "forbid_io",
    "forge",
    "hmac_forge",
    "json_bytes",
    "segment",
    "signing_input",
    "split",
]

#: every algorithm tokenward supports
ALGS = (
    "HS256", "HS384", "HS512",
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA",
)  # fmt: skip


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(value: Any) -> bytes:
    """``bytes`` verbatim, ``str`` as UTF-8 JSON text, anything else as compact JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def segment(value: Any) -> str:
    """The base64url segment of ``value`` (see :func:`json_bytes`)."""
    return b64(json_bytes(value))


def signing_input(header: Any, payload: Any) -> str:
    return f"{segment(header)}.{segment(payload)}"


def forge(
    header: Any,
    payload: Any,
    key: Key | None = None,
    *,
    signature: bytes | None = None,
) -> str:
    """A compact token; signed by ``key`` (with the key's algorithm) or carrying the raw
    ``signature`` (default: empty)."""
    data = signing_input(header, payload)
    if key is not None:
        sig = key.sign(data.encode("ascii"))
    else:
        sig = signature if signature is not None else b""
    return f"{data}.{b64(sig)}"


def hmac_forge(header: Any, payload: Any, secret: bytes, hash_name: str = "sha256") -> str:
    """A token MACed with an arbitrary secret (key-confusion and weak-key attacks)."""
    data = signing_input(header, payload)
    mac = hmac.new(secret, data.encode("ascii"), getattr(hashlib, hash_name)).digest()
    return f"{data}.{b64(mac)}"


def split(token: str) -> tuple[str, str, str]:
    """The three segments of a compact token."""
    h, p, s = token.split(".")
    return h, p, s


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the input was processed further than it should have been")


def forbid_decoding(monkeypatch: Any) -> None:
    """From now on any base64 decoding fails the test: what follows must be refused before
    a single segment is decoded (the cheap size and shape checks of profile rules 1-2)."""
    monkeypatch.setattr(binascii, "a2b_base64", _refuse)


def forbid_io(monkeypatch: Any) -> None:
    """From now on opening a file or a socket fails the test (kid is only a dict key)."""
    monkeypatch.setattr(builtins, "open", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
