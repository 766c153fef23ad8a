"""`tokenward users|sessions|logout-all`: passwords never as arguments, JSON, exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tokenward.errors import InvalidCredentials
from tokenward.service import load_settings, open_runtime
from tokenward.sessions import TokenPair

from .conftest import PASSWORD, Run, dev, ok_json, one_error_line


def add(run: Run, name: str = "bob", *extra: str) -> dict[str, object]:
    result = run(
        *dev("users", "add", name, *extra), "--password-stdin", "--json", input=PASSWORD + "\n"
    )
    doc: dict[str, object] = ok_json(result)
    return doc


def login(tmp_path: Path, username: str, password: str) -> TokenPair:
    """Log in through the same runtime the service uses (the CLI has no login command)."""

    async def go() -> TokenPair:
        settings = load_settings(
            None, {"service": {"data_dir": str(tmp_path / ".tokenward")}}, dev=True
        )
        async with open_runtime(settings) as rt:
            pair: TokenPair = await rt.auth.login(username, password)
            return pair

    return asyncio.run(go())


def test_add_and_show(run: Run) -> None:
    created = add(run, "bob", "--role", "Admin", "--role", "User", "--claim", "tenant=contoso")
    assert created["username"] == "bob" and created["roles"] == ["Admin", "User"]
    assert created["claims"] == {"tenant": "contoso"}
    assert "password_hash" not in created and PASSWORD not in str(created)
    shown = ok_json(run(*dev("users", "show", "BOB", "--json")))  # normalised lookup
    assert shown["id"] == created["id"]
    by_id = ok_json(run(*dev("users", "show", str(created["id"]), "--json")))
    assert by_id["username"] == "bob"


def test_password_is_never_an_argument(run: Run) -> None:
    assert run(*dev("users", "add", "bob", PASSWORD)).exit_code == 2
    assert run(*dev("users", "add", "bob", "--password", PASSWORD)).exit_code == 2


def test_password_is_prompted_twice_without_echo(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tokenward.cli.users._interactive", lambda: True)
    result = run(*dev("users", "add", "bob", "--json"), input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    mismatch = run(*dev("users", "add", "carol"), input=f"{PASSWORD}\nother\n\n")
    assert mismatch.exit_code != 0 and PASSWORD not in mismatch.output


def test_password_prompt_needs_a_terminal(run: Run) -> None:
    line = one_error_line(run(*dev("users", "add", "bob")), 1)
    assert "--password-stdin" in line


def test_duplicate_user_exits_1(run: Run) -> None:
    add(run, "bob")
    result = run(*dev("users", "add", "Bob", "--password-stdin", "--json"), input=PASSWORD + "\n")
    assert '"user_exists"' in one_error_line(result, 1)


def test_weak_password_exits_1_and_is_not_echoed(run: Run) -> None:
    result = run(*dev("users", "add", "bob", "--password-stdin"), input="abc\n")
    line = one_error_line(result, 1)
    assert "invalid_request" in line and "abc" not in result.output


def test_list(run: Run) -> None:
    add(run, "bob")
    add(run, "carol")
    users = ok_json(run(*dev("users", "list", "--json")))["users"]
    assert sorted(u["username"] for u in users) == ["bob", "carol"]
    table = run(*dev("users", "list"))
    assert "bob" in table.stdout and "carol" in table.stdout


def test_unknown_user_exits_1(run: Run) -> None:
    for command in ("show", "disable", "enable", "roles", "claims"):
        assert "user_not_found" in one_error_line(run(*dev("users", command, "ghost")), 1)


def test_set_password_changes_the_login(run: Run, tmp_path: Path) -> None:
    add(run, "bob")
    new = "another long passphrase"
    result = run(*dev("users", "set-password", "bob", "--password-stdin", "--json"), input=new)
    assert ok_json(result)["password_changed"] is True
    assert login(tmp_path, "bob", new).access.token
    with pytest.raises(InvalidCredentials):
        login(tmp_path, "bob", PASSWORD)


def test_disable_and_enable(run: Run, tmp_path: Path) -> None:
    add(run, "bob")
    assert ok_json(run(*dev("users", "disable", "bob", "--json")))["disabled"] is True
    with pytest.raises(InvalidCredentials):
        login(tmp_path, "bob", PASSWORD)
    assert ok_json(run(*dev("users", "enable", "bob", "--json")))["disabled"] is False
    assert login(tmp_path, "bob", PASSWORD).access.token


def test_roles_show_set_and_clear(run: Run) -> None:
    add(run, "bob", "--role", "User")
    assert ok_json(run(*dev("users", "roles", "bob", "--json")))["roles"] == ["User"]
    assert ok_json(run(*dev("users", "roles", "bob", "Admin", "Ops", "--json")))["roles"] == [
        "Admin",
        "Ops",
    ]
    assert ok_json(run(*dev("users", "roles", "bob", "--clear", "--json")))["roles"] == []


def test_claims_set_and_unset(run: Run) -> None:
    add(run, "bob", "--claim", "tenant=contoso")
    doc = ok_json(run(*dev("users", "claims", "bob", "level=3", "--json")))
    assert doc["claims"] == {"tenant": "contoso", "level": 3}
    doc = ok_json(run(*dev("users", "claims", "bob", "--unset", "tenant", "--json")))
    assert doc["claims"] == {"level": 3}
    assert run(*dev("users", "claims", "bob", "sub=admin")).exit_code == 1  # reserved claim


def test_changes_show_the_changed_user_even_if_a_username_equals_its_id(run: Run) -> None:
    """After a change the record is read again by id, never by a username that happens to
    equal that id (here: a second account named after bob's id)."""
    bob = add(run, "bob")
    add(run, str(bob["id"]))
    for command in (("roles", "bob", "Ops"), ("claims", "bob", "level=3"), ("disable", "bob")):
        shown = ok_json(run(*dev("users", *command, "--json")))
        assert (shown["id"], shown["username"]) == (bob["id"], "bob"), command
    assert ok_json(run(*dev("users", "show", "bob", "--json")))["roles"] == ["Ops"]


def test_sessions_list_and_revoke(
    run: Run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add(run, "bob")
    first = login(tmp_path, "bob", PASSWORD)
    second = login(tmp_path, "bob", PASSWORD)
    sessions = ok_json(run(*dev("sessions", "list", "bob", "--json")))["sessions"]
    assert {s["session_id"] for s in sessions} == {first.session_id, second.session_id}
    assert all(s["state"] == "active" for s in sessions)
    add(run, "carol")
    # a session id is only revoked through its own user
    assert run(*dev("sessions", "revoke", "carol", first.session_id)).exit_code == 1
    result = run(*dev("sessions", "revoke", "bob", first.session_id, "--json"))
    assert ok_json(result) == {"session_id": first.session_id, "revoked": True}
    # the security event comes from AuthService.revoke_session, with the admin reason
    events = [r for r in caplog.records if r.getMessage() == "session_family_revoked"]
    assert [(r.sid, r.reason) for r in events] == [(first.session_id, "admin")]  # type: ignore[attr-defined]
    states = {
        s["session_id"]: s["state"]
        for s in ok_json(run(*dev("sessions", "list", "bob", "--json")))["sessions"]
    }
    assert states == {first.session_id: "revoked", second.session_id: "active"}
    # the revoked session's access token is rejected, the other one still validates
    assert run(*dev("token", "verify", first.access.token)).exit_code == 1
    assert run(*dev("token", "verify", second.access.token)).exit_code == 0
    assert run(*dev("sessions", "revoke", "bob", "no-such-session")).exit_code == 1


def test_logout_all(run: Run, tmp_path: Path) -> None:
    add(run, "bob")
    pair = login(tmp_path, "bob", PASSWORD)
    assert run(*dev("token", "verify", pair.access.token)).exit_code == 0
    assert ok_json(run(*dev("logout-all", "bob", "--json")))["logged_out"] is True
    result = run(*dev("token", "verify", pair.access.token, "--json"))
    assert result.exit_code == 1 and '"revoked"' in result.stdout
    sessions = ok_json(run(*dev("sessions", "list", "bob", "--json")))["sessions"]
    assert [s["state"] for s in sessions] == ["revoked"]
