"""`tokenward init|serve|db ...`, missing config and unreachable database."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD, Run, dev, ok_json, one_error_line

UNREACHABLE = {"TOKENWARD__DATABASE__URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}


def test_version(run: Run) -> None:
    from tokenward import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == __version__


def test_init_writes_a_commented_config_and_keys(run: Run, tmp_path: Path) -> None:
    doc = ok_json(run("init", "--issuer", "https://auth.example", "--audience", "api", "--json"))
    text = (tmp_path / "tokenward.toml").read_text()
    assert text.count("\n#") >= 10  # commented
    config = tomllib.loads(text)
    assert config["token"]["issuer"] == "https://auth.example"
    assert config["token"]["audiences"] == ["api"]
    assert "secret" not in str(config["cookies"].get("csrf_secret", ""))
    csrf = tmp_path / config["cookies"]["csrf_secret_file"]
    assert csrf.stat().st_mode & 0o777 == 0o600 and len(csrf.read_bytes()) >= 32
    assert sorted(k["state"] for k in doc["keys"]) == ["active", "next"]
    # refuses to overwrite, then a production (non-dev) flow works with the written file
    assert one_error_line(run("init"), 2)
    ok_json(run("db", "upgrade", "--json"))
    issued = ok_json(run("token", "issue", "--sub", "svc", "--json"))
    verified = ok_json(run("token", "verify", issued["token"], "--json"))
    assert verified["claims"]["iss"] == "https://auth.example"


def test_init_escapes_values(run: Run, tmp_path: Path) -> None:
    ok_json(run("init", "--issuer", 'https://x.example/"quoted"\\', "--json"))
    config = tomllib.loads((tmp_path / "tokenward.toml").read_text())
    assert config["token"]["issuer"] == 'https://x.example/"quoted"\\'


def test_db_upgrade_current_prune(run: Run) -> None:
    assert ok_json(run(*dev("db", "current", "--json")))["current"] is None
    revision = ok_json(run(*dev("db", "upgrade", "--json")))["revision"]
    current = ok_json(run(*dev("db", "current", "--json")))
    assert current == {"current": revision, "head": revision, "up_to_date": True}
    pruned = ok_json(run(*dev("db", "prune", "--json")))
    assert pruned == {"refresh": 0, "revocations": 0, "keys": []}
    # a retired key expired by hand is one of the things `db prune` removes
    retired = ok_json(run(*dev("keys", "rotate", "--json")))["retired"]
    ok_json(run("keys", "retire", "--dev", "--json", "--", retired))
    assert ok_json(run(*dev("db", "prune", "--json")))["keys"] == [retired]
    kids = [k["kid"] for k in ok_json(run(*dev("keys", "list", "--json")))["keys"]]
    assert retired not in kids and len(kids) == 2


def test_production_refuses_an_unmigrated_database(run: Run) -> None:
    ok_json(run("init", "--json"))
    line = one_error_line(run("users", "list"), 2)
    assert "tokenward db upgrade" in line


@pytest.mark.parametrize(
    "args",
    [
        ("users", "list"),
        ("db", "upgrade"),
        ("db", "current"),
        ("token", "issue", "--sub", "x"),
    ],
)
def test_unreachable_database_is_one_line(run: Run, args: tuple[str, ...]) -> None:
    result = run(*dev(*args), env=UNREACHABLE)
    line = one_error_line(result, 1)
    assert "unavailable" in line or "database" in line


def test_unreachable_database_json_error(run: Run) -> None:
    line = one_error_line(run(*dev("users", "list", "--json"), env=UNREACHABLE), 1)
    assert '"storage_unavailable"' in line


def test_bad_configuration_value_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[token]\naccess_token_minutes = 'soon'\n")
    line = one_error_line(run("keys", "list", "-c", "bad.toml"), 2)
    assert "access_token_minutes" in line
    (tmp_path / "broken.toml").write_text("[token\n")
    one_error_line(run("keys", "list", "-c", "broken.toml"), 2)


def test_serve_runs_uvicorn_on_create_app(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from fastapi import FastAPI

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    result = run("serve", "--dev", "--host", "127.0.0.2", "--port", "9123")
    assert result.exit_code == 0, result.output
    ((app, kwargs),) = calls
    assert isinstance(app, FastAPI)
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.2", 9123)
    assert app.state.settings.service.dev is True


def test_serve_refuses_an_unsafe_config_before_starting(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    line = one_error_line(run("serve"), 2)  # no issuer/audience outside --dev
    assert "issuer" in line


def test_main_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    from tokenward.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["token", "decode", "x.y", "--json"])
    assert exit_info.value.code == 1
    assert '"malformed"' in capsys.readouterr().err


def test_password_stdin_is_not_logged(run: Run, caplog: pytest.LogCaptureFixture) -> None:
    added = run(*dev("users", "add", "bob", "--password-stdin"), input=PASSWORD + "\n")
    changed = run(*dev("users", "set-password", "bob", "--password-stdin"), input=PASSWORD + "!\n")
    assert (added.exit_code, changed.exit_code) == (0, 0)  # the passwords were really used
    assert PASSWORD not in caplog.text
    assert PASSWORD not in added.output + changed.output
