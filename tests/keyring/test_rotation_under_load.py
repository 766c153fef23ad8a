"""Zero-downtime key rotation: two app instances share one PostgreSQL database while the real
``tokenward keys rotate`` command runs twice in another process.

Requirements proven here (issue 5, section 4):

* zero failed requests while instances keep issuing (login) and validating (``/me`` on both
  instances, cross-instance) during and between the rotations;
* both instances sign with the new key after they poll (driven explicitly: no sleeping);
* tokens signed before the rotations keep validating until they expire;
* after the retire period the old key is gone from the JWKS and its tokens are rejected;
* ``/metrics`` counters move, and the captured logs hold no token, refresh secret or password.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tokenward.clock import FixedClock
from tokenward.errors import UnknownKey
from tokenward.keyring import generate_kek
from tokenward.observability import JsonLogFormatter
from tokenward.service import Runtime, create_app, load_settings
from tokenward.sessions.passwords import PasswordHasher

pytestmark = [pytest.mark.services, pytest.mark.slow]

BASE_URL = "https://testserver"
PASSWORD = "rotation-test-password-1"
#: explicit polls only: the background poller must not fire during the test
POLL_SECONDS = 3600


@dataclass
class Instance:
    name: str
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def login(self) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/login", json={"username": "bob", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def me(self, token: str) -> httpx.Response:
        return await self.client.get("/me", headers={"Authorization": f"Bearer {token}"})

    async def jwks_kids(self) -> set[str]:
        response = await self.client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        return {key["kid"] for key in response.json()["keys"]}

    async def metric(self, needle: str) -> float:
        text = (await self.client.get("/metrics")).text
        values = [
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(needle)
        ]
        return sum(values)


@dataclass
class Load:
    """Keeps both instances issuing and validating until stopped; records every failure."""

    instances: tuple[Instance, Instance]
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    issued: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)
    #: (login refresh token, the refresh token it was rotated into): one session family each
    chains: list[tuple[str, str]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self, label: str, response: httpx.Response) -> None:
        self.requests += 1
        if response.status_code != 200:
            self.failures.append(f"{label}: {response.status_code} {response.text[:200]}")

    async def worker(self, issuer: Instance) -> None:
        while not self.stop.is_set():
            response = await issuer.client.post(
                "/auth/login", json={"username": "bob", "password": PASSWORD}
            )
            self.check(f"login@{issuer.name}", response)
            if response.status_code == 200:
                body = response.json()
                self.issued.append(body["access_token"])
                self.refresh_tokens.append(body["refresh_token"])
                for validator in self.instances:
                    self.check(f"me@{validator.name}", await validator.me(body["access_token"]))
                # refresh on the OTHER instance: issuing through rotation, cross-instance
                other = self.instances[1] if issuer is self.instances[0] else self.instances[0]
                response = await other.client.post(
                    "/auth/refresh", json={"refresh_token": body["refresh_token"]}
                )
                self.check(f"refresh@{other.name}", response)
                if response.status_code == 200:
                    pair = response.json()
                    self.issued.append(pair["access_token"])
                    self.refresh_tokens.append(pair["refresh_token"])
                    self.chains.append((body["refresh_token"], pair["refresh_token"]))
                    self.check(f"me@{issuer.name}", await issuer.me(pair["access_token"]))
            await asyncio.sleep(0)  # yield to the other worker (not a timing sleep)

    async def progress(self, more: int) -> None:
        """Let at least ``more`` requests complete (keeps load flowing in a given state)."""
        target = self.requests + more
        while self.requests < target and not self.failures:
            await asyncio.sleep(0)


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


@pytest.fixture
async def pg_database(pg_url: str, unique_prefix: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database shared by both instances and the CLI subprocess."""
    admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{unique_prefix}"')
    yield make_url(pg_url).set(database=unique_prefix).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{unique_prefix}" WITH (FORCE)')
    await admin.dispose()


