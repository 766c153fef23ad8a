"""Fixtures for the service: a real app over a temp data dir (SQLite, generated RS256 keys).

Every app runs through ``httpx.ASGITransport`` inside ``asgi_lifespan.LifespanManager``, with
an injected ``FixedClock`` and a cheap Argon2id hasher. ``base_url`` is https so that the
``Secure`` cookies of cookie mode travel like they do in a browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from _service_support import BASE_URL, BOB_PASSWORD, Service, merge
from asgi_lifespan import LifespanManager

from tokenward.clock import FixedClock
from tokenward.service import Runtime, Settings, create_app, load_settings
from tokenward.sessions.passwords import PasswordHasher


@pytest.fixture(autouse=True)
def _clean_env(clean_env: Path) -> None:
    """Every service test runs with the shared ``clean_env`` (tests/conftest.py)."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_settings(data_dir: Path) -> Callable[..., Settings]:
    """Dev-mode settings over the temp data dir, plus nested ``overrides``."""

    def make(overrides: Mapping[str, Any] | None = None, *, dev: bool = True) -> Settings:
        base: dict[str, Any] = {"service": {"data_dir": str(data_dir)}}
        return load_settings(None, merge(base, overrides or {}), dev=dev)

    return make


@pytest.fixture
async def start_service(
    make_settings: Callable[..., Settings], clock: FixedClock
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: start an app with optional settings overrides (closed at teardown)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:

        async def start(overrides: Mapping[str, Any] | None = None) -> Service:
            announced: list[str] = []
            settings = make_settings(overrides)
            app = create_app(
                settings,
                clock=clock,
                hasher=PasswordHasher.for_testing(),
                announce=announced.append,
            )
            manager = await stack.enter_async_context(LifespanManager(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url=BASE_URL)
            )
            runtime: Runtime = app.state.runtime
            if await runtime.store.get_user_by_username("bob") is None:
                await runtime.auth.create_user("bob", BOB_PASSWORD, roles=("User",))
            password = announced[0].split("password: ")[1].split()[0] if announced else ""
            return Service(app, client, runtime, clock, password)

        yield start


@pytest.fixture
async def service(start_service: Callable[..., Any]) -> Service:
    """The default dev-mode service with alice (Admin, tenant=contoso) and bob (User)."""
    started: Service = await start_service()
    return started
