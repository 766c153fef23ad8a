"""`tokenward token issue|decode|verify`: output, exit codes 0/1/2, hostile input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from .conftest import PASSWORD, Run, dev, ok_json, one_error_line


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def token(run: Run) -> str:
    issued = ok_json(run(*dev("token", "issue", "--sub", "svc-1", "--role", "Admin", "--json")))
    return str(issued["token"])


def test_issue_for_a_subject(run: Run) -> None:
    issued = ok_json(
        run(*dev("token", "issue", "--sub", "svc-1", "--claim", "tenant=contoso", "--json"))
    )
    assert issued["sub"] == "svc-1"
    assert issued["expires_at"] - issued["issued_at"] == 15 * 60
    active = next(
        k["kid"]
        for k in ok_json(run(*dev("keys", "list", "--json")))["keys"]
        if k["state"] == "active"
    )
    assert issued["kid"] == active


def test_issue_plain_prints_only_the_token_on_stdout(run: Run) -> None:
    result = run(*dev("token", "issue", "--sub", "svc-1", "--lifetime", "60"))
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    assert line.count(".") == 2 and line.startswith("eyJ")


def test_issue_for_a_user_copies_roles_and_claims(run: Run) -> None:
    ok_json(
        run(
            *dev("users", "add", "bob", "--role", "Admin", "--claim", "tenant=contoso"),
            "--password-stdin",
            "--json",
            input=PASSWORD + "\n",
        )
    )
    issued = ok_json(run(*dev("token", "issue", "--user", "bob", "--json")))
    claims = ok_json(run("token", "decode", issued["token"], "--json"))["claims"]
    assert claims["roles"] == ["Admin"] and claims["tenant"] == "contoso"
    assert claims["name"] == "bob" and claims["sub"] == issued["sub"] != "bob"


@pytest.mark.parametrize(
    "args",
    [
        ("token", "issue"),
        ("token", "issue", "--sub", "a", "--user", "b"),
        ("token", "issue", "--sub", "a", "--claim", "novalue"),
        ("token", "issue", "--sub", "a", "--lifetime", "0"),
    ],
)
def test_issue_usage_errors_exit_2(run: Run, args: tuple[str, ...]) -> None:
    assert run(*dev(*args)).exit_code == 2


def test_issue_for_unknown_user_exits_1(run: Run) -> None:
    line = one_error_line(run(*dev("token", "issue", "--user", "ghost")), 1)
    assert "user_not_found" in line


def test_decode_is_marked_unverified(run: Run, token: str) -> None:
    doc = ok_json(run("token", "decode", token, "--json"))
    assert doc["verified"] is False
    assert doc["header"]["typ"] == "at+jwt" and doc["claims"]["sub"] == "svc-1"
    human = run("token", "decode", token)
    assert human.exit_code == 0 and "UNVERIFIED" in human.stdout


def test_decode_reads_stdin(run: Run, token: str) -> None:
    assert ok_json(run("token", "decode", "-", "--json", input=token + "\n"))["claims"]["sub"] == (
        "svc-1"
    )


def test_decode_malformed_exits_1(run: Run) -> None:
    line = one_error_line(run("token", "decode", "not-a-token", "--json"), 1)
    assert json.loads(line)["error"] == "malformed"


def test_verify_valid_token_exits_0(run: Run, token: str) -> None:
    doc = ok_json(run(*dev("token", "verify", token, "--json")))
    assert doc["valid"] is True and doc["claims"]["sub"] == "svc-1"
    assert "VALID" in run(*dev("token", "verify", token)).stdout


def test_verify_tampered_token_exits_1_with_the_code(run: Run, token: str) -> None:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["root"]
    forged = f"{header}.{b64(claims)}.{signature}"
    result = run(*dev("token", "verify", forged, "--json"))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "valid": False,
        "error": "bad_signature",
        "error_description": "signature verification failed",
    }
    assert "bad_signature" in one_error_line(run(*dev("token", "verify", forged)), 1)


HOSTILE = [
    pytest.param("a.b", id="two-segments"),
    pytest.param("..", id="empty-segments"),
    pytest.param("a.b.c.d.e", id="jwe-shape"),
    pytest.param("x" * 100_000, id="100k"),
    pytest.param("ä.ö.ü", id="non-ascii"),
    pytest.param("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", id="alg-none"),
    pytest.param(f"{b64({'alg': 'HS256', 'kid': '../../dev/null'})}.{b64({})}.AAAA", id="kid-path"),
    pytest.param(f"{b64({'alg': 'RS256', 'jku': 'http://127.0.0.1:1/'})}.{b64({})}.AA", id="jku"),
    pytest.param("eyJ" + "\x00" * 10 + ".e30.AA", id="nul-bytes"),
    pytest.param("W10.W10.W10", id="json-arrays"),
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_verify_hostile_token_exits_1_with_a_code_never_a_traceback(run: Run, hostile: str) -> None:
    result = run(*dev("token", "verify", "-", "--json"), input=hostile)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["valid"] is False and doc["error"]
    line = one_error_line(result, 1)
    assert json.loads(line)["error"] == doc["error"]


def test_verify_without_a_token_is_a_usage_error(run: Run) -> None:
    one_error_line(run(*dev("token", "verify", "-"), input=""), 2)


def test_verify_against_a_jwks_file(run: Run, token: str, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(run(*dev("keys", "jwks")).stdout)
    args = ("token", "verify", token, "--jwks", str(jwks))
    flags = ("--issuer", "http://127.0.0.1:8000", "--audience", "tokenward", "--json")
    assert ok_json(run(*args, *flags))["valid"] is True
    wrong_aud = run(*args, "--issuer", "http://127.0.0.1:8000", "--audience", "other", "--json")
    assert wrong_aud.exit_code == 1 and json.loads(wrong_aud.stdout)["error"] == "invalid_audience"


def test_verify_against_a_rotated_away_jwks_is_unknown_key(
    run: Run, token: str, tmp_path: Path
) -> None:
    ok_json(run(*dev("keys", "rotate", "--json")))
    ok_json(run(*dev("keys", "rotate", "--json")))
    jwks = tmp_path / "jwks.json"
    doc = json.loads(run(*dev("keys", "jwks")).stdout)
    kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
    doc["keys"] = [k for k in doc["keys"] if k["kid"] != kid]
    jwks.write_text(json.dumps(doc))
    result = run("token", "verify", token, "--jwks", str(jwks), "--issuer", "x", "--audience", "y")
    assert "unknown_key" in one_error_line(result, 1)


@pytest.mark.parametrize(
    "extra",
    [
        ("--jwks", "missing.json", "--issuer", "i", "--audience", "a"),
        ("--jwks", "bad.json", "--issuer", "i", "--audience", "a"),
        ("--jwks", "empty.json"),
    ],
)
def test_verify_bad_jwks_source_is_a_usage_error(
    run: Run, token: str, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "empty.json").write_text('{"keys": []}')
    one_error_line(run("token", "verify", token, *extra), 2)