@pytest.fixture
def shared_env(
    pg_database: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """One configuration for both instances and the CLI process: SQL key store, same KEK."""
    env = {
        "TOKENWARD__DATABASE__URL": pg_database,
        "TOKENWARD__KEYS__SOURCE": "sql",
        "TOKENWARD__KEYS__KEK": generate_kek(),
        "TOKENWARD__KEYS__POLL_SECONDS": str(POLL_SECONDS),
        "TOKENWARD__SERVICE__DATA_DIR": str(clean_env / "data"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def rotate_with_cli() -> dict[str, Any]:
    """Run the real `tokenward keys rotate --json` in another process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tokenward.cli",
        "keys",
        "rotate",
        "--dev",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err
    result: dict[str, Any] = json.loads(out)
    return result


async def test_rotation_under_load_with_two_instances(
    shared_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The CLI process rotates on the wall clock, so the instances' FixedClock starts there.
    clock = FixedClock(time.time())
    async with AsyncExitStack() as stack:

        async def start(name: str) -> Instance:
            app = create_app(
                load_settings(dev=True),
                clock=clock,
                hasher=PasswordHasher.for_testing(),
                announce=lambda _line: None,
            )
            manager = await stack.enter_async_context(LifespanManager(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url=BASE_URL)
            )
            return Instance(name, app, client)

        a = await start("a")
        b = await start("b")
        await a.runtime.auth.create_user("bob", PASSWORD, roles=("User",))
        k1 = a.runtime.keys.active_key.kid
        assert b.runtime.keys.active_key.kid == k1
        metrics_before = {i.name: await i.metric("tokens_issued_total") for i in (a, b)}

        # tokens signed before any rotation, by each instance
        before = [await a.login(), await b.login()]
        assert {kid_of(t["access_token"]) for t in before} == {k1}

        load = Load((a, b))
        workers = [asyncio.create_task(load.worker(i)) for i in (a, b)]
        try:
            kids = [k1]
            for _ in range(2):
                await load.progress(10)
                rotated = await rotate_with_cli()  # load keeps running meanwhile
                assert rotated["retired"] == kids[-1]
                kids.append(rotated["active"])
                # not yet polled: both still sign with the old (now retired, still published)
                # key; the new active key was pre-published as `next`, so it validates too
                assert kid_of((await a.login())["access_token"]) == kids[-2]
                await load.progress(10)
                assert await a.runtime.keys.poll()
                assert kid_of((await a.login())["access_token"]) == kids[-1]
                await load.progress(10)  # mixed fleet: a signs with new, b with old
                assert await b.runtime.keys.poll()
                for instance in (a, b):
                    assert kid_of((await instance.login())["access_token"]) == kids[-1]
                await load.progress(10)
        finally:
            load.stop.set()
            await asyncio.gather(*workers)

        assert load.failures == []
        assert load.requests > 100
        signed_by = {kid_of(t) for t in load.issued}
        assert signed_by == set(kids)  # the load really spanned all three keys

        # pre-rotation tokens keep validating on both instances until they expire
        expires = min(t["expires_at"] for t in before)
        clock.set(expires - 1)
        for token in before:
            for instance in (a, b):
                assert (await instance.me(token["access_token"])).status_code == 200
        leeway = a.runtime.settings.token.clock_skew_seconds
        clock.set(expires + leeway + 1)
        for token in before:
            assert (await a.me(token["access_token"])).status_code == 401

        # after the retire period the first key disappears from every JWKS ...
        k1_record = next(k for k in a.runtime.keys.keys if k.kid == k1)  # type: ignore[attr-defined]
        assert k1 in await a.jwks_kids() and k1 in await b.jwks_kids()
        assert k1_record.retire_after is not None
        clock.set(k1_record.retire_after)
        await a.runtime.keys.tick()  # what the background poller does: poll + prune
        await b.runtime.keys.poll()
        for instance in (a, b):
            published = await instance.jwks_kids()
            assert k1 not in published
            assert kids[1] in published and kids[2] in published
            # ... and its tokens are rejected for that reason (no key), not only for age
            with pytest.raises(UnknownKey):
                await instance.runtime.validator.avalidate(before[0]["access_token"])
            assert (await instance.me(before[0]["access_token"])).status_code == 401

        # a stolen refresh token replayed: reuse detected (a security event, and a metric),
        # and the whole family dies (RFC 9700 sec. 4.14.2). First the legitimate client
        # refreshes once more at the current time, so the family has a live access token.
        stolen, newest_refresh = load.chains[0]
        fresh = await a.client.post("/auth/refresh", json={"refresh_token": newest_refresh})
        assert fresh.status_code == 200, fresh.text
        newest = fresh.json()
        for instance in (a, b):
            assert (await instance.me(newest["access_token"])).status_code == 200
        reuse_metric = 'refresh_total{outcome="reuse_detected"}'
        reuse_before = await b.metric(reuse_metric)
        replayed = await b.client.post("/auth/refresh", json={"refresh_token": stolen})
        assert replayed.status_code == 400
        assert replayed.json()["error"] == "invalid_grant"
        assert await b.metric(reuse_metric) == reuse_before + 1
        (event,) = [
            r for r in caplog.records if getattr(r, "event", None) == "refresh_token_reuse_detected"
        ]
        assert event.levelno == logging.WARNING
        # the family's newest tokens are refused afterwards, on both instances
        for instance in (a, b):
            assert (await instance.me(newest["access_token"])).status_code == 401
            refused = await instance.client.post(
                "/auth/refresh", json={"refresh_token": newest["refresh_token"]}
            )
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_grant"
        secrets_seen = [stolen, newest_refresh, newest["access_token"], newest["refresh_token"]]

        # metrics moved on both instances
        for instance in (a, b):
            assert await instance.metric("tokens_issued_total") > metrics_before[instance.name]
            assert await instance.metric('logins_total{outcome="ok"}') > 0
            assert await instance.metric('refresh_total{outcome="rotated"}') > 0
            assert await instance.metric('token_validations_total{result="ok"}') > 0
            assert await instance.metric("key_rotations_total") == 2
            assert await instance.metric("http_request_duration_seconds_count") > 0
        assert await b.metric(reuse_metric) == 1  # only the replay above was reuse

        secrets_issued = [PASSWORD, *load.issued, *load.refresh_tokens]
        secrets_issued += [t["access_token"] for t in before]
        secrets_issued += [t["refresh_token"] for t in before]
        secrets_issued += secrets_seen
        assert_no_secrets_logged(caplog.records, secrets_issued)


def assert_no_secrets_logged(records: list[logging.LogRecord], secrets: list[str]) -> None:
    """Neither the raw records nor their JSON lines contain any issued secret.

    Refresh tokens are ``rt_<selector>.<secret>``: the secret part is checked on its own too.
    """
    assert records, "the scenario should have logged something (e.g. signing_key_rotated)"
    formatter = JsonLogFormatter()
    needles = set(secrets)
    needles |= {s.split(".", 1)[1] for s in secrets if s.startswith("rt_")}
    leaks: Callable[[str], list[str]] = lambda text: [n for n in needles if n in text]  # noqa: E731
    for record in records:
        raw = record.getMessage() + " " + repr(vars(record))
        assert not leaks(raw), f"secret in log record {record.name}: {record.getMessage()!r}"
        assert not leaks(formatter.format(record))
    assert any(getattr(r, "event", None) == "signing_key_rotated" for r in records)
