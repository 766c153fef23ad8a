"""Canonical, unpadded base64url (RFC 7515 sec. 2 and appendix C).

``base64.urlsafe_b64decode`` is lenient: it drops characters outside the alphabet, accepts
``+``/``/`` and padding, and ignores non-zero trailing bits. Every decoder here first checks
the alphabet, the length (``len % 4 != 1``) and the trailing bits, so exactly one string
decodes to a given byte string (security profile rule 3, D1).
"""

from __future__ import annotations

import binascii

__all__ = [
    "LAST_CHAR_OK",
    "PADDING",
    "URL_TO_STD",
    "b64url_bytes",
    "b64url_decode",
    "b64url_encode",
]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

#: allowed last characters, indexed by ``len(segment) % 4``: with 2 trailing characters the
#: low 4 bits of the last one must be zero, with 3 the low 2 bits (RFC 4648 sec. 3.5).
LAST_CHAR_OK: tuple[frozenset[str], ...] = (
    frozenset(_ALPHABET),
    frozenset(),
    frozenset(_ALPHABET[0::16]),  # A Q g w
    frozenset(_ALPHABET[0::4]),  # A E I M Q U Y c g k o s w 0 4 8
)
#: base64url -> standard alphabet for ``binascii.a2b_base64(..., strict_mode=True)``; the
#: standard-only characters ``+`` ``/`` and the pad ``=`` map to ``!``, which strict mode
#: refuses, as it refuses whitespace and every other byte outside the alphabet
URL_TO_STD = bytes.maketrans(b"-_+/=", b"+/!!!")
#: padding to append, indexed by ``len(segment) % 4`` (1 is never canonical)
PADDING = (b"", b"", b"==", b"=")
_STD_TO_URL = bytes.maketrans(b"+/", b"-_")


def b64url_decode(segment: str) -> bytes:
    """Decode canonical base64url; raise ``ValueError`` for anything else."""
    if not isinstance(segment, str):
        raise ValueError("not a string")
    if segment and segment[-1] not in LAST_CHAR_OK[len(segment) & 3]:
        raise ValueError("not canonical base64url")
    raw = segment.encode("utf-8", "surrogatepass").translate(URL_TO_STD)
    return binascii.a2b_base64(raw + PADDING[len(segment) & 3], strict_mode=True)


def b64url_bytes(data: bytes) -> bytes:
    """Encode bytes as unpadded base64url, as ASCII bytes (for signing inputs)."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL).rstrip(b"=")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return b64url_bytes(data).decode()
