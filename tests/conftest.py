"""Shared fixtures: injected clocks and the real PostgreSQL / Redis servers.

Tests that need PostgreSQL or Redis use them for real. When a server is unreachable the test
is skipped with the reason, unless ``TOKENWARD_REQUIRE_SERVICES=1`` (set by ``.ci/run``),
in which case absence is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tokenward.clock import FixedClock

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


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``TOKENWARD__*`` settings from the outside and no stray ``./tokenward.toml``: the
    test runs in ``tmp_path`` (returned), as the service and CLI read both at start-up."""
    for name in list(os.environ):
        if name.upper().startswith("TOKENWARD__"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
