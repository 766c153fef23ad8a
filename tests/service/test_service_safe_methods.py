"""Security profile sec. 5.3 K6: no GET/HEAD/OPTIONS request changes state.

A property over the app's route table, not a hand-kept list: every route that answers a
safe method (RFC 9110 sec. 9.2.1) is called with every credential style (none, bearer,
cookie, both; a CORS preflight too), and the whole database, the data directory and the
published keys must be byte-for-byte what they were. A GET route added later is covered
automatically; a safe route that logs in, rotates, revokes or writes a key fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi.routing
import sqlalchemy as sa
from _service_support import ORIGIN, Service, bearer

SAFE = ("GET", "HEAD", "OPTIONS")
APP_ORIGIN = "https://app.example"


def _routes(service: Service) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers."""
    # FastAPI >= 0.165 keeps included routers lazily; iter_route_contexts flattens them.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(service.app.routes if flatten is None else flatten(service.app.routes))
    out = []
    for route in routes:
        assert isinstance(route.path, str), route  # no mounts: nothing hides from the walk
        out.append((route.path, set(route.methods or ())))
    return out


def _safe_calls(service: Service) -> list[tuple[str, str]]:
    """(method, path) for every safe method a route of the app answers, plus OPTIONS on
    every path (preflight and plain OPTIONS must not change state either)."""
    calls: set[tuple[str, str]] = set()
    for path, methods in _routes(service):
        # a path parameter gets a harmless value; none exists today, a new one is covered
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        calls.update((m, concrete) for m in methods if m in SAFE)
        calls.add(("OPTIONS", concrete))
    return sorted(calls)


async def _snapshot(service: Service, data_dir: Path) -> Any:
    """Every row of every table, every file of the data dir but the database, the JWKS."""
    engine = service.runtime.engine

    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        tables = {}
        for name in sorted(names):
            rows = await conn.execute(sa.text(f'SELECT * FROM "{name}"'))
            tables[name] = sorted(repr(tuple(row)) for row in rows)
    files = {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and not p.name.startswith("tokenward.db")
    }
    return tables, files, service.runtime.keys.current_keys().to_jwks()


async def test_k6_every_safe_route_changes_no_state(
    start_service: Callable[..., Any], data_dir: Path
) -> None:
    service: Service = await start_service({"http": {"allowed_origins": [ORIGIN, APP_ORIGIN]}})
    csrf = await service.login_cookie()  # alice (Admin, tenant) in the cookie jar
    pair = await service.login()  # and as a bearer token
    await service.login("bob")
    before = await _snapshot(service, data_dir)

    calls = _safe_calls(service)
    paths = {path for _, path in calls}
    assert {"/me", "/admin/metrics", "/.well-known/jwks.json", "/metrics", "/docs"} <= paths
    assert ("HEAD", "/healthz") in calls and ("OPTIONS", "/auth/logout") in calls

    styles: dict[str, tuple[dict[str, str], bool]] = {
        "anonymous": ({}, False),
        "bearer": (bearer(pair["access_token"]), False),
        "cookie": ({"X-CSRF-Token": csrf, "Origin": ORIGIN}, True),
        "both": ({**bearer(pair["access_token"]), "X-CSRF-Token": csrf}, True),
        "preflight": (
            {
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,x-csrf-token",
            },
            True,
        ),
    }
    jar = service.client.cookies
    statuses: dict[tuple[str, str, str], int] = {}
    for method, path in calls:
        for style, (headers, with_cookies) in styles.items():
            service.client.cookies = jar if with_cookies else None  # type: ignore[assignment]
            response = await service.client.request(method, path, headers=headers)
            statuses[(style, method, path)] = response.status_code
            assert response.status_code < 500, (style, method, path, response.text)
    service.client.cookies = jar

    assert await _snapshot(service, data_dir) == before
    # the credentials really reached the protected handlers (not a 401 everywhere)
    for style in ("bearer", "cookie", "both"):
        for path in ("/me", "/secret", "/admin/metrics", "/tenant/info"):
            assert statuses[(style, "GET", path)] == 200, (style, path)
    assert statuses[("anonymous", "GET", "/me")] == 401
    # and the snapshot does see a state change: an unsafe request moves it
    logout = await service.client.post("/auth/logout", headers=bearer(pair["access_token"]))
    assert logout.status_code == 204, logout.text
    assert await _snapshot(service, data_dir) != before
