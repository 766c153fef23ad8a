"""Login CSRF in cookie mode (security profile sec. 5.2; OWASP "Possible CSRF
Vulnerabilities in Login Forms"): ``GET /auth/csrf`` issues a pre-session token, ``POST
/auth/login-cookie`` requires it, and the login rotates to a session-bound token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from _service_support import BASE_URL, ORIGIN, Service

from tokenward.errors import CSRFError

CSRF = "__Host-csrf"


async def _db_rows(service: Service) -> dict[str, list[str]]:
    """Every row of every table (a login, a throttle count or a session would show)."""
    async with service.runtime.engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        return {
            name: sorted(
                repr(tuple(r)) for r in await conn.execute(sa.text(f'SELECT * FROM "{name}"'))
            )
            for name in sorted(names)
        }


async def _pre_session(client: httpx.AsyncClient) -> str:
    response = await client.get("/auth/csrf")
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    assert client.cookies.get(CSRF) == token  # the same value as cookie and body
    return token


async def _login_cookie(
    service: Service, headers: dict[str, str], password: str | None = None
) -> httpx.Response:
    return await service.client.post(
        "/auth/login-cookie",
        json={"username": "alice", "password": password or service.alice_password},
        headers={"Origin": ORIGIN, **headers},
    )


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"error": "csrf_failed", "error_description": "CSRF check failed"}
    assert not response.headers.get_list("set-cookie")  # no session, no cookie


def _flip(token: str, position: int = 0) -> str:
    flipped = "A" if token[position] != "A" else "B"
    return token[:position] + flipped + token[position + 1 :]


async def test_full_flow_rotates_to_a_session_bound_token(service: Service) -> None:
    pre = await _pre_session(service.client)
    response = await _login_cookie(service, {"X-CSRF-Token": pre})
    assert response.status_code == 200, response.text
    session_token = response.json()["csrf_token"]
    assert session_token != pre
    assert service.client.cookies.get(CSRF) == session_token  # the cookie was replaced
    me = await service.client.get("/me")
    assert me.status_code == 200 and me.json()["name"] == "alice"
    # The new token is bound to the new session, the old one to none.
    service.runtime.csrf.verify(session_token, me.json()["session_id"])
    with pytest.raises(CSRFError):
        service.runtime.csrf.verify(pre, me.json()["session_id"])
    logout = await service.client.post(
        "/auth/logout-all", headers={"X-CSRF-Token": session_token, "Origin": ORIGIN}
    )
    assert logout.status_code == 204


async def test_missing_header_is_refused(service: Service) -> None:
    await _pre_session(service.client)  # the cookie alone proves nothing
    _assert_refused(await _login_cookie(service, {}))


async def test_missing_cookie_is_refused(service: Service) -> None:
    pre = await _pre_session(service.client)
    service.client.cookies.clear()
    _assert_refused(await _login_cookie(service, {"X-CSRF-Token": pre}))


async def test_header_different_from_cookie_is_refused(service: Service) -> None:
    other_client = httpx.AsyncClient(transport=httpx.ASGITransport(service.app), base_url=BASE_URL)
    async with other_client:
        other = await _pre_session(other_client)  # valid, but not the cookie's value
    await _pre_session(service.client)
    _assert_refused(await _login_cookie(service, {"X-CSRF-Token": other}))


async def test_session_bound_token_is_not_a_pre_session_token(service: Service) -> None:
    """A planted pair from a real session (say the attacker's own) cannot start a login."""
    session_token = await service.login_cookie("bob")
    service.client.cookies.clear()
    service.client.cookies.set(CSRF, session_token, domain="testserver")
    _assert_refused(await _login_cookie(service, {"X-CSRF-Token": session_token}))


@pytest.mark.parametrize("position", [0, 45, 63])
async def test_tampered_pre_session_token_is_refused(service: Service, position: int) -> None:
    tampered = _flip(await _pre_session(service.client), position)
    service.client.cookies.set(CSRF, tampered, domain="testserver")
    _assert_refused(await _login_cookie(service, {"X-CSRF-Token": tampered}))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example"},
    ],
)
async def test_cross_site_login_is_refused_even_with_a_valid_pair(
    service: Service, headers: dict[str, str]
) -> None:
    pre = await _pre_session(service.client)
    _assert_refused(await _login_cookie(service, {"X-CSRF-Token": pre, **headers}))


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/logout-all", "/auth/refresh"])
async def test_pre_session_token_is_refused_on_authenticated_requests(
    service: Service, path: str
) -> None:
    await service.login_cookie()
    pre = await _pre_session(service.client)  # replaces the session's CSRF cookie
    response = await service.client.post(path, headers={"X-CSRF-Token": pre, "Origin": ORIGIN})
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "csrf_failed"
    assert (await service.client.get("/me")).status_code == 200  # nothing was logged out


async def test_refused_login_writes_nothing(service: Service) -> None:
    """The CSRF check runs before the password: no session, no throttle count, no row."""
    before = await _db_rows(service)
    for _ in range(8):  # wrong passwords, more than throttle.account_failures (5)
        refused = await _login_cookie(service, {"X-CSRF-Token": "A" * 64}, "wrong-password")
        _assert_refused(refused)
    assert await _db_rows(service) == before
    # Had the password been checked first, alice would be locked out now (429).
    pre = await _pre_session(service.client)
    assert (await _login_cookie(service, {"X-CSRF-Token": pre})).status_code == 200


async def test_get_csrf_writes_nothing_to_the_database(service: Service) -> None:
    await service.login_cookie()
    before = await _db_rows(service)
    tokens = {await _pre_session(service.client) for _ in range(5)}
    assert len(tokens) == 5  # a fresh pre-session id each time
    assert await _db_rows(service) == before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # not a browser (curl): no fetch metadata to judge
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "same-site", "Origin": ORIGIN}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://evil.example"}, 403),
    ],
)
async def test_get_csrf_refuses_cross_site_callers(
    service: Service, headers: dict[str, str], status: int
) -> None:
    """A cross-site page cannot make the browser replace a session's CSRF cookie."""
    response = await service.client.get("/auth/csrf", headers=headers)
    assert response.status_code == status, response.text
    assert bool(response.headers.get_list("set-cookie")) is (status == 200)


async def test_bearer_login_needs_no_csrf_and_sets_no_cookie(service: Service) -> None:
    response = await service.client.post(
        "/auth/login", json={"username": "alice", "password": service.alice_password}
    )
    assert response.status_code == 200
    assert "access_token" in response.json()
    assert not response.headers.get_list("set-cookie")


async def test_openapi_documents_the_login_csrf_flow(service: Service) -> None:
    document: dict[str, Any] = (await service.client.get("/openapi.json")).json()
    paths = document["paths"]
    ok = paths["/auth/csrf"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/CsrfTokenResponse")
    assert "csrf_token" in document["components"]["schemas"]["CsrfTokenResponse"]["required"]
    login = paths["/auth/login-cookie"]["post"]
    params = {(p["in"], p["name"]): p["required"] for p in login["parameters"]}
    assert params == {("header", "X-CSRF-Token"): True, ("cookie", CSRF): True}
    assert "GET /auth/csrf" in login["description"]
    assert "403" in login["responses"]
