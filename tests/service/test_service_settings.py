"""Settings sources and start-up refusals (issue 4 sec. 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from tokenward.errors import ConfigurationError
from tokenward.service import Settings, create_app, load_settings, open_runtime
from tokenward.service.settings import validate_for_production

SECRET = "c" * 32


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_documented_values() -> None:
    settings = load_settings()
    assert settings.token.access_token_minutes == 15
    assert settings.sessions.refresh_idle_days == 14
    assert settings.sessions.refresh_family_days == 30
    assert settings.token.algorithm == "RS256"
    assert settings.token.clock_skew_seconds == 30
    assert settings.redis.url is None
    assert settings.keys.source == "dir"
    assert settings.service.dev is False
    for section in Settings.model_fields.values():
        model: Any = section.annotation
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_source_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """defaults < TOML < TOKENWARD__SECTION__FIELD env < CLI overrides."""
    config = _write(
        tmp_path / "custom.toml",
        '[token]\nissuer = "https://file"\naudiences = ["api"]\naccess_token_minutes = 5\n'
        '[http]\nport = 9000\nhost = "0.0.0.0"\n',
    )
    monkeypatch.setenv("TOKENWARD__TOKEN__ISSUER", "https://env")
    monkeypatch.setenv("TOKENWARD__HTTP__PORT", "9100")
    monkeypatch.setenv("TOKENWARD__HTTP__ALLOWED_ORIGINS", '["https://app.example"]')
    settings = load_settings(config, {"http": {"port": 9200}})
    assert settings.token.issuer == "https://env"
    assert settings.token.audiences == ("api",)
    assert settings.token.access_token_minutes == 5
    assert settings.http.port == 9200
    assert settings.http.host == "0.0.0.0"
    assert settings.http.allowed_origins == ("https://app.example",)


def test_tokenward_toml_in_working_dir_is_read(tmp_path: Path) -> None:
    _write(tmp_path / "tokenward.toml", '[token]\nissuer = "https://cwd"\n')
    assert load_settings().token.issuer == "https://cwd"


def test_secret_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = _write(tmp_path / "hmac", "s" * 48 + "\n")
    monkeypatch.setenv("TOKENWARD__TOKEN__HMAC_SECRET_FILE", str(secret_file))
    settings = load_settings()
    from tokenward.service.settings import read_secret

    value = read_secret(settings.token.hmac_secret, settings.token.hmac_secret_file, name="x")
    assert value == b"s" * 48
    assert "s" * 48 not in repr(settings)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[token]\naccess_token_minutes = 0\n", "token.access_token_minutes"),
        ('[token]\nalgorithm = "none"\n', "token.algorithm"),
        ('[tokn]\nissuer = "x"\n', "tokn"),
        ("[token\n", "cannot read configuration"),
    ],
)
def test_invalid_configuration_is_a_clear_error(tmp_path: Path, config: str, message: str) -> None:
    path = _write(tmp_path / "bad.toml", config)
    with pytest.raises(ConfigurationError) as info:
        load_settings(path)
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def _prod(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "token": {"issuer": "https://auth.example", "audiences": ["api"]},
        "cookies": {"csrf_secret": SECRET},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


def test_production_config_accepted() -> None:
    validate_for_production(load_settings(None, _prod()))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"token": {"issuer": None}}, "token.issuer is not set"),
        ({"token": {"audiences": []}}, "token.audiences is empty"),
        ({"token": {"algorithm": "HS256", "hmac_secret": "short"}}, "at least 32 bytes"),
        ({"token": {"algorithm": "HS512", "hmac_secret": "x" * 32}}, "at least 64 bytes"),
        ({"token": {"algorithm": "HS256"}}, "hmac_secret"),
        ({"token": {"clock_skew_seconds": 61}}, "exceeds 60 s"),
        ({"cookies": {"secure": False}}, "cookies.secure is false"),
        ({"cookies": {"csrf_secret": None}}, "cookies.csrf_secret is not set"),
        ({"keys": {"source": "sql"}}, "key-encryption key"),
    ],
)
def test_production_refusals(overrides: dict[str, Any], message: str) -> None:
    settings = load_settings(None, _prod(**overrides))
    with pytest.raises(ConfigurationError, match=message):
        validate_for_production(settings)


def test_forced_clock_skew_is_accepted() -> None:
    settings = load_settings(
        None, _prod(token={"clock_skew_seconds": 90, "force_clock_skew": True})
    )
    validate_for_production(settings)


def test_dev_mode_relaxes_checks() -> None:
    settings = load_settings(None, {"cookies": {"secure": False}}, dev=True)
    assert settings.service.dev
    assert settings.token.issuer == "http://127.0.0.1:8000"
    assert settings.audience == "tokenward"


async def test_startup_refuses_unmigrated_database(tmp_path: Path) -> None:
    settings = load_settings(None, _prod(service={"data_dir": str(tmp_path / "d")}))
    with pytest.raises(ConfigurationError, match="tokenward db upgrade"):
        async with open_runtime(settings):
            pass


async def test_auto_migrate_applies_migrations_at_start_up(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """`database.auto_migrate = true` migrates an empty database instead of refusing it."""
    from tokenward.storage.sql import database_is_current

    settings = make_settings(_prod(database={"auto_migrate": True}), dev=False)
    settings.service.data_dir.mkdir(parents=True)
    assert not await database_is_current(settings.database_url)
    async with open_runtime(settings) as runtime:
        assert await runtime.store.list_users() == []
    assert await database_is_current(settings.database_url)


async def test_redis_fail_closed_setting_reaches_the_revocation_store(
    redis_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """`redis.fail_closed = true`: an unreachable Redis refuses checks instead of using SQL."""
    from tokenward.errors import StorageUnavailable

    settings = make_settings(
        _prod(
            database={"auto_migrate": True},
            redis={"url": "redis://127.0.0.1:1/0", "fail_closed": True},
        ),
        dev=False,
    )
    settings.service.data_dir.mkdir(parents=True)
    async with open_runtime(settings) as runtime:
        with pytest.raises(StorageUnavailable):
            await runtime.revocations.is_revoked(
                issuer="https://issuer.test", jti="j", sid=None, sub="s", iat=0.0
            )


async def test_app_lifespan_refuses_bad_config(tmp_path: Path) -> None:
    settings = load_settings(None, _prod(cookies={"secure": False}))
    app = create_app(settings)
    with pytest.raises(ConfigurationError, match="cookies.secure"):
        async with LifespanManager(app):
            pass


async def test_production_start_after_migration(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Outside dev the service starts once `tokenward db upgrade` has run."""
    from tokenward.storage.sql import upgrade_database

    settings = make_settings(_prod(), dev=False)
    settings.service.data_dir.mkdir(parents=True)
    await upgrade_database(settings.database_url)
    async with open_runtime(settings) as runtime:
        assert runtime.keys.active_key.alg == "RS256"
        assert await runtime.store.list_users() == []  # no demo user outside dev


def test_configuration_reference_lists_every_field() -> None:
    """docs/service.md's table names every setting with its environment variable."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text("utf-8")
    for section, info in Settings.model_fields.items():
        model: Any = info.annotation
        for name in model.model_fields:
            env = f"TOKENWARD__{section.upper()}__{name.upper()}"
            assert f"| `{section}.{name}` | `{env}` |" in docs, env
