"""``tokenward keys generate|list|rotate|retire|prune|jwks``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tokenward.cli._common import Cli, ConfigOpt, DevOpt, JsonOpt, fmt_time
from tokenward.keyring import KeyManager, KeyState, StoredKey

__all__ = ["build_keys_app", "key_row"]

_STATE_STYLE = {KeyState.ACTIVE: "bold green", KeyState.NEXT: "cyan", KeyState.RETIRED: "yellow"}


def key_row(key: StoredKey) -> dict[str, Any]:
    """The JSON shape of one key in ``keys list --json``."""
    return {"kid": key.kid, "alg": key.alg, **key.lifecycle()}


def _show(cli: Cli, manager: KeyManager, title: str, **extra: Any) -> None:
    """Emit ``extra`` plus every key (``--json``), or the keys as a table titled ``title``."""

    def human() -> None:
        cli.table(
            title,
            ["kid", "alg", "state", "created", "retire-after"],
            [
                [
                    k.kid,
                    k.alg,
                    f"[{_STATE_STYLE[k.state]}]{k.state.value}[/]",
                    fmt_time(k.created_at),
                    fmt_time(k.retire_after),
                ]
                for k in manager.keys
            ],
        )

    cli.emit(extra | {"keys": [key_row(k) for k in manager.keys]}, human)


def build_keys_app() -> typer.Typer:
    app = typer.Typer(help="Signing keys: list, rotate, retire, publish.", no_args_is_help=True)

    @app.command("list")
    def list_(config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False) -> None:
        """List signing keys: kid, alg, state, created, retire-after."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(manager: KeyManager) -> None:
            _show(cli, manager, "signing keys")

        cli.with_keys(body)

    @app.command()
    def generate(
        alg: Annotated[
            str | None, typer.Option(help="algorithm of the new key (default: token.algorithm)")
        ] = None,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Create the first keys if the store is empty, else add a new `next` key."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(manager: KeyManager) -> None:
            # load() (inside cli.keys) already created active + next on an empty store
            fresh = manager.created_on_load and alg is None
            added = None if fresh else await manager.generate(alg=alg)
            _show(cli, manager, "signing keys", added=None if added is None else key_row(added))

        cli.with_keys(body)

    @app.command()
    def rotate(config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False) -> None:
        """Promote `next` to active, retire the active key, publish a new `next` key.

        Running instances pick the change up at their next poll (keys.poll_seconds) or at
        once on SIGHUP.
        """
        cli = Cli(config=config, dev=dev, json=json)

        async def body(manager: KeyManager) -> None:
            previous = manager.active.kid
            active, nxt = await manager.rotate()
            title = f"rotated: {active.kid} is now active"
            _show(cli, manager, title, active=active.kid, next=nxt.kid, retired=previous)

        cli.with_keys(body)

    @app.command()
    def retire(
        kid: Annotated[str, typer.Argument(help="kid of a next or retired key")],
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Withdraw a `next` key, or expire a retired key now (then `keys prune`)."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(manager: KeyManager) -> None:
            record = await manager.retire(kid)
            cli.emit(key_row(record), lambda: _show(cli, manager, f"retired {kid}"))

        cli.with_keys(body)

    @app.command()
    def prune(config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False) -> None:
        """Remove retired keys whose retire-after time has passed."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(manager: KeyManager) -> None:
            removed = await manager.prune()
            cli.emit({"removed": removed}, lambda: cli.out.print(f"removed {len(removed)}"))

        cli.with_keys(body)

    @app.command()
    def jwks(config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False) -> None:
        """Print the public JWKS (what /.well-known/jwks.json serves). Always JSON."""
        cli = Cli(config=config, dev=dev, json=True)

        async def body(manager: KeyManager) -> None:
            cli.emit(manager.current_keys().to_jwks())

        cli.with_keys(body)

    return app
