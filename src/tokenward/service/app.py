"""``create_app(settings)``: the deployable FastAPI service (no global app).

The lifespan opens the :class:`~tokenward.service.runtime.Runtime` (database, stores, keys,
sessions), runs the key-poll loop (and SIGHUP reload) so rotations made by another process
or ``tokenward keys rotate`` are picked up, and in ``--dev`` seeds the demo user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tokenward import __version__
from tokenward.clock import Clock
from tokenward.observability import Metrics, configure_logging
from tokenward.service.deps import ServiceAuth
from tokenward.service.devmode import ensure_demo_user
from tokenward.service.middleware import RequestContextMiddleware
from tokenward.service.routers.auth import build_auth_router
from tokenward.service.routers.demo import build_demo_router
from tokenward.service.routers.health import build_health_router
from tokenward.service.routers.oauth import build_oauth_router
from tokenward.service.routers.wellknown import build_wellknown_router
from tokenward.service.runtime import open_runtime
from tokenward.service.settings import Settings, load_settings
from tokenward.web import install_error_handlers

if TYPE_CHECKING:
    from tokenward.sessions import PasswordHasher

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("tokenward.service")

_DESCRIPTION = """
tokenward: a strict JWT auth service. Log in with **Authorize** (OAuth2 password flow against
`/auth/token`), then call the protected routes. In `--dev` the demo user is `alice` (password
printed once at first start).
"""


async def _poll_keys(keys: Any) -> None:
    run = getattr(keys, "run_polling", None)
    if run is not None:
        await run()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    announce: Callable[[str], object] = print,
) -> FastAPI:
    """Build the service. Nothing is opened until the ASGI lifespan starts.

    :param settings: from :func:`~tokenward.service.settings.load_settings`.
    :param clock: time source for tokens and sessions (tests inject ``FixedClock``).
    :param hasher: a ``PasswordHasher`` (tests pass ``PasswordHasher.for_testing()``).
    :param announce: where the dev demo password is written once (default ``print``).
    """
    metrics = Metrics()
    auth = ServiceAuth(settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, clock=clock, metrics=metrics, hasher=hasher) as rt:
            app.state.runtime = rt
            auth.bind(rt)
            if settings.service.dev:
                await ensure_demo_user(rt, announce=announce)
            poller = asyncio.create_task(_poll_keys(rt.keys), name="tokenward-key-poll")
            loop = asyncio.get_running_loop()
            sighup = getattr(rt.keys, "install_sighup", None)
            installed = bool(sighup(loop)) if sighup is not None else False
            try:
                yield
            finally:
                if installed:
                    rt.keys.remove_sighup(loop)  # type: ignore[attr-defined]
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    app = FastAPI(
        title="tokenward",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_init_oauth={"usePkceWithAuthorizationCodeGrant": False},
    )
    app.state.metrics = metrics
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(build_auth_router(auth))
    app.include_router(build_demo_router(auth))
    app.include_router(build_oauth_router(auth))
    app.include_router(build_wellknown_router())
    app.include_router(build_health_router())
    auth.install_openapi(app)
    if settings.http.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.http.allowed_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory tokenward.service.app:create_app_from_env``.

    Reads ``tokenward.toml`` and ``TOKENWARD__*`` (``TOKENWARD__SERVICE__DEV=true`` for dev
    mode) and installs JSON logging.
    """
    settings = load_settings()
    configure_logging("INFO", json=True)
    return create_app(settings)
