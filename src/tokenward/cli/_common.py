"""Shared plumbing of the CLI: options, output (rich or JSON), error policy, service adapter.

Error policy: every failure is ONE line on stderr and a non-zero exit status, never a
traceback (set ``TOKENWARD_DEBUG=1`` to get one). Exit status 2 = usage or configuration
error, 1 = the operation failed (invalid token, unknown user, database unreachable...).

The service adapter (:meth:`Cli.settings`, :meth:`Cli.runtime`, :meth:`Cli.keys`) is the only
place that knows how ``tokenward.service`` builds its runtime, so commands stay thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import click
import typer
from rich.console import Console
from rich.table import Table

from tokenward.errors import ConfigurationError, TokenwardError

if TYPE_CHECKING:
    from tokenward.keyring import KeyManager
    from tokenward.service import Runtime, Settings

__all__ = ["Cli", "ConfigOpt", "DevOpt", "JsonOpt", "fmt_time", "parse_claims"]

_T = TypeVar("_T")
_R = TypeVar("_R")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: ./tokenward.toml if present)",
        dir_okay=False,
    ),
]
DevOpt = Annotated[
    bool, typer.Option("--dev", help="development mode: data in ./.tokenward, relaxed checks")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]

#: exit statuses
EXIT_FAILED = 1
EXIT_USAGE = 2


def fmt_time(value: float | None) -> str:
    """POSIX seconds as ISO 8601 UTC (``-`` for None)."""
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_claims(pairs: list[str] | None) -> dict[str, Any]:
    """``["tenant=contoso", "level=3"]`` -> ``{"tenant": "contoso", "level": 3}``.

    Values are parsed as JSON when they are valid JSON (numbers, booleans, arrays), else kept
    as strings. :raises ConfigurationError: an item without ``=``.
    """
    claims: dict[str, Any] = {}
    for pair in pairs or ():
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ConfigurationError(f"claim {pair!r} must look like name=value")
        try:
            claims[name] = json.loads(raw)
        except ValueError:
            claims[name] = raw
    return claims


class Cli:
    """Per-invocation context: options, consoles, settings and the error policy."""

    def __init__(self, *, config: Path | None = None, dev: bool = False, json: bool = False):
        self.config = config
        self.dev = dev
        self.json = json
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self._settings: Settings | None = None

    # --- output --- #

    def emit(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """Print ``data`` as JSON with ``--json``, else run ``human`` (or pretty-print)."""
        if self.json:
            sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
            sys.stdout.flush()
        elif human is not None:
            human()
        else:
            self.out.print_json(json.dumps(data, default=str))

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        table = Table(title=title, header_style="bold cyan", title_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)

    def info(self, message: str) -> None:
        """A human remark on stderr (kept out of stdout so pipes get only data)."""
        if not self.json:
            self.err.print(message)

    def fail(self, message: str, *, code: str = "error", status: int = EXIT_FAILED) -> NoReturn:
        """One line on stderr, then exit with ``status``."""
        line = " ".join(message.split())  # never more than one line
        if self.json:
            sys.stderr.write(json.dumps({"error": code, "error_description": line}) + "\n")
        else:
            self.err.print(f"[bold red]error:[/] {line}", markup=True, highlight=False)
        raise typer.Exit(status)

    # --- running --- #

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run a command body with the error policy applied."""
        try:
            return asyncio.run(coro)
        except typer.Exit:
            raise
        except (KeyboardInterrupt, click.exceptions.Abort):
            self.fail("aborted", code="aborted", status=130)
        except ConfigurationError as exc:
            self._debug()
            self.fail(exc.description, code=exc.code, status=EXIT_USAGE)
        except TokenwardError as exc:
            self._debug()
            self.fail(f"{exc.description} ({exc.code})", code=exc.code)
        except OSError as exc:
            self._debug()
            self.fail(f"{type(exc).__name__}: {exc.strerror or exc}", code="os_error")
        except Exception as exc:  # the promise: never a traceback
            self._debug()
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(exc, SQLAlchemyError):
                self.fail(
                    f"database error ({type(exc).__name__}); is the database reachable and "
                    "migrated (`tokenward db upgrade`)?",
                    code="storage_unavailable",
                )
            self.fail(
                f"internal error ({type(exc).__name__}); set TOKENWARD_DEBUG=1 for details",
                code="internal_error",
            )

    def with_runtime(
        self, work: Callable[[Runtime], Awaitable[_T]], then: Callable[[_T], object] | None = None
    ) -> _T:
        """The common command shape: open the service runtime, ``await work(runtime)``, close
        it, then call ``then(result)`` (typically :meth:`emit`); all of it under the error
        policy of :meth:`run`. Returns ``work``'s result."""
        return self.run(_within(self.runtime, work, then))

    def with_keys(
        self,
        work: Callable[[KeyManager], Awaitable[_T]],
        then: Callable[[_T], object] | None = None,
    ) -> _T:
        """Like :meth:`with_runtime` over the key manager alone (:meth:`keys`)."""
        return self.run(_within(self.keys, work, then))

    @staticmethod
    def _debug() -> None:
        if os.environ.get("TOKENWARD_DEBUG") == "1":
            import traceback

            traceback.print_exc()

    # --- service adapter --- #

    def settings(self, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Settings from ``--config``/``tokenward.toml``, env and ``overrides`` (cached; new
        ``overrides`` replace the cached value)."""
        if self._settings is None or overrides:
            from tokenward.service import load_settings

            self._settings = load_settings(self.config, overrides, dev=self.dev)
        return self._settings

    def ensure_data_dir(self) -> None:
        """Create the data dir (mode 0700) when the default SQLite file or keys live there."""
        settings = self.settings()
        if settings.database.url is None or settings.keys.source == "dir":
            settings.service.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def runtime(self) -> AsyncIterator[Runtime]:
        """The service runtime (database, stores, keys, AuthService, validator)."""
        from tokenward.service import open_runtime

        async with open_runtime(self.settings()) as runtime:
            yield runtime

    @contextlib.asynccontextmanager
    async def keys(self) -> AsyncIterator[KeyManager]:
        """The key manager exactly as the service builds it (same store, same periods)."""
        from tokenward.clock import SystemClock
        from tokenward.keyring import KeyManager
        from tokenward.service.keys import open_signing_keys

        settings = self.settings()
        engine: Any = None
        if settings.keys.source == "sql":
            from tokenward.storage.sql import create_engine

            engine = create_engine(settings.database_url, schema=settings.database.pg_schema)
        self.ensure_data_dir()
        try:
            manager = await open_signing_keys(settings, engine=engine, clock=SystemClock())
            if not isinstance(manager, KeyManager):
                raise ConfigurationError(
                    f"{settings.token.algorithm} uses one configured HMAC secret "
                    "(token.hmac_secret); there are no managed keys to list or rotate"
                )
            yield manager
        finally:
            if engine is not None:
                await engine.dispose()


async def _within(
    opener: Callable[[], contextlib.AbstractAsyncContextManager[_R]],
    work: Callable[[_R], Awaitable[_T]],
    then: Callable[[_T], object] | None,
) -> _T:
    async with opener() as resource:
        result = await work(resource)
    if then is not None:
        then(result)
    return result
