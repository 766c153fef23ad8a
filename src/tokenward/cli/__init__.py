"""The ``tokenward`` command (typer + rich).

::

    tokenward init                      # commented tokenward.toml + first signing keys
    tokenward serve [--dev]             # uvicorn on tokenward.service.create_app
    tokenward keys list|generate|rotate|retire|prune|jwks
    tokenward token issue|decode|verify
    tokenward users add|list|show|set-password|disable|enable|roles|claims
    tokenward sessions list|revoke      tokenward logout-all USER
    tokenward db upgrade|current|prune

Every command takes ``--json`` (machine-readable stdout), ``--config FILE`` and ``--dev``.
Failures are one line on stderr and exit status 1 (operation failed) or 2 (usage or
configuration error); ``token verify`` exits 0 valid, 1 invalid, 2 usage error.
The command tree is built by :func:`create_cli` on each call: no module-level app.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer

from tokenward import __version__

__all__ = ["create_cli", "main"]


def create_cli() -> typer.Typer:
    """Build the ``tokenward`` command tree."""
    from tokenward.cli.admin import build_db_app, register_admin
    from tokenward.cli.keys import build_keys_app
    from tokenward.cli.tokens import build_token_app
    from tokenward.cli.users import build_sessions_app, build_users_app, register_logout_all

    app = typer.Typer(
        name="tokenward",
        help="tokenward: strict JWT auth service and toolkit.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,  # the error policy prints one line, never a traceback
        add_completion=False,
        rich_markup_mode="rich",
    )

    @app.callback(invoke_without_command=True)
    def root(
        version: bool = typer.Option(False, "--version", help="print the version and exit"),
    ) -> None:
        if version:
            typer.echo(__version__)
            raise typer.Exit(0)

    register_admin(app)
    app.add_typer(build_keys_app(), name="keys")
    app.add_typer(build_token_app(), name="token")
    app.add_typer(build_users_app(), name="users")
    app.add_typer(build_sessions_app(), name="sessions")
    register_logout_all(app)
    app.add_typer(build_db_app(), name="db")
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``tokenward``).

    Security events of the commands (``signing_key_rotated``...) go to stderr as JSON lines.
    """
    from tokenward.observability import configure_logging

    configure_logging("WARNING", json=True)
    create_cli()(args=None if argv is None else list(argv), prog_name="tokenward")
