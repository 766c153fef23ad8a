"""Shared fixtures: injected clocks, the real PostgreSQL / Redis servers, store factories.

Tests that need PostgreSQL or Redis use them for real. When a server is unreachable the test
is skipped with the reason, unless ``TOKENWARD_REQUIRE_SERVICES=1`` (set by ``.ci/run``),
in which case absence is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings

from tokenward.clock import FixedClock
from tokenward.storage.base import RotateHook

# Property tests assert behaviour, never speed: no per-example deadline (a loaded CI machine
# must not turn a slow example into a failure). Speed lives in bench/.
settings.register_profile("tokenward", deadline=None)
settings.load_profile("tokenward")

PG_HOST = os.environ.get("TOKENWARD_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TOKENWARD_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TOKENWARD_TEST_PG_USER", "postgres")
PG_DB = os.environ.get("TOKENWARD_TEST_PG_DB", "test")
REDIS_HOST = os.environ.get("TOKENWARD_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TOKENWARD_TEST_REDIS_PORT", "6379"))


def services_required() -> bool:
    return os.environ.get("TOKENWARD_REQUIRE_SERVICES") == "1"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail, when services are required) if ``host:port`` does not answer."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if services_required():
        pytest.fail(f"{message} and TOKENWARD_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_800_000_000.0)


@pytest.fixture
def pg_url() -> str:
    """asyncpg URL of the test database (skips/fails when PostgreSQL is down)."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def unique_prefix() -> Iterator[str]:
    """A per-test namespace (PostgreSQL schema name or Redis key prefix)."""
    yield f"tw_test_{uuid.uuid4().hex[:12]}"


#: the repository root (bench/ and examples/ are scripts, not packages)
ROOT = Path(__file__).resolve().parent.parent


def load_script(relative: str) -> ModuleType:
    """Import ``ROOT / relative`` (a bench or example script) as a module, once per run."""
    name = "tokenward_script_" + relative.replace("/", "_").removesuffix(".py")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / relative)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def script() -> Callable[[str], ModuleType]:
    """``script("bench/core.py")``: a bench or example script, imported once per run."""
    return load_script


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``TOKENWARD__*`` settings from the outside and no stray ``./tokenward.toml``: the
    test runs in ``tmp_path`` (returned), as the service and CLI read both at start-up."""
    for name in list(os.environ):
        if name.upper().startswith("TOKENWARD__"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- storage: one database per test (the ``backend`` fixture of each folder picks it) --- #

#: ``make_store(rotate_hook=None)`` -> a store of the test's backend
StoreFactory = Callable[..., Any]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tokenward.db'}"


@pytest.fixture
def db_target(request: pytest.FixtureRequest, backend: str) -> tuple[str, str | None] | None:
    """``(url, schema)`` for a SQL backend (None for memory); the schema is created later."""
    if backend == "sqlite":
        return request.getfixturevalue("sqlite_url"), None
    if backend == "postgres":
        return request.getfixturevalue("pg_url"), request.getfixturevalue("unique_prefix")
    return None


@pytest.fixture
async def empty_db(
    db_target: tuple[str, str | None] | None,
) -> AsyncIterator[tuple[str, str | None] | None]:
    """An empty database (SQLite file / fresh PostgreSQL schema), dropped afterwards."""
    if db_target is None:
        yield None
        return
    url, schema = db_target
    from tokenward.storage.sql import create_schema, drop_schema

    if schema is not None:
        await create_schema(url, schema)
    try:
        yield url, schema
    finally:
        if schema is not None:
            await drop_schema(url, schema)


@pytest.fixture
async def migrated_db(
    empty_db: tuple[str, str | None] | None,
) -> tuple[str, str | None] | None:
    if empty_db is None:
        return None
    from tokenward.storage.sql import upgrade_database

    url, schema = empty_db
    await upgrade_database(url, schema=schema)
    return url, schema


@pytest.fixture
async def make_store(
    migrated_db: tuple[str, str | None] | None,
) -> AsyncIterator[StoreFactory]:
    """Factory for stores of ``backend`` sharing one database; engines disposed after."""
    from tokenward.storage.memory import MemoryStore
    from tokenward.storage.sql import SqlStore, create_engine

    if migrated_db is None:

        def build_memory(rotate_hook: RotateHook | None = None) -> Any:
            return MemoryStore(rotate_hook=rotate_hook)

        yield build_memory
        return
    url, schema = migrated_db
    engines: list[Any] = []

    def build_sql(rotate_hook: RotateHook | None = None) -> Any:
        engine = create_engine(url, schema=schema)
        engines.append(engine)
        return SqlStore(engine, rotate_hook=rotate_hook)

    try:
        yield build_sql
    finally:
        for engine in engines:
            await engine.dispose()
