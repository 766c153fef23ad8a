"""``FileKeyStore``: one private JWK file per key plus a small state index, in a directory.

Layout (the directory is created mode 0700)::

    <dir>/keyring.json        {"version": 1, "keys": {kid: {alg, state, created_at, ...}}}
    <dir>/<kid>.jwk           the private JWK (RFC 7517), mode 0600
    <dir>/.lock               advisory lock serialising writers across processes

Every write goes to a temporary file in the same directory, is fsync'ed and then renamed
over the target (``os.replace`` is atomic on POSIX), so a reader or a crash never sees a
half-written key or index. Compound operations (initialize, rotate) hold an exclusive
``flock`` on ``.lock`` so a CLI and a running service can share the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tokenward.errors import ConfigurationError, InvalidKey, StorageUnavailable
from tokenward.keyring._model import KeyState, StoredKey, check_insert, check_update
from tokenward.keys import Key

__all__ = ["FileKeyStore"]

_T = TypeVar("_T")
_INDEX = "keyring.json"
_SAFE_KID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


async def _in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """Run blocking file work in a worker thread; an ``OSError`` (disk full, lock or mkdir
    refused, directory gone...) becomes ``StorageUnavailable`` so callers such as the key
    poller see one error type for every store. The message names the error type and errno
    only: never file contents."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise StorageUnavailable(f"key directory unavailable: {reason}") from None


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # umask must not widen or narrow what we asked for
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileKeyStore:
    """A :class:`~tokenward.keyring.KeyStore` in a local directory (the default backend).

    :param directory: created (mode 0700) if missing
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, Key] = {}

    # --- low level (blocking; called in a worker thread) --- #

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _key_path(self, kid: str) -> Path:
        name = kid if _SAFE_KID.match(kid) else hashlib.sha256(kid.encode()).hexdigest()[:40]
        return self.directory / f"{name}.jwk"

    def _read_index(self) -> dict[str, dict[str, Any]]:
        path = self.directory / _INDEX
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"unreadable key index {path}: {exc}") from None
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, dict):
            raise ConfigurationError(f"malformed key index {path}")
        return keys

    def _write_index(self, index: dict[str, dict[str, Any]]) -> None:
        data = json.dumps({"version": 1, "keys": index}, indent=2, sort_keys=True).encode()
        _atomic_write(self.directory / _INDEX, data + b"\n", 0o644)

    def _load_private(self, kid: str, alg: str) -> Key:
        cached = self._cache.get(kid)
        if cached is not None:
            return cached
        path = self._key_path(kid)
        try:
            st = path.stat()
            if stat.S_IMODE(st.st_mode) & 0o077:
                # Like ssh: a private key others can read is treated as compromised config.
                raise ConfigurationError(
                    f"private key file {path} is accessible by others; chmod 600 it"
                )
            jwk = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise ConfigurationError(f"key file {path} for kid {kid!r} is missing") from None
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"unreadable key file {path}: {exc}") from None
        try:
            key = Key.from_jwk(jwk, alg=alg)
        except InvalidKey as exc:
            raise ConfigurationError(f"invalid key file {path}: {exc.description}") from None
        if key.kid != kid or not key.is_private:
            raise ConfigurationError(f"key file {path} does not hold the private key {kid!r}")
        self._cache[kid] = key
        return key

    def _record(self, kid: str, meta: dict[str, Any]) -> StoredKey:
        try:
            state = KeyState(meta["state"])
            alg = str(meta["alg"])
            created = float(meta["created_at"])
        except (KeyError, ValueError, TypeError):
            raise ConfigurationError(f"malformed key index entry for {kid!r}") from None
        return StoredKey(
            kid=kid,
            alg=alg,
            state=state,
            key=self._load_private(kid, alg),
            created_at=created,
            activated_at=_opt_float(meta.get("activated_at")),
            retired_at=_opt_float(meta.get("retired_at")),
            retire_after=_opt_float(meta.get("retire_after")),
        )

    def _list(self) -> list[StoredKey]:
        records = [self._record(kid, meta) for kid, meta in self._read_index().items()]
        return sorted(records, key=lambda r: (r.created_at, r.kid))

    def _insert(self, index: dict[str, dict[str, Any]], key: StoredKey) -> None:
        if key.kid in index:
            raise InvalidKey(f"a key with kid {key.kid!r} already exists")
        if key.state is KeyState.ACTIVE and _active_kids(index):
            raise InvalidKey("another key is already active")
        check_insert(key)
        jwk = key.key.to_jwk(private=True)
        _atomic_write(self._key_path(key.kid), json.dumps(jwk).encode(), 0o600)
        index[key.kid] = _meta(key)
        self._cache[key.kid] = key.key

    def _run(self, fn: Callable[[dict[str, dict[str, Any]]], _T]) -> _T:
        """Run ``fn(index)`` under the lock and persist the index it mutated."""
        with self._locked():
            index = self._read_index()
            result = fn(index)
            self._write_index(index)
            return result

    # --- KeyStore --- #

    async def list_keys(self) -> Sequence[StoredKey]:
        return await _in_thread(self._list)

    async def get_key(self, kid: str) -> StoredKey | None:
        def get() -> StoredKey | None:
            meta = self._read_index().get(kid)
            return None if meta is None else self._record(kid, meta)

        return await _in_thread(get)

    async def put_key(self, key: StoredKey) -> None:
        await _in_thread(self._run, lambda index: self._insert(index, key))

    async def update_state(self, kid: str, *, expected: KeyState, new: StoredKey) -> bool:
        check_update(expected, new)

        def update(index: dict[str, dict[str, Any]]) -> bool:
            meta = index.get(kid)
            if meta is None or meta.get("state") != expected.value:
                return False
            index[kid] = _meta(new)
            return True

        return await _in_thread(self._run, update)

    async def delete_key(self, kid: str) -> bool:
        def delete() -> bool:
            with self._locked():
                index = self._read_index()
                if index.pop(kid, None) is None:
                    return False
                # Index first, file second: an unlocked reader never sees a kid whose file
                # is already gone.
                self._write_index(index)
                self._key_path(kid).unlink(missing_ok=True)
                self._cache.pop(kid, None)
                return True

        return await _in_thread(delete)

    async def initialize(self, active: StoredKey, next_key: StoredKey) -> bool:
        def init(index: dict[str, dict[str, Any]]) -> bool:
            if _active_kids(index):
                return False
            self._insert(index, active)
            self._insert(index, next_key)
            return True

        return await _in_thread(self._run, init)

    async def rotate(self, *, active: StoredKey, next_key: StoredKey, new_next: StoredKey) -> bool:
        def rotate(index: dict[str, dict[str, Any]]) -> bool:
            old = index.get(active.kid, {}).get("state")
            nxt = index.get(next_key.kid, {}).get("state")
            if old != KeyState.ACTIVE.value or nxt != KeyState.NEXT.value:
                return False
            index[active.kid] = _meta(active)
            index[next_key.kid] = _meta(next_key)
            self._insert(index, new_next)
            return True

        return await _in_thread(self._run, rotate)


def _meta(key: StoredKey) -> dict[str, Any]:
    return {"alg": key.alg, **key.lifecycle()}


def _active_kids(index: dict[str, dict[str, Any]]) -> list[str]:
    return [kid for kid, meta in index.items() if meta.get("state") == KeyState.ACTIVE.value]


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ConfigurationError("malformed timestamp in key index")
