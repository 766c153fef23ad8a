"""The real ``tokenward serve --dev`` process over TCP (issue 4 sec. 4).

Start-up is bounded by polling ``/healthz`` against a deadline; no fixed sleeps. Users are
created before the server starts through ``open_runtime`` on the same SQLite data dir, which is
exactly what ``tokenward users add`` does.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenward.service import load_settings, open_runtime

pytestmark = pytest.mark.slow

ALICE, BOB = "alice-password-1234", "bob-password-1234"
START_DEADLINE = 60.0


def _tokenward() -> list[str]:
    """The installed ``tokenward`` console script (the module entry point as a fallback)."""
    script = Path(sys.executable).parent / "tokenward"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tokenward.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _create_users(data_dir: Path) -> None:
    settings = load_settings(None, {"service": {"data_dir": str(data_dir)}}, dev=True)
    async with open_runtime(settings) as runtime:
        await runtime.auth.create_user(
            "alice", ALICE, roles=("Admin",), claims={"tenant": "contoso"}
        )
        await runtime.auth.create_user("bob", BOB, roles=("User",))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    data_dir = tmp_path / ".tokenward"
    asyncio.run(_create_users(data_dir))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TOKENWARD__")}
    env["TOKENWARD__SERVICE__DATA_DIR"] = str(data_dir)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_tokenward(), "serve", "--dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not healthy within {START_DEADLINE}s:\n{log_path.read_text()}")
            time.sleep(0.05)  # polling interval, not a timing assumption
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _login(client: httpx.Client, username: str, password: str) -> dict[str, Any]:
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _auth(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def test_serve_process_bearer_and_cookie_flows(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30.0) as client:
        assert client.get("/readyz").json()["status"] == "ok"
        # login -> /me -> /admin/metrics (403 for a non-admin)
        bob = _login(client, "bob", BOB)
        me = client.get("/me", headers=_auth(bob))
        assert me.status_code == 200 and me.json()["roles"] == ["User"]
        denied = client.get("/admin/metrics", headers=_auth(bob))
        assert denied.status_code == 403
        assert denied.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
        alice = _login(client, "alice", ALICE)
        assert client.get("/admin/metrics", headers=_auth(alice)).status_code == 200

        # refresh -> re-use the old refresh token: family revoked, new access token dead too
        rotated = client.post("/auth/refresh", json={"refresh_token": bob["refresh_token"]})
        assert rotated.status_code == 200
        new = rotated.json()
        assert client.get("/me", headers=_auth(new)).status_code == 200
        reuse = client.post("/auth/refresh", json={"refresh_token": bob["refresh_token"]})
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
        assert client.get("/me", headers=_auth(new)).status_code == 401

        # login again -> logout -> the old access token is rejected
        again = _login(client, "bob", BOB)
        assert client.get("/me", headers=_auth(again)).status_code == 200
        out = client.post(
            "/auth/logout", json={"refresh_token": again["refresh_token"]}, headers=_auth(again)
        )
        assert out.status_code == 204
        rejected = client.get("/me", headers=_auth(again))
        assert rejected.status_code == 401
        assert rejected.json()["error"] == "invalid_token"

        # cookie flow (cookies are Secure, so over plain http the test sends them itself):
        # pre-session CSRF token first (login CSRF), then the login echoes it
        pre = client.get("/auth/csrf")
        assert pre.status_code == 200
        pre_token = pre.json()["csrf_token"]
        pre_cookie = f"__Host-csrf={pre_token}"
        assert pre.headers["set-cookie"].startswith(f"{pre_cookie}; ")
        credentials = {"username": "alice", "password": ALICE}
        no_token = client.post("/auth/login-cookie", json=credentials)
        assert no_token.status_code == 403 and no_token.json()["error"] == "csrf_failed"
        login = client.post(
            "/auth/login-cookie",
            json=credentials,
            headers={"Cookie": pre_cookie, "X-CSRF-Token": pre_token, "Origin": server},
        )
        assert login.status_code == 200, login.text
        jar = {c.split("=", 1)[0]: c.split(";", 1)[0] for c in login.headers.get_list("set-cookie")}
        csrf = login.json()["csrf_token"]
        assert csrf != pre_token  # rotated to a session-bound token at login
        cookies = f"{jar['__Host-at']}; {jar['__Host-csrf']}"
        assert client.get("/me", headers={"Cookie": cookies}).status_code == 200
        refresh_cookies = f"{jar['__Secure-rt']}; {jar['__Host-csrf']}"
        no_csrf = client.post("/auth/refresh", headers={"Cookie": refresh_cookies})
        assert no_csrf.status_code == 403
        refreshed = client.post(
            "/auth/refresh",
            headers={"Cookie": refresh_cookies, "X-CSRF-Token": csrf, "Origin": server},
        )
        assert refreshed.status_code == 200
        no_header = client.post("/auth/logout-all", headers={"Cookie": cookies})
        assert no_header.status_code == 403
        assert no_header.json()["error"] == "csrf_failed"
        with_header = client.post(
            "/auth/logout-all",
            headers={"Cookie": cookies, "X-CSRF-Token": csrf, "Origin": server},
        )
        assert with_header.status_code == 204
        assert client.get("/me", headers={"Cookie": cookies}).status_code == 401
