"""`tokenward keys ...`: JSON output, state transitions and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Run, dev, ok_json, one_error_line


def states(doc: dict[str, list[dict[str, object]]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"active": [], "next": [], "retired": []}
    for key in doc["keys"]:
        out[str(key["state"])].append(str(key["kid"]))
    return out


def test_list_creates_and_shows_active_and_next(run: Run) -> None:
    doc = ok_json(run(*dev("keys", "list", "--json")))
    s = states(doc)
    assert len(s["active"]) == 1 and len(s["next"]) == 1 and not s["retired"]
    key = doc["keys"][0]
    assert set(key) >= {"kid", "alg", "state", "created_at", "retire_after"}
    assert key["alg"] == "RS256"


def test_list_human_table_has_the_documented_columns(run: Run) -> None:
    result = run(*dev("keys", "list"))
    assert result.exit_code == 0
    for column in ("kid", "alg", "state", "created", "retire-after", "active", "next"):
        assert column in result.stdout


def test_rotate_then_list(run: Run) -> None:
    before = states(ok_json(run(*dev("keys", "list", "--json"))))
    rotated = ok_json(run(*dev("keys", "rotate", "--json")))
    assert rotated["active"] == before["next"][0]
    assert rotated["retired"] == before["active"][0]
    after = states(ok_json(run(*dev("keys", "list", "--json"))))
    assert after["active"] == before["next"]
    assert after["retired"] == before["active"]
    assert after["next"] == [rotated["next"]]
    retired = next(k for k in rotated["keys"] if k["state"] == "retired")
    assert retired["retire_after"] > retired["retired_at"]


def test_retire_next_and_prune(run: Run) -> None:
    nxt = states(ok_json(run(*dev("keys", "list", "--json"))))["next"][0]
    retired = ok_json(run("keys", "retire", "--dev", "--json", "--", nxt))
    assert retired["state"] == "retired"
    assert ok_json(run(*dev("keys", "prune", "--json")))["removed"] == [nxt]
    assert nxt not in json.dumps(ok_json(run(*dev("keys", "list", "--json"))))


def test_retire_active_or_unknown_fails_with_one_line(run: Run) -> None:
    active = states(ok_json(run(*dev("keys", "list", "--json"))))["active"][0]
    # kids are base64url thumbprints and may start with "-": pass them after "--"
    line = one_error_line(run("keys", "retire", "--dev", "--", active), 1)
    assert "rotate" in line
    one_error_line(run(*dev("keys", "retire", "no-such-kid", "--json")), 1)


def test_generate_adds_a_next_key_after_the_first_run(run: Run) -> None:
    first = ok_json(run(*dev("keys", "generate", "--json")))
    assert first["added"] is None and len(first["keys"]) == 2
    second = ok_json(run(*dev("keys", "generate", "--alg", "ES256", "--json")))
    assert second["added"]["alg"] == "ES256" and second["added"]["state"] == "next"
    assert len(second["keys"]) == 3


def test_jwks_is_public_and_matches_the_list(run: Run) -> None:
    kids = {k["kid"] for k in ok_json(run(*dev("keys", "list", "--json")))["keys"]}
    jwks = ok_json(run(*dev("keys", "jwks")))
    assert {k["kid"] for k in jwks["keys"]} == kids
    for key in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)


def test_private_key_files_are_0600(run: Run, tmp_path: Path) -> None:
    ok_json(run(*dev("keys", "list", "--json")))
    files = list((tmp_path / ".tokenward" / "keys").glob("*.jwk"))
    assert len(files) == 2
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)


def test_hmac_configuration_has_no_managed_keys(run: Run) -> None:
    env = {"TOKENWARD__TOKEN__ALGORITHM": "HS256", "TOKENWARD__TOKEN__HMAC_SECRET": "x" * 40}
    line = one_error_line(run(*dev("keys", "list"), env=env), 2)
    assert "hmac" in line.lower()


def test_missing_config_file_is_a_usage_error(run: Run) -> None:
    line = one_error_line(run("keys", "list", "--config", "nope.toml"), 2)
    assert "nope.toml" in line


def test_sql_key_store_without_kek_refuses(run: Run) -> None:
    line = one_error_line(run(*dev("keys", "list"), env={"TOKENWARD__KEYS__SOURCE": "sql"}), 2)
    assert "key-encryption key" in line


def test_sql_key_store_with_wrong_kek_fails_clearly(run: Run) -> None:
    env = {"TOKENWARD__KEYS__SOURCE": "sql", "TOKENWARD__KEYS__KEK": "A" * 43}
    ok_json(run(*dev("db", "upgrade", "--json"), env=env))
    ok_json(run(*dev("keys", "list", "--json"), env=env))
    env["TOKENWARD__KEYS__KEK"] = "B" * 43
    line = one_error_line(run(*dev("keys", "list"), env=env), 2)
    assert "cannot decrypt signing keys: wrong key-encryption key?" in line


def test_a_kid_starting_with_a_dash_is_accepted_after_double_dash(run: Run) -> None:
    """RFC 7638 kids are base64url and may start with "-": `keys retire -- KID` works."""
    import asyncio
    import time

    from tokenward.keyring import FileKeyStore, KeyState, StoredKey
    from tokenward.keys import Key

    now = time.time()
    active = StoredKey.generate("RS256", KeyState.ACTIVE, now=now)
    dashed = Key.generate("RS256", kid="-dash-first-kid")
    nxt = StoredKey(kid=dashed.kid, alg="RS256", state=KeyState.NEXT, key=dashed, created_at=now)
    store = FileKeyStore(Path(".tokenward") / "keys")
    assert asyncio.run(store.initialize(active, nxt))
    retired = ok_json(run("keys", "retire", "--dev", "--json", "--", "-dash-first-kid"))
    assert retired["kid"] == "-dash-first-kid"
    assert "-dash-first-kid" not in states(ok_json(run(*dev("keys", "list", "--json"))))["next"]
