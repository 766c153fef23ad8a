"""Attacker-controlled request parts never produce a 500 (security profile section 1)."""

from __future__ import annotations

import asyncio
from typing import Any

from _web_support import CSRF_SECRET, ORIGIN, build_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenward.clock import FixedClock
from tokenward.keys import Key, KeySet
from tokenward.tokens import TokenIssuer
from tokenward.validation import ValidationPolicy
from tokenward.web import (
    Authenticator,
    BearerTransport,
    ClaimPolicy,
    CookieTransport,
    CsrfProtector,
    RolePolicy,
)

KEY = Key.from_secret(b"f" * 32, alg="HS256", kid="hs1")
CLOCK = FixedClock(1_800_000_000.0)
AUTH = Authenticator(
    KeySet([KEY]),
    ValidationPolicy(issuers="https://i", audiences="api", algorithms=("HS256",)),
    clock=CLOCK,
    transports=(BearerTransport(), CookieTransport()),
    csrf=CsrfProtector(CSRF_SECRET, allowed_origins=[ORIGIN]),
    policies={
        "AdminOnly": RolePolicy(("Admin",)),
        "TenantScoped": ClaimPolicy(("tenant",)),
        "Alice": lambda p: p.subject == "alice",
    },
)
APP = build_app(AUTH)
TOKEN = TokenIssuer(KEY, issuer="https://i", audience="api", lifetime=60, clock=CLOCK)
VALID = TOKEN.issue("alice", session_id="s").token.encode()

header_names = st.sampled_from(
    [b"authorization", b"cookie", b"origin", b"referer", b"sec-fetch-site", b"x-csrf-token"]
)
header_values = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"Bearer ", b"bearer", b"Bearer " + VALID, b"__Host-at=" + VALID]),
    st.builds(lambda junk: b"Bearer " + VALID[:40] + junk, st.binary(max_size=40)),
    st.builds(lambda junk: b"__Host-at=" + junk + b"; __Host-csrf=" + junk, st.binary(max_size=80)),
)


async def _call(method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"api.example"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("api.example", 443),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await APP(scope, receive, send)
    return statuses[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    path=st.sampled_from(["/me", "/fast/me", "/fast/items", "/items", "/admin", "/fast/maybe"]),
    query=st.one_of(st.binary(max_size=60), st.just(b"access_token=" + VALID)),
    headers=st.lists(st.tuples(header_names, header_values), max_size=5),
)
def test_no_request_ever_gets_a_500(
    method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    status = asyncio.run(_call(method, path, query, headers))
    assert status in {200, 401, 403, 405}
