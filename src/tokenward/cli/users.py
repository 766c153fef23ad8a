"""``tokenward users ...``, ``tokenward sessions list|revoke`` and ``tokenward logout-all``.

Passwords are never command-line arguments (they would land in shell history and ``ps``):
they are prompted without echo, twice, or read from stdin with ``--password-stdin``.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tokenward.cli._common import Cli, ConfigOpt, DevOpt, JsonOpt, fmt_time, parse_claims
from tokenward.errors import InvalidRequest, UserNotFound

if TYPE_CHECKING:
    from tokenward.service import Runtime
    from tokenward.storage.base import RefreshRecord, UserRecord

__all__ = ["build_sessions_app", "build_users_app", "find_user", "register_logout_all"]

UserArg = Annotated[str, typer.Argument(help="username or user id")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from stdin (one line)")
]


async def find_user(rt: Runtime, ident: str) -> UserRecord:
    """A user by username (normalised like at login) or by id. :raises UserNotFound:"""
    from tokenward.sessions import normalize_username

    user: UserRecord | None
    try:
        user = await rt.store.get_user_by_username(normalize_username(ident))
    except InvalidRequest:
        user = None
    if user is None:
        user = await rt.store.get_user(ident)
    if user is None:
        raise UserNotFound(f"no user {ident!r}")
    return user


async def _reload(rt: Runtime, user: UserRecord) -> UserRecord:
    """``user`` as stored after a change: read by id (``find_user`` tries the username first,
    and a username may equal another account's id)."""
    current = await rt.store.get_user(user.id)
    if current is None:
        raise UserNotFound(f"no user {user.username!r}")
    return current


def user_view(user: UserRecord) -> dict[str, Any]:
    """The JSON shape of a user (never the password hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "roles": list(user.roles),
        "claims": dict(user.claims),
        "disabled": user.disabled,
        "created_at": user.created_at,
        "tokens_valid_after": user.tokens_valid_after,
    }


def _interactive() -> bool:
    """True when a human can be prompted (stdin is a terminal)."""
    return sys.stdin.isatty()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise InvalidRequest("no password on stdin")
        return password
    if not _interactive():
        raise InvalidRequest("no terminal to prompt for the password; use --password-stdin")
    result: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return result


def _show_user(cli: Cli, user: UserRecord, title: str | None = None) -> None:
    view = user_view(user)

    def human() -> None:
        cli.table(
            title or user.username,
            ["field", "value"],
            [
                ["id", view["id"]],
                ["username", view["username"]],
                ["roles", ", ".join(view["roles"]) or "-"],
                ["claims", ", ".join(f"{k}={v}" for k, v in view["claims"].items()) or "-"],
                ["status", "[red]disabled[/]" if user.disabled else "[green]enabled[/]"],
                ["created", fmt_time(user.created_at)],
            ],
        )

    cli.emit(view, human)


def build_users_app() -> typer.Typer:
    app = typer.Typer(help="User accounts.", no_args_is_help=True)

    @app.command()
    def add(
        username: Annotated[str, typer.Argument(help="new username")],
        role: Annotated[list[str] | None, typer.Option(help="role (repeatable)")] = None,
        claim: Annotated[
            list[str] | None, typer.Option(help="claim name=value (repeatable)")
        ] = None,
        password_stdin: PasswordStdin = False,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Create a user (password prompted without echo, or --password-stdin)."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body() -> None:
            claims = parse_claims(claim)
            password = _read_password(password_stdin)
            async with cli.runtime() as rt:
                user = await rt.auth.create_user(
                    username, password, roles=tuple(role or ()), claims=claims
                )
            _show_user(cli, user, f"created {user.username}")

        cli.run(body())

    @app.command("list")
    def list_(config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False) -> None:
        """List users."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(rt: Runtime) -> list[UserRecord]:
            return list(await rt.store.list_users())

        def show_users(users: list[UserRecord]) -> None:
            cli.emit(
                {"users": [user_view(u) for u in users]},
                lambda: cli.table(
                    "users",
                    ["username", "id", "roles", "status", "created"],
                    [
                        [
                            u.username,
                            u.id,
                            ", ".join(u.roles) or "-",
                            "[red]disabled[/]" if u.disabled else "[green]enabled[/]",
                            fmt_time(u.created_at),
                        ]
                        for u in users
                    ],
                ),
            )

        cli.with_runtime(body, show_users)

    @app.command()
    def show(
        user: UserArg, config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False
    ) -> None:
        """Show one user."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(rt: Runtime) -> None:
            _show_user(cli, await find_user(rt, user))

        cli.with_runtime(body)

    @app.command("set-password")
    def set_password(
        user: UserArg,
        password_stdin: PasswordStdin = False,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Change a password (ends every session of the user)."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body() -> None:
            password = _read_password(password_stdin)
            async with cli.runtime() as rt:
                record = await find_user(rt, user)
                await rt.auth.set_password(record.id, password)
            cli.emit({"id": record.id, "password_changed": True}, lambda: cli.out.print("done"))

        cli.run(body())

    def _toggle(name: str, method: str, doc: str) -> None:
        def command(
            user: UserArg, config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False
        ) -> None:
            cli = Cli(config=config, dev=dev, json=json)

            async def body(rt: Runtime) -> None:
                record = await find_user(rt, user)
                await getattr(rt.auth, method)(record.id)
                _show_user(cli, await _reload(rt, record))

            cli.with_runtime(body)

        command.__doc__ = doc
        app.command(name)(command)

    _toggle("disable", "disable_user", "Disable a user (ends every session).")
    _toggle("enable", "enable_user", "Enable a disabled user.")

    @app.command()
    def roles(
        user: UserArg,
        role: Annotated[list[str] | None, typer.Argument(help="new roles (none: show)")] = None,
        clear: Annotated[bool, typer.Option(help="remove every role")] = False,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Show or replace the roles of a user (effective at the next login or refresh)."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(rt: Runtime) -> UserRecord:
            record = await find_user(rt, user)
            if role or clear:
                await rt.auth.set_roles(record.id, tuple(role or ()))
                record = await _reload(rt, record)
            return record

        cli.with_runtime(body, lambda record: _show_user(cli, record))

    @app.command()
    def claims(
        user: UserArg,
        claim: Annotated[
            list[str] | None, typer.Argument(help="name=value to set (none: show)")
        ] = None,
        unset: Annotated[list[str] | None, typer.Option(help="claim to remove")] = None,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Show, set or remove custom claims (copied into the user's access tokens)."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body() -> None:
            updates = parse_claims(claim)
            async with cli.runtime() as rt:
                record = await find_user(rt, user)
                if updates or unset:
                    merged = {k: v for k, v in record.claims.items() if k not in (unset or ())}
                    await rt.auth.set_claims(record.id, {**merged, **updates})
                    record = await _reload(rt, record)
            _show_user(cli, record)

        cli.run(body())

    return app


def _sessions(records: list[RefreshRecord], now: float) -> list[dict[str, Any]]:
    families: dict[str, list[RefreshRecord]] = defaultdict(list)
    for record in records:
        families[record.family_id].append(record)
    out = []
    for family_id, members in families.items():
        newest = max(members, key=lambda r: r.created_at)
        revoked = any(r.revoked_at is not None for r in members)
        expired = newest.family_expires_at <= now or newest.expires_at <= now
        out.append(
            {
                "session_id": family_id,
                "user_id": newest.user_id,
                "started_at": min(r.created_at for r in members),
                "last_refresh_at": newest.created_at,
                "expires_at": min(newest.expires_at, newest.family_expires_at),
                "state": "revoked" if revoked else "expired" if expired else "active",
                "ip": newest.ip,
                "user_agent": newest.user_agent,
            }
        )
    return sorted(out, key=lambda s: s["started_at"])


def build_sessions_app() -> typer.Typer:
    app = typer.Typer(help="Refresh-token sessions.", no_args_is_help=True)

    @app.command("list")
    def list_(
        user: UserArg,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """List the sessions (refresh-token families) of a user."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(rt: Runtime) -> tuple[UserRecord, list[dict[str, Any]]]:
            record = await find_user(rt, user)
            refresh = list(await rt.store.list_user_refresh(record.id))
            return record, _sessions(refresh, rt.clock.now())

        def show(found: tuple[UserRecord, list[dict[str, Any]]]) -> None:
            record, sessions = found
            cli.emit(
                {"user_id": record.id, "sessions": sessions},
                lambda: cli.table(
                    f"sessions of {record.username}",
                    ["session", "state", "started", "last refresh", "expires", "ip"],
                    [
                        [
                            s["session_id"],
                            s["state"],
                            fmt_time(s["started_at"]),
                            fmt_time(s["last_refresh_at"]),
                            fmt_time(s["expires_at"]),
                            s["ip"] or "-",
                        ]
                        for s in sessions
                    ],
                ),
            )

        cli.with_runtime(body, show)

    @app.command()
    def revoke(
        user: UserArg,
        session_id: Annotated[str, typer.Argument(help="session id (from `sessions list`)")],
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Revoke one session: its refresh tokens and every access token carrying its sid."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(rt: Runtime) -> None:
            record = await find_user(rt, user)
            mine = [
                r for r in await rt.store.list_user_refresh(record.id) if r.family_id == session_id
            ]
            if not mine:
                raise InvalidRequest(f"user {record.username!r} has no session {session_id!r}")
            # refresh family + sid denylist (live access tokens die); security event logged
            await rt.auth.revoke_session(session_id, reason="admin")

        cli.with_runtime(
            body,
            lambda _: cli.emit(
                {"session_id": session_id, "revoked": True},
                lambda: cli.out.print(f"revoked session {session_id}"),
            ),
        )

    return app


def register_logout_all(app: typer.Typer) -> None:
    @app.command("logout-all")
    def logout_all(
        user: UserArg, config: ConfigOpt = None, dev: DevOpt = False, json: JsonOpt = False
    ) -> None:
        """End every session of a user and reject every access token issued so far."""
        cli = Cli(config=config, dev=dev, json=json)

        async def body(rt: Runtime) -> UserRecord:
            record = await find_user(rt, user)
            await rt.auth.logout_all(record.id)
            return record

        cli.with_runtime(
            body,
            lambda record: cli.emit(
                {"user_id": record.id, "logged_out": True},
                lambda: cli.out.print(f"logged out {record.username} everywhere"),
            ),
        )
