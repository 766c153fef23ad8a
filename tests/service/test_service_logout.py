"""Logout must end the session even when the access credential is stale (security review):
a refresh token in the body or the refresh cookie still revokes its family, and every
successful logout clears the cookies with their original attributes (profile K8)."""

from __future__ import annotations

import httpx
import pytest
from _service_support import ORIGIN, Service, bearer

AT, RT, CSRF = "__Host-at", "__Secure-rt", "__Host-csrf"
EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
#: past the 15-minute access lifetime plus the 30 s leeway
PAST_ACCESS_LIFETIME = 15 * 60 + 31


def _cleared(response: httpx.Response) -> dict[str, str]:
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


def _assert_cookies_cleared(response: httpx.Response) -> None:
    assert _cleared(response) == {
        AT: f"{AT}=; {EXPIRED}; Path=/; Secure; HttpOnly; SameSite=Lax",
        RT: f"{RT}=; {EXPIRED}; Path=/auth; Secure; HttpOnly; SameSite=Strict",
        CSRF: f"{CSRF}=; {EXPIRED}; Path=/; Secure; SameSite=Strict",
    }


async def _refresh_status(service: Service, refresh_token: str) -> int:
    response = await service.client.post("/auth/refresh", json={"refresh_token": refresh_token})
    return response.status_code


@pytest.mark.parametrize("stale_access", ["expired", "garbage"])
async def test_logout_with_refresh_token_ignores_a_stale_bearer(
    service: Service, stale_access: str
) -> None:
    pair = await service.login()
    access = pair["access_token"]
    if stale_access == "expired":
        service.clock.advance(PAST_ACCESS_LIFETIME)
    else:
        access = access[:-4] + "AAAA"
    response = await service.client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=bearer(access)
    )
    assert response.status_code == 204, response.text
    _assert_cookies_cleared(response)
    assert await _refresh_status(service, pair["refresh_token"]) == 400  # family ended


async def test_logout_with_only_a_stale_bearer_is_still_401(service: Service) -> None:
    pair = await service.login()
    service.clock.advance(PAST_ACCESS_LIFETIME)
    response = await service.client.post("/auth/logout", headers=bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert "set-cookie" not in response.headers
    assert await _refresh_status(service, pair["refresh_token"]) == 200  # nothing revoked


async def test_cookie_logout_with_only_the_refresh_cookie(service: Service) -> None:
    """The browser dropped the access cookie (Max-Age 900): the refresh cookie, scoped to
    ``/auth``, reaches /auth/logout and ends the session."""
    token = await service.login_cookie()
    refresh = service.client.cookies.get(RT)
    assert refresh is not None
    service.clock.advance(PAST_ACCESS_LIFETIME)
    service.client.cookies.delete(AT)
    response = await service.client.post(
        "/auth/logout", headers={"X-CSRF-Token": token, "Origin": ORIGIN}
    )
    assert response.status_code == 204, response.text
    _assert_cookies_cleared(response)
    assert await _refresh_status(service, refresh) == 400


async def test_cookie_logout_with_an_expired_access_cookie(service: Service) -> None:
    token = await service.login_cookie()
    refresh = service.client.cookies.get(RT)
    assert refresh is not None
    service.clock.advance(PAST_ACCESS_LIFETIME)  # the jar still sends the stale __Host-at
    response = await service.client.post(
        "/auth/logout", headers={"X-CSRF-Token": token, "Origin": ORIGIN}
    )
    assert response.status_code == 204, response.text
    _assert_cookies_cleared(response)
    assert await _refresh_status(service, refresh) == 400


@pytest.mark.parametrize("csrf_header", [None, "forged"])
async def test_cookie_logout_by_refresh_cookie_needs_the_csrf_header(
    service: Service, csrf_header: str | None
) -> None:
    await service.login_cookie()
    refresh = service.client.cookies.get(RT)
    assert refresh is not None
    service.client.cookies.delete(AT)
    headers = {"Origin": ORIGIN}
    if csrf_header is not None:
        headers["X-CSRF-Token"] = csrf_header
    response = await service.client.post("/auth/logout", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert "set-cookie" not in response.headers
    assert await _refresh_status(service, refresh) == 200  # the session lives on
