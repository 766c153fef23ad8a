"""Service configuration (pydantic-settings).

Sources, lowest priority first: field defaults, a TOML file (``--config`` or ``tokenward.toml``
in the working directory), environment variables ``TOKENWARD__SECTION__FIELD`` and finally the
overrides the CLI passes as a nested dict. Secrets (HMAC key, CSRF key, key-encryption key,
refresh pepper) come from the environment or from a ``*_file`` path; the TOML file never has to
hold one.

Only this module parses the ``TOKENWARD__`` environment; everything else receives a
:class:`Settings` value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tokenward.errors import ConfigurationError

__all__ = [
    "CookieSettings",
    "DatabaseSettings",
    "HttpSettings",
    "KeySettings",
    "RedisSettings",
    "ServiceSettings",
    "SessionSettings",
    "Settings",
    "ThrottleSettings",
    "TokenSettings",
    "load_settings",
    "read_secret",
    "validate_for_production",
]

ENV_PREFIX = "TOKENWARD__"
DEFAULT_CONFIG_NAME = "tokenward.toml"
DEV_ISSUER = "http://127.0.0.1:8000"
DEV_AUDIENCE = "tokenward"
#: RFC 7518 sec. 3.2: an HMAC key must be at least as long as the hash output.
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_MAX_CLOCK_SKEW = 60
#: seconds per day: the settings count session and rotation periods in days
DAY = 86_400.0

Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512",
]  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenSettings(_Section):
    """Access tokens: who issues them, for whom, how long they live."""

    issuer: str | None = Field(
        None, description="`iss` of every access token (exact string, e.g. https://auth.example)"
    )
    audiences: tuple[str, ...] = Field(
        (), description="accepted `aud` values; the first one is put into issued tokens"
    )
    client_id: str = Field(
        "tokenward",
        min_length=1,
        max_length=255,
        description="`client_id` claim of issued access tokens (RFC 9068 sec. 2.2)",
    )
    access_token_minutes: int = Field(15, ge=1, le=1440, description="access token lifetime")
    algorithm: Algorithm = Field("RS256", description="signing algorithm of new keys")
    clock_skew_seconds: int = Field(
        30, ge=0, description="leeway for exp/nbf/iat checks (refused above 60 s unless forced)"
    )
    force_clock_skew: bool = Field(False, description="allow clock_skew_seconds above 60")
    hmac_secret: SecretStr | None = Field(
        None, description="HS* signing secret (env only; >= 32/48/64 bytes)"
    )
    hmac_secret_file: Path | None = Field(None, description="file holding the HS* secret")


class SessionSettings(_Section):
    """Refresh tokens and sessions."""

    refresh_idle_days: float = Field(14, gt=0, description="refresh token idle expiry")
    refresh_family_days: float = Field(30, gt=0, description="absolute lifetime of a session")
    grace_seconds: int = Field(
        0, ge=0, le=60, description="re-use window for the immediate parent refresh token"
    )
    refresh_pepper: SecretStr | None = Field(
        None, description="optional HMAC pepper for stored refresh digests (env only)"
    )
    refresh_pepper_file: Path | None = Field(None, description="file holding the pepper")


class DatabaseSettings(_Section):
    """The SQL database (users, sessions, revocations, optionally keys)."""

    url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default: SQLite file `tokenward.db` in the data dir",
    )
    pg_schema: str | None = Field(
        None, description="PostgreSQL schema for every table (search_path); unset = default"
    )
    auto_migrate: bool = Field(
        False,
        description="apply pending migrations at start-up (always on with --dev); "
        "off = refuse to start until `tokenward db upgrade` ran",
    )


class RedisSettings(_Section):
    """Optional Redis for the revocation cache and login throttling across instances."""

    url: str | None = Field(None, description="redis:// URL; unset = no Redis")
    key_prefix: str = Field("tokenward:", description="prefix of every Redis key")
    fail_closed: bool = Field(
        False,
        description="when Redis is unreachable, refuse token checks (503) instead of "
        "answering revocation checks from SQL",
    )


class CookieSettings(_Section):
    """Cookie mode (security profile sec. 5)."""

    secure: bool = Field(
        True,
        description="must stay true outside --dev; cookies always carry Secure (prefix rules)",
    )
    access_name: str = Field("__Host-at", description="access token cookie name")
    refresh_name: str = Field(
        "__Secure-rt", description="refresh token cookie name (Path=/auth: refresh and logout)"
    )
    csrf_name: str = Field("__Host-csrf", description="CSRF cookie name (readable by script)")
    csrf_secret: SecretStr | None = Field(
        None, description="CSRF HMAC key (env only; generated in the data dir with --dev)"
    )
    csrf_secret_file: Path | None = Field(None, description="file holding the CSRF key")


class HttpSettings(_Section):
    """HTTP front: origins for CORS and the CSRF Origin check."""

    allowed_origins: tuple[str, ...] = Field(
        (), description="origins allowed for CORS and cookie-authenticated unsafe requests"
    )
    host: str = Field("127.0.0.1", description="bind address of `tokenward serve`")
    port: int = Field(8000, ge=0, le=65535, description="port of `tokenward serve`")


class ThrottleSettings(_Section):
    """Login and refresh throttling: exponential back-off (security profile sec. 6, R11)."""

    account_failures: int = Field(
        5, ge=1, description="failed logins per account before the back-off starts"
    )
    ip_failures: int = Field(20, ge=1, description="failed logins per client IP (IPv6 /64)")
    refresh_failures: int = Field(
        50, ge=1, description="failed refresh grants per client IP before the back-off starts"
    )
    base_delay_seconds: float = Field(1.0, gt=0, description="first lock; doubles per failure")
    max_delay_seconds: float = Field(900.0, gt=0, description="longest lock")
    window_seconds: int = Field(86_400, ge=1, description="failure counters expire after this")


class KeySettings(_Section):
    """Where signing keys live."""

    source: Literal["dir", "sql"] = Field("dir", description="key store: JWK files or the database")
    dir: Path | None = Field(None, description="key directory; default `<data_dir>/keys`")
    kek: SecretStr | None = Field(
        None, description="key-encryption key for the SQL key store (env only, base64url 32 bytes)"
    )
    kek_file: Path | None = Field(None, description="file holding the key-encryption key")
    poll_seconds: float = Field(10, gt=0, description="how often instances reload the key set")
    rotate_every_days: float | None = Field(
        None, gt=0, description="automatic rotation period (unset = rotate by CLI only)"
    )


class ServiceSettings(_Section):
    """Process-level options."""

    data_dir: Path = Field(
        Path(".tokenward"), description="data directory (SQLite, keys, dev secrets)"
    )
    dev: bool = Field(False, description="development mode (`--dev`): relaxed checks, demo user")
    introspection_role: str = Field(
        "Introspector", description="role a caller needs for POST /oauth/introspect"
    )
    admin_role: str = Field("Admin", description="role required by the AdminOnly policy")
    jwks_max_age: int = Field(300, ge=0, description="Cache-Control max-age of the JWKS")


class Settings(BaseSettings):
    """The whole service configuration. Immutable; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    token: TokenSettings = Field(default_factory=TokenSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    cookies: CookieSettings = Field(default_factory=CookieSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env and no secrets dir: the documented sources only.
        return (init_settings, env_settings)

    # --- derived values ------------------------------------------------------------------ #

    @property
    def audience(self) -> str:
        """The audience put into issued tokens (the first configured one)."""
        return self.token.audiences[0] if self.token.audiences else ""

    @property
    def database_url(self) -> str:
        """The configured URL, or the SQLite file in the data dir."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.service.data_dir / 'tokenward.db').resolve()}"

    @property
    def key_dir(self) -> Path:
        return self.keys.dir if self.keys.dir is not None else self.service.data_dir / "keys"

    @property
    def access_lifetime(self) -> float:
        return self.token.access_token_minutes * 60.0


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), dict):
            merged[name] = _deep_merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def load_settings(
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    dev: bool = False,
) -> Settings:
    """Build :class:`Settings` from defaults, TOML, ``TOKENWARD__*`` env and ``overrides``.

    :param config_path: TOML file; when None, ``./tokenward.toml`` is read if it exists.
    :param overrides: nested dict from CLI flags, e.g. ``{"http": {"port": 9000}}`` (highest).
    :param dev: development mode: adds dev defaults for issuer and audience and sets
        ``service.dev``; explicit values from any source still win.
    :raises ConfigurationError: unreadable file or invalid values (message names the field).
    """
    toml_path: Path | None
    if config_path is not None:
        toml_path = Path(config_path)
        if not toml_path.is_file():
            raise ConfigurationError(f"configuration file not found: {toml_path}")
    else:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        toml_path = candidate if candidate.is_file() else None

    init: dict[str, Any] = dict(overrides or {})
    if dev:
        init = _deep_merge(init, {"service": {"dev": True}})
    try:
        sources: list[PydanticBaseSettingsSource] = [
            InitSettingsSource(Settings, init_kwargs=init),
            EnvSettingsSource(Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__"),
        ]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(Settings, toml_file=toml_path))
        settings = Settings(_build_sources=(tuple(sources), init))
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None
    except (OSError, ValueError) as exc:  # TOML syntax errors are ValueErrors
        raise ConfigurationError(f"cannot read configuration: {exc}") from None
    if settings.service.dev:
        settings = _with_dev_defaults(settings)
    return settings


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)


def _with_dev_defaults(settings: Settings) -> Settings:
    token = settings.token
    updates: dict[str, Any] = {}
    if not token.issuer:
        http = settings.http
        updates["issuer"] = f"http://{http.host}:{http.port}" if http.port else DEV_ISSUER
    if not token.audiences:
        updates["audiences"] = (DEV_AUDIENCE,)
    if not updates:
        return settings
    return settings.model_copy(update={"token": token.model_copy(update=updates)})


def read_secret(value: SecretStr | None, path: Path | None, *, name: str) -> bytes | None:
    """Return a secret from its env value or its ``*_file`` (trailing newline stripped).

    :raises ConfigurationError: both given, or the file cannot be read.
    """
    if value is not None and path is not None:
        raise ConfigurationError(f"{name}: give either the value or the file, not both")
    if value is not None:
        return value.get_secret_value().encode("utf-8")
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{name}_file: cannot read {path}: {exc.strerror}") from None
    return data.rstrip(b"\r\n")


def validate_for_production(settings: Settings) -> None:
    """Refuse configurations that are unsafe outside ``--dev``.

    The database check (migrations applied) needs I/O and runs in ``open_runtime``.

    :raises ConfigurationError: with a message naming the setting and the fix.
    """
    token = settings.token
    if not token.issuer:
        raise ConfigurationError(
            "token.issuer is not set (TOKENWARD__TOKEN__ISSUER); every token needs an `iss`"
        )
    if not token.audiences or not all(token.audiences):
        raise ConfigurationError(
            "token.audiences is empty (TOKENWARD__TOKEN__AUDIENCES='[\"api\"]'); "
            "RFC 8725 sec. 3.9 requires an audience"
        )
    minimum = _HMAC_MIN_BYTES.get(token.algorithm)
    if minimum is not None:
        secret = read_secret(token.hmac_secret, token.hmac_secret_file, name="token.hmac_secret")
        if secret is None or len(secret) < minimum:
            # RFC 7518 sec. 3.2: the key must be at least the size of the hash output.
            raise ConfigurationError(
                f"token.hmac_secret must be at least {minimum} bytes for {token.algorithm}"
            )
    if token.clock_skew_seconds > _MAX_CLOCK_SKEW and not token.force_clock_skew:
        raise ConfigurationError(
            f"token.clock_skew_seconds={token.clock_skew_seconds} exceeds {_MAX_CLOCK_SKEW} s; "
            "set token.force_clock_skew = true to allow it"
        )
    if not settings.cookies.secure:
        raise ConfigurationError(
            "cookies.secure is false; __Host- cookies require Secure outside --dev"
        )
    if settings.sessions.refresh_family_days < settings.sessions.refresh_idle_days:
        raise ConfigurationError(
            "sessions.refresh_family_days must be >= sessions.refresh_idle_days"
        )
    if (
        read_secret(
            settings.cookies.csrf_secret,
            settings.cookies.csrf_secret_file,
            name="cookies.csrf_secret",
        )
        is None
    ):
        raise ConfigurationError(
            "cookies.csrf_secret is not set (TOKENWARD__COOKIES__CSRF_SECRET or "
            "cookies.csrf_secret_file); instances must share it"
        )
    if settings.keys.source == "sql" and (
        read_secret(settings.keys.kek, settings.keys.kek_file, name="keys.kek") is None
    ):
        raise ConfigurationError(
            "keys.source = 'sql' needs a key-encryption key (TOKENWARD__KEYS__KEK or keys.kek_file)"
        )
