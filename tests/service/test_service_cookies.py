"""Cookie mode end to end: security profile sec. 5.3 tests K1-K8 (K6 over the whole route
table is in test_service_safe_methods.py, K9 in the attack tests)."""

from __future__ import annotations

import httpx
import pytest
from _service_support import BASE_URL, BOB_PASSWORD, ORIGIN, Service, bearer

AT, RT, CSRF = "__Host-at", "__Secure-rt", "__Host-csrf"


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """name -> full Set-Cookie header value."""
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


def _csrf_headers(token: str, **extra: str) -> dict[str, str]:
    return {"X-CSRF-Token": token, "Origin": ORIGIN, **extra}


async def _pre_session(client: httpx.AsyncClient) -> str:
    """GET /auth/csrf: the pre-session token (also in the client's cookie jar)."""
    response = await client.get("/auth/csrf")
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


async def test_k1_pre_session_csrf_cookie_attributes(service: Service) -> None:
    response = await service.client.get("/auth/csrf")
    assert response.status_code == 200
    token = response.json()["csrf_token"]
    assert response.json()["expires_in"] == 3600
    assert _set_cookies(response) == {
        CSRF: f"{CSRF}={token}; Max-Age=3600; Path=/; Secure; SameSite=Strict"
    }
    assert response.headers["cache-control"] == "no-store"


async def test_k1_login_cookie_attributes(service: Service) -> None:
    pre = await _pre_session(service.client)
    response = await service.client.post(
        "/auth/login-cookie",
        json={"username": "alice", "password": service.alice_password},
        headers={"Origin": ORIGIN, "X-CSRF-Token": pre},
    )
    assert response.status_code == 200
    body = response.json()
    cookies = _set_cookies(response)
    access = service.client.cookies.get(AT)
    refresh = service.client.cookies.get(RT)
    assert access is not None and access.startswith("eyJ")
    assert refresh is not None and refresh.startswith("rt_")
    assert cookies[AT] == f"{AT}={access}; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert cookies[RT] == (
        f"{RT}={refresh}; Max-Age=1209600; Path=/auth; Secure; HttpOnly; SameSite=Strict"
    )
    assert cookies[CSRF] == (
        f"{CSRF}={body['csrf_token']}; Max-Age=1209600; Path=/; Secure; SameSite=Strict"
    )
    assert all("Domain" not in value for value in cookies.values())
    assert body["expires_in"] == 900 and "access_token" not in body
    assert response.headers["cache-control"] == "no-store"


async def test_cookie_authenticates_safe_requests(service: Service) -> None:
    await service.login_cookie()
    response = await service.client.get("/me")
    assert response.status_code == 200
    assert response.json()["name"] == "alice"


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/logout-all"])
async def test_k2_unsafe_cookie_request_without_csrf_is_403(service: Service, path: str) -> None:
    await service.login_cookie()
    response = await service.client.post(path, headers={"Origin": ORIGIN})
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert (await service.client.get("/me")).status_code == 200  # nothing was logged out


def _flip(token: str) -> str:
    return ("A" if token[0] != "A" else "B") + token[1:]


@pytest.mark.parametrize("variant", ["mismatch", "other_session", "flipped", "empty"])
async def test_k3_bad_csrf_tokens_are_403(service: Service, variant: str) -> None:
    bob_client = httpx.AsyncClient(transport=httpx.ASGITransport(service.app), base_url=BASE_URL)
    async with bob_client:
        bob = await bob_client.post(
            "/auth/login-cookie",
            json={"username": "bob", "password": BOB_PASSWORD},
            headers={"Origin": ORIGIN, "X-CSRF-Token": await _pre_session(bob_client)},
        )
    other = bob.json()["csrf_token"]
    token = await service.login_cookie()
    if variant == "mismatch":
        header = _flip(token)
    elif variant == "other_session":
        # A matching pair planted from another session (cookie tossing): still refused.
        service.client.cookies.set(CSRF, other, domain="testserver")
        header = other
    elif variant == "flipped":
        header = _flip(token)
        service.client.cookies.set(CSRF, header, domain="testserver")
    else:
        header = ""
    response = await service.client.post("/auth/logout", headers=_csrf_headers(header))
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 204),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Referer": "https://evil.example/page"}, 403),
        ({"Origin": ORIGIN}, 204),
    ],
)
async def test_k4_k5_fetch_metadata_and_origin(
    service: Service, headers: dict[str, str], status: int
) -> None:
    token = await service.login_cookie()
    response = await service.client.post("/auth/logout", headers={"X-CSRF-Token": token, **headers})
    assert response.status_code == status, response.text


async def test_k7_cookie_refresh_needs_csrf(service: Service) -> None:
    token = await service.login_cookie()
    old_refresh = service.client.cookies.get(RT)
    refused = await service.client.post("/auth/refresh", headers={"Origin": ORIGIN})
    assert refused.status_code == 403
    cross = await service.client.post(
        "/auth/refresh", headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert service.client.cookies.get(RT) == old_refresh  # nothing rotated
    response = await service.client.post("/auth/refresh", headers=_csrf_headers(token))
    assert response.status_code == 200
    assert set(_set_cookies(response)) == {AT, RT, CSRF}
    new_refresh = service.client.cookies.get(RT)
    assert new_refresh != old_refresh
    assert response.json()["csrf_token"] == service.client.cookies.get(CSRF)
    assert (await service.client.get("/me")).status_code == 200


async def test_k8_logout_clears_cookies_and_old_cookie_is_rejected(service: Service) -> None:
    token = await service.login_cookie()
    access = service.client.cookies.get(AT)
    assert access is not None
    response = await service.client.post("/auth/logout", headers=_csrf_headers(token))
    assert response.status_code == 204
    cleared = _set_cookies(response)
    expired = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    assert cleared[AT] == f"{AT}=; {expired}; Path=/; Secure; HttpOnly; SameSite=Lax"
    assert cleared[RT] == f"{RT}=; {expired}; Path=/auth; Secure; HttpOnly; SameSite=Strict"
    assert cleared[CSRF] == f"{CSRF}=; {expired}; Path=/; Secure; SameSite=Strict"
    replay = await service.client.get("/me", headers={"Cookie": f"{AT}={access}"})
    assert replay.status_code == 401


async def test_authorization_header_wins_over_cookie(service: Service) -> None:
    await service.login_cookie()  # alice's cookie
    bob = await service.login("bob")
    with_header = await service.client.get("/me", headers=bearer(bob["access_token"]))
    assert with_header.json()["name"] == "bob"
    bad_header = await service.client.get("/me", headers=bearer("not-a-token"))
    assert bad_header.status_code == 401  # the valid cookie is ignored
    # Bearer requests need no CSRF token even when cookies ride along.
    logout = await service.client.post("/auth/logout-all", headers=bearer(bob["access_token"]))
    assert logout.status_code == 204


async def test_login_cookie_refuses_cross_site(service: Service) -> None:
    """Login CSRF: a cross-site page cannot log the victim into the attacker's account,
    even with a valid pre-session pair (Fetch Metadata, defence in depth)."""
    pre = await _pre_session(service.client)
    response = await service.client.post(
        "/auth/login-cookie",
        json={"username": "bob", "password": BOB_PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": pre},
    )
    assert response.status_code == 403
    assert not response.headers.get_list("set-cookie")
