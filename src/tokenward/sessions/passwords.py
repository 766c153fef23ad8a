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
* The async methods (:meth:`PasswordHasher.ahash`, :meth:`~PasswordHasher.averify`,
  :meth:`~PasswordHasher.averify_dummy`) run on the hasher's **own bounded thread pool**
  (``max_workers`` threads, default ``os.cpu_count()``), never on asyncio's shared default
  executor: at most ``max_workers`` Argon2 computations (64 MiB each by default) run at once,
  so a login flood cannot exhaust memory nor starve ``getaddrinfo`` and file I/O on the
  default pool. At most ``max_waiting`` jobs wait for a thread; beyond that a call fails fast
  with :class:`~tokenward.errors.Throttled` (``retry_after=1``, HTTP 429) without hashing.
  The dummy verification takes exactly the same path as a real one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, TypeVar

import argon2
import argon2.exceptions
import argon2.profiles

from tokenward.errors import InvalidRequest, Throttled

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

#: jobs allowed to wait for a hashing thread, per thread, unless configured
WAITING_PER_WORKER: Final = 4

_T = TypeVar("_T")

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
    :param max_workers: threads of the hashing pool used by the async methods (default
        ``os.cpu_count()``); bounds the memory of concurrent hashes
    :param max_waiting: jobs that may wait for a thread (default ``4 * max_workers``); more
        are refused with :class:`~tokenward.errors.Throttled`

    The pool is created on first use; :meth:`close` / :meth:`aclose` shut it down (a later
    call creates a new one).
    """

    __slots__ = (
        "_dummy_hash",
        "_executor",
        "_hasher",
        "_lock",
        "_max_bytes",
        "_max_waiting",
        "_max_workers",
        "_parameters",
        "_pending",
    )

    def __init__(
        self,
        *,
        parameters: argon2.Parameters | None = None,
        max_bytes: int = MAX_PASSWORD_BYTES,
        max_workers: int | None = None,
        max_waiting: int | None = None,
    ) -> None:
        params = DEFAULT_PARAMETERS if parameters is None else parameters
        if params.type is not argon2.Type.ID:
            raise ValueError("only Argon2id is supported (RFC 9106 sec. 4)")
        workers = (os.cpu_count() or 1) if max_workers is None else max_workers
        waiting = WAITING_PER_WORKER * workers if max_waiting is None else max_waiting
        if workers < 1 or waiting < 0:
            raise ValueError("max_workers must be >= 1 and max_waiting >= 0")
        self._max_workers = workers
        self._max_waiting = waiting
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._parameters = params
        self._hasher = argon2.PasswordHasher.from_parameters(params)
        self._max_bytes = max_bytes
        # Same parameters as real hashes, so verifying against it costs the same.
        self._dummy_hash = self._hasher.hash(secrets.token_bytes(32))

    @classmethod
    def for_testing(
        cls, *, max_workers: int | None = None, max_waiting: int | None = None
    ) -> PasswordHasher:
        """A hasher with :data:`TEST_PARAMETERS` (fast, insecure; for test suites only)."""
        return cls(parameters=TEST_PARAMETERS, max_workers=max_workers, max_waiting=max_waiting)

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

    @property
    def pending(self) -> int:
        """Hash jobs submitted to the pool and not finished yet (running or waiting)."""
        return self._pending

    async def ahash(self, password: str) -> str:
        """:meth:`hash` on the bounded pool.

        :raises InvalidRequest: as :meth:`hash` (checked before queueing)
        :raises Throttled: more than ``max_waiting`` jobs already wait (nothing hashed)
        """
        self.check_length(password)
        return await self._run(self.hash, password)

    async def averify(self, password_hash: str, password: str) -> bool:
        """:meth:`verify` on the bounded pool; raises like :meth:`ahash`."""
        self.check_length(password)
        return await self._run(self.verify, password_hash, password)

    async def averify_dummy(self, password: str) -> bool:
        """:meth:`verify_dummy` on the bounded pool: the same path and cost as
        :meth:`averify` (OWASP Authentication Cheat Sheet); always ``False``."""
        self.check_length(password)
        await self._run(self.verify, self._dummy_hash, password)
        return False

    async def _run(self, fn: Callable[..., _T], *args: str) -> _T:
        with self._lock:
            if self._pending >= self._max_workers + self._max_waiting:
                # refuse before queueing: bounded memory and latency under a flood
                raise Throttled("password hashing busy", retry_after=1)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._max_workers, thread_name_prefix="tokenward-argon2"
                )
            future = self._executor.submit(fn, *args)
            self._pending += 1
        future.add_done_callback(self._finished)  # also runs when cancelled before starting
        return await asyncio.wrap_future(future)

    def _finished(self, _future: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        """Shut the hashing pool down, waiting for running jobs; queued jobs are cancelled."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    async def aclose(self) -> None:
        """Shut the pool down without blocking the event loop; queued jobs are cancelled and
        running ones finish in their threads."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def needs_rehash(self, password_hash: str) -> bool:
        """``True`` when ``password_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (*_VERIFY_ERRORS, ValueError):
            return True
