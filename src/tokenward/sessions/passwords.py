"""Password hashing with Argon2id (argon2-cffi) and username normalisation.

Security choices (security profile sec. 6):

* **Argon2id** (RFC 9106 sec. 4) with argon2-cffi's RFC 9106 *low-memory* profile by default:
  ``m=65536 KiB, t=3, p=4``. That exceeds the OWASP Password Storage Cheat Sheet minimum
  (``m=19456, t=2, p=1``). A cheaper :class:`argon2.Parameters` set can be injected for tests.
* Passwords are capped at 1 KiB of UTF-8 **before** hashing so a huge password is not a CPU or
  memory amplifier; an over-long, non-string or non-encodable password raises
  :class:`~tokenward.errors.InvalidRequest` without computing a hash.
* A dummy hash with the same parameters is computed when the hasher is built, so that a login
  for an unknown user costs one Argon2id verification like a wrong password does (OWASP
  Authentication Cheat Sheet, "Authentication Responses").
* :meth:`PasswordHasher.verify` returns ``False`` for a mismatch *and* for an invalid stored
  hash; it never raises on those.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Final

import argon2
import argon2.exceptions
import argon2.profiles

from tokenward.errors import InvalidRequest

__all__ = [
    "DEFAULT_PARAMETERS",
    "MAX_PASSWORD_BYTES",
    "MAX_USERNAME_CHARS",
    "OWASP_MINIMUM",
    "PasswordHasher",
    "normalize_username",
]

#: hard cap on the UTF-8 length of a password, checked before hashing (security profile sec. 6)
MAX_PASSWORD_BYTES: Final = 1024
#: cap on a username's length in characters (an e-mail address fits)
MAX_USERNAME_CHARS: Final = 256

#: RFC 9106 sec. 4 "second recommended option" (low memory): m=64 MiB, t=3, p=4
DEFAULT_PARAMETERS: Final = argon2.profiles.RFC_9106_LOW_MEMORY
#: OWASP Password Storage Cheat Sheet minimum for Argon2id (m KiB, t, p)
OWASP_MINIMUM: Final = (19456, 2, 1)

#: a very cheap Argon2id set; only for tests (never meets :data:`OWASP_MINIMUM`)
TEST_PARAMETERS: Final = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=1,
    memory_cost=8,
    parallelism=1,
)

_VERIFY_ERRORS = (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError)


def encode_password(password: object, *, max_bytes: int = MAX_PASSWORD_BYTES) -> bytes:
    """Return the UTF-8 bytes of ``password`` or raise :class:`InvalidRequest`.

    The character count is checked first (every character is at least one byte), so a
    megabyte-long string is rejected without encoding it.
    """
    if not isinstance(password, str):
        raise InvalidRequest("password must be a string")
    if len(password) > max_bytes:
        raise InvalidRequest("password too long")
    try:
        data = password.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise InvalidRequest("password is not valid Unicode") from None
    if len(data) > max_bytes:
        raise InvalidRequest("password too long")
    return data


def normalize_username(username: object) -> str:
    """Return the comparison key of ``username``: NFKC then ``str.casefold`` (UTS #39 style).

    The username itself is stored exactly as given; only this key is used for uniqueness and
    look-up. Raises :class:`InvalidRequest` for a non-string, empty, over-long username or one
    containing control characters.
    """
    if not isinstance(username, str):
        raise InvalidRequest("username must be a string")
    if not username or len(username) > MAX_USERNAME_CHARS:
        raise InvalidRequest("username length out of range")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in username):
        raise InvalidRequest("username contains control characters")
    key = unicodedata.normalize("NFKC", username).casefold()
    if not key.strip() or len(key) > 4 * MAX_USERNAME_CHARS:
        raise InvalidRequest("username length out of range")
    return key


class PasswordHasher:
    """Argon2id password hashing with a length cap and a constant-work dummy verification.

    :param parameters: Argon2 parameters; default :data:`DEFAULT_PARAMETERS` (RFC 9106
        low-memory profile). Must be Argon2id.
    :param max_bytes: password cap in UTF-8 bytes (default 1024)
    """

    __slots__ = ("_dummy_hash", "_hasher", "_max_bytes", "_parameters")

    def __init__(
        self, *, parameters: argon2.Parameters | None = None, max_bytes: int = MAX_PASSWORD_BYTES
    ) -> None:
        params = DEFAULT_PARAMETERS if parameters is None else parameters
        if params.type is not argon2.Type.ID:
            raise ValueError("only Argon2id is supported (RFC 9106 sec. 4)")
        self._parameters = params
        self._hasher = argon2.PasswordHasher.from_parameters(params)
        self._max_bytes = max_bytes
        # Same parameters as real hashes, so verifying against it costs the same.
        self._dummy_hash = self._hasher.hash(secrets.token_bytes(32))

    @classmethod
    def for_testing(cls) -> PasswordHasher:
        """A hasher with :data:`TEST_PARAMETERS` (fast, insecure; for test suites only)."""
        return cls(parameters=TEST_PARAMETERS)

    @property
    def parameters(self) -> argon2.Parameters:
        """The Argon2 parameters new hashes are made with."""
        return self._parameters

    @property
    def max_bytes(self) -> int:
        """The password cap in UTF-8 bytes."""
        return self._max_bytes

    def check_length(self, password: object) -> bytes:
        """Return the encoded password or raise :class:`InvalidRequest` (no hashing)."""
        return encode_password(password, max_bytes=self._max_bytes)

    def hash(self, password: str) -> str:
        """Hash ``password``; returns the PHC string (``$argon2id$v=19$m=...``).

        :raises InvalidRequest: password not a string, not encodable or over the cap
        """
        return self._hasher.hash(self.check_length(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """``True`` iff ``password`` matches ``password_hash``.

        Never raises for a mismatch or a malformed stored hash (returns ``False``).

        :raises InvalidRequest: password not a string, not encodable or over the cap
        """
        data = self.check_length(password)
        try:
            return self._hasher.verify(password_hash, data)
        except _VERIFY_ERRORS:
            return False

    def verify_dummy(self, password: str) -> bool:
        """Spend one verification on the dummy hash; always ``False``.

        Called when the user does not exist so that the response costs the same as a wrong
        password (OWASP Authentication Cheat Sheet).
        """
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """``True`` when ``password_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (*_VERIFY_ERRORS, ValueError):
            return True
