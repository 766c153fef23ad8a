"""``tokenward token issue|decode|verify`` (a ``dotnet user-jwts`` for tokenward)."""

from __future__ import annotations

import base64
import binascii
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tokenward.cli._common import (
    EXIT_USAGE,
    Cli,
    ConfigOpt,
    DevOpt,
    JsonOpt,
    fmt_time,
    parse_claims,
)
from tokenward.errors import ConfigurationError, InvalidToken, KeySetUnavailable, MalformedToken

if TYPE_CHECKING:
    from tokenward.keys import KeySet
    from tokenward.validation import Principal

__all__ = ["build_token_app", "decode_unverified"]

#: tokens larger than this are not even decoded for display (profile rule 1 is 8 KiB)
_DISPLAY_CAP = 64 * 1024
#: JWKS documents larger than this are refused
_JWKS_CAP = 1024 * 1024

TokenArg = Annotated[
    str, typer.Argument(help="the token, or - to read it from stdin", show_default=False)
]


def _read_token(value: str) -> str:
    return sys.stdin.read().strip() if value == "-" else value.strip()


def _segment(segment: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise MalformedToken("a segment is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken("a segment is not a JSON object")
    return value


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS WITHOUT checking anything. For display only.

    :raises MalformedToken: not three dot-separated base64url JSON segments
    """
    if len(token) > _DISPLAY_CAP:
        raise MalformedToken("token too large to display")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("a compact JWS has exactly three segments")
    return _segment(parts[0]), _segment(parts[1])


def _load_jwks(source: str) -> KeySet:
    from tokenward.keys import KeySet

    if source.startswith(("https://", "http://")):
        import httpx

        try:
            response = httpx.get(source, timeout=10.0, follow_redirects=False)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise KeySetUnavailable(f"cannot fetch {source}: {type(exc).__name__}") from None
        body = response.content
    else:
        try:
            body = Path(source).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read JWKS file {source}: {exc.strerror}") from None
    if len(body) > _JWKS_CAP:
        raise ConfigurationError("JWKS document too large")
    try:
        doc = json.loads(body)
    except ValueError:
        raise ConfigurationError(f"{source} is not a JSON document") from None
    if not isinstance(doc, dict):
        raise ConfigurationError(f"{source} is not a JWKS (a JSON object with 'keys')")
    keys = KeySet.from_jwks(doc, skip_unusable=True)
    if not len(keys):
        raise ConfigurationError(f"{source} holds no usable key")
    return keys


def _principal_view(principal: Principal) -> dict[str, Any]:
    return {
        "valid": True,
        "header": dict(principal.header),
        "claims": dict(principal.claims),
    }


def build_token_app() -> typer.Typer:
    app = typer.Typer(help="Mint, inspect and verify access tokens.", no_args_is_help=True)

    @app.command()
    def issue(
        user: Annotated[str | None, typer.Option(help="username (or id) of a user")] = None,
        sub: Annotated[str | None, typer.Option(help="arbitrary subject (no user needed)")] = None,
        name: Annotated[str | None, typer.Option(help="`name` claim")] = None,
        role: Annotated[list[str] | None, typer.Option(help="role (repeatable)")] = None,
        claim: Annotated[
            list[str] | None, typer.Option(help="custom claim name=value (repeatable)")
        ] = None,
        lifetime: Annotated[
            int | None, typer.Option(min=1, help="seconds (default: token.access_token_minutes)")
        ] = None,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Mint an access token for a user or any subject, signed by the active key.

        Prints only the token on stdout (details on stderr), so TOKEN=$(tokenward token
        issue --sub svc) works.
        """
        cli = Cli(config=config, dev=dev, json=json)
        if (user is None) == (sub is None):
            cli.fail("give exactly one of --user or --sub", code="usage", status=EXIT_USAGE)

        async def body() -> None:
            claims = parse_claims(claim)
            roles = list(role or ())
            async with cli.runtime() as rt:
                subject, display = sub, name
                if user is not None:
                    from tokenward.cli.users import find_user

                    record = await find_user(rt, user)
                    subject = record.id
                    display = name or record.username
                    roles = roles or list(record.roles)
                    claims = {**record.claims, **claims}
                assert subject is not None
                issued = rt.issuer().issue(
                    subject, name=display, roles=roles, claims=claims or None, lifetime=lifetime
                )
            data = {
                "token": issued.token,
                "jti": issued.jti,
                "kid": issued.kid,
                "sub": subject,
                "issued_at": issued.issued_at,
                "expires_at": issued.expires_at,
            }

            def human() -> None:
                sys.stdout.write(issued.token + "\n")
                cli.info(
                    f"sub={subject} kid={issued.kid} jti={issued.jti} "
                    f"expires={fmt_time(issued.expires_at)}"
                )

            cli.emit(data, human)

        cli.run(body())

    @app.command()
    def decode(token: TokenArg = "-", json: JsonOpt = False) -> None:
        """Show header and claims WITHOUT verifying anything (marked UNVERIFIED)."""
        cli = Cli(json=json)

        async def body() -> None:
            header, claims = decode_unverified(_read_token(token))

            def human() -> None:
                cli.out.print("[bold yellow]UNVERIFIED[/] - signature and claims NOT checked")
                cli.out.print("[bold]header[/]")
                cli.out.print_json(data=header)
                cli.out.print("[bold]claims[/]")
                cli.out.print_json(data=claims)
                for field in ("iat", "nbf", "exp"):
                    if isinstance(claims.get(field), int | float):
                        cli.out.print(f"{field}: {fmt_time(float(claims[field]))}")

            cli.emit({"verified": False, "header": header, "claims": claims}, human)

        cli.run(body())

    @app.command()
    def verify(
        token: TokenArg = "-",
        jwks: Annotated[
            str | None,
            typer.Option(help="verify against this JWKS URL or file instead of the config"),
        ] = None,
        issuer: Annotated[str | None, typer.Option(help="accepted iss (with --jwks)")] = None,
        audience: Annotated[str | None, typer.Option(help="accepted aud (with --jwks)")] = None,
        config: ConfigOpt = None,
        dev: DevOpt = False,
        json: JsonOpt = False,
    ) -> None:
        """Validate a token: exit 0 valid, 1 invalid (the error code is printed), 2 usage.

        Without --jwks: the configured keys, policy and revocation lists of the service.
        """
        cli = Cli(config=config, dev=dev, json=json)

        async def body() -> None:
            text = _read_token(token)
            if not text:
                cli.fail("no token given", code="usage", status=EXIT_USAGE)
            try:
                if jwks is None:
                    async with cli.runtime() as rt:
                        principal = await rt.validator.avalidate(text)
                else:
                    principal = _verify_with_jwks(cli, text, jwks, issuer, audience)
            except InvalidToken as exc:
                cli.emit(
                    {"valid": False, "error": exc.code, "error_description": exc.description},
                    lambda: None,
                )
                cli.fail(f"invalid token: {exc.code} ({exc.description})", code=exc.code)
            view = _principal_view(principal)

            def human() -> None:
                cli.out.print("[bold green]VALID[/]")
                cli.out.print_json(data=view["claims"])

            cli.emit(view, human)

        cli.run(body())

    return app


def _verify_with_jwks(
    cli: Cli, token: str, source: str, issuer: str | None, audience: str | None
) -> Principal:
    from tokenward.validation import TokenValidator, ValidationPolicy

    keys = _load_jwks(source)
    settings = cli.settings() if (issuer is None or audience is None) else None
    issuers = issuer or (settings.token.issuer if settings else None)
    audiences = [audience] if audience else list(settings.token.audiences if settings else ())
    if not issuers or not audiences:
        raise ConfigurationError("with --jwks give --issuer and --audience (or a config)")
    policy = ValidationPolicy(
        issuers=issuers,
        audiences=audiences,
        algorithms=sorted({key.alg for key in keys}),
        leeway=float(settings.token.clock_skew_seconds) if settings else 30.0,
        max_lifetime=max(settings.access_lifetime, 60.0) if settings else 86400.0,
    )
    return TokenValidator(keys, policy).validate(token)
