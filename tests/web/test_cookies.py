"""Cookie transport and CSRF through a real app: security profile K1-K5, K8, K9 mechanics."""

from __future__ import annotations

import httpx
import pytest
from _web_support import ORIGIN, Denylist
from fastapi import FastAPI, Request, Response
from starlette.responses import JSONResponse

from tokenward.tokens import TokenIssuer
from tokenward.web import Authenticator, CookieTransport, CsrfProtector

UNSAFE = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.fixture
def session(issuer: TokenIssuer, csrf: CsrfProtector) -> dict[str, str]:
    issued = issuer.issue("alice", roles=["Admin"], session_id="sid-1")
    return {"token": issued.token, "jti": issued.jti, "csrf": csrf.issue("sid-1")}


def cookie_headers(
    session: dict[str, str], *, csrf_header: str | None = "same", **extra: str
) -> dict[str, str]:
    headers = {"Cookie": f"__Host-at={session['token']}; __Host-csrf={session['csrf']}"}
    if csrf_header == "same":
        headers["X-CSRF-Token"] = session["csrf"]
    elif csrf_header is not None:
        headers["X-CSRF-Token"] = csrf_header
    headers.update(extra)
    return headers


def login_response(transport: CookieTransport, session: dict[str, str]) -> Response:
    response = JSONResponse({})
    transport.set_login_cookies(
        response,
        access_token=session["token"],
        access_max_age=900,
        refresh_token="rt_abc-DEF_123",
        refresh_max_age=1209600,
        csrf_token=session["csrf"],
    )
    return response


def test_k1_login_cookies_have_exact_attributes(
    cookie_transport: CookieTransport, session: dict[str, str]
) -> None:
    cookies = login_response(cookie_transport, session).headers.getlist("set-cookie")
    assert cookies == [
        f"__Host-at={session['token']}; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax",
        "__Secure-rt=rt_abc-DEF_123; Max-Age=1209600; Path=/auth; Secure; HttpOnly; "
        "SameSite=Strict",
        f"__Host-csrf={session['csrf']}; Max-Age=1209600; Path=/; Secure; SameSite=Strict",
    ]
    assert not any("domain" in c.lower() for c in cookies)


def test_k8_clear_cookies_match_the_set_attributes(cookie_transport: CookieTransport) -> None:
    response = JSONResponse({})
    cookie_transport.clear_cookies(response)
    expired = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    assert response.headers.getlist("set-cookie") == [
        f"__Host-at=; {expired}; Path=/; Secure; HttpOnly; SameSite=Lax",
        f"__Secure-rt=; {expired}; Path=/auth; Secure; HttpOnly; SameSite=Strict",
        f"__Host-csrf=; {expired}; Path=/; Secure; SameSite=Strict",
    ]


def test_cookie_values_that_could_inject_attributes_are_refused(
    cookie_transport: CookieTransport,
) -> None:
    with pytest.raises(ValueError):
        cookie_transport.set_login_cookies(
            JSONResponse({}),
            access_token="x; Domain=evil.example",
            access_max_age=1,
            refresh_token=None,
            refresh_max_age=1,
            csrf_token=None,
        )


@pytest.mark.parametrize("path", ["/me", "/fast/me"])
async def test_cookie_authenticates_safe_requests_without_csrf(
    client: httpx.AsyncClient, session: dict[str, str], path: str
) -> None:
    headers = {"Cookie": f"__Host-at={session['token']}"}
    response = await client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.json()["sub"] == "alice"


@pytest.mark.parametrize("method", UNSAFE)
async def test_unsafe_cookie_request_with_valid_csrf_passes(
    client: httpx.AsyncClient, session: dict[str, str], method: str
) -> None:
    response = await client.request(method, "/items", headers=cookie_headers(session))
    assert response.status_code == 200
    assert response.json() == {"created_by": "alice"}


@pytest.mark.parametrize(
    ("method", "path"), [(m, "/items") for m in UNSAFE] + [("POST", "/fast/items")]
)
async def test_k2_unsafe_cookie_request_without_csrf_header_is_403(
    client: httpx.AsyncClient, session: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, headers=cookie_headers(session, csrf_header=None))
    assert response.status_code == 403
    assert response.json() == {"error": "csrf_failed", "error_description": "CSRF check failed"}
    assert "www-authenticate" not in response.headers


def _flip(token: str) -> str:
    return ("B" if token[0] == "A" else "A") + token[1:]


@pytest.mark.parametrize("path", ["/items", "/fast/items"])
@pytest.mark.parametrize("case", ["mismatch", "other_session", "flipped_hmac", "empty", "junk"])
async def test_k3_bad_csrf_tokens_are_403(
    client: httpx.AsyncClient,
    session: dict[str, str],
    csrf: CsrfProtector,
    case: str,
    path: str,
) -> None:
    other = csrf.issue("sid-2")
    if case == "mismatch":  # header is a valid token for the session, cookie differs
        headers = cookie_headers(session, csrf_header=csrf.issue("sid-1"))
    elif case == "other_session":  # a consistent pair, but minted for another session
        headers = cookie_headers({**session, "csrf": other})
    elif case == "flipped_hmac":
        headers = cookie_headers({**session, "csrf": _flip(session["csrf"])})
    elif case == "empty":
        headers = cookie_headers({**session, "csrf": ""})
    else:
        headers = cookie_headers({**session, "csrf": "x" * 64})
    response = await client.post(path, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"


@pytest.mark.parametrize(
    ("site", "status"),
    [("cross-site", 403), ("same-origin", 200), ("none", 200), ("bogus", 403)],
)
async def test_k4_fetch_metadata(
    client: httpx.AsyncClient, session: dict[str, str], site: str, status: int
) -> None:
    headers = cookie_headers(session, **{"Sec-Fetch-Site": site, "Origin": ORIGIN})
    assert (await client.post("/items", headers=headers)).status_code == status


@pytest.mark.parametrize(
    ("origin", "status"),
    [("https://evil.example", 403), (ORIGIN, 200), ("null", 403), ("http://app.example", 403)],
)
async def test_k5_origin_checked_without_fetch_metadata(
    client: httpx.AsyncClient, session: dict[str, str], origin: str, status: int
) -> None:
    headers = cookie_headers(session, Origin=origin)
    assert (await client.post("/fast/items", headers=headers)).status_code == status


@pytest.mark.parametrize(
    ("referer", "status"),
    [("https://evil.example/page", 403), (f"{ORIGIN}/page?x=1", 200), ("not a url", 403)],
)
async def test_k5_referer_is_the_fallback(
    client: httpx.AsyncClient, session: dict[str, str], referer: str, status: int
) -> None:
    headers = cookie_headers(session, Referer=referer)
    assert (await client.post("/items", headers=headers)).status_code == status


async def test_same_site_request_must_come_from_an_allowed_origin(
    client: httpx.AsyncClient, session: dict[str, str]
) -> None:
    sibling = cookie_headers(
        session, **{"Sec-Fetch-Site": "same-site", "Origin": "https://blog.example"}
    )
    allowed = cookie_headers(session, **{"Sec-Fetch-Site": "same-site", "Origin": ORIGIN})
    assert (await client.post("/items", headers=sibling)).status_code == 403
    assert (await client.post("/items", headers=allowed)).status_code == 200


async def test_csrf_failure_is_a_logged_security_event(
    client: httpx.AsyncClient, session: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="tokenward.web"):
        await client.post("/items", headers=cookie_headers(session, csrf_header=None))
    assert [r.getMessage() for r in caplog.records] == ["csrf_failed"]
    assert caplog.records[0].jti == session["jti"]  # type: ignore[attr-defined]


async def test_header_wins_over_cookie(
    client: httpx.AsyncClient, issuer: TokenIssuer, session: dict[str, str]
) -> None:
    bob = issuer.issue("bob").token
    headers = {"Authorization": f"Bearer {bob}", "Cookie": f"__Host-at={session['token']}"}
    assert (await client.get("/me", headers=headers)).json()["sub"] == "bob"
    # The cookie is ignored entirely: a garbage cookie does not matter, and no CSRF needed.
    headers["Cookie"] = "__Host-at=garbage"
    assert (await client.post("/fast/items", headers=headers)).json() == {"created_by": "bob"}
    # ...and a bad header is not rescued by a good cookie.
    headers = {"Authorization": "Bearer garbage", "Cookie": f"__Host-at={session['token']}"}
    assert (await client.get("/fast/me", headers=headers)).status_code == 401


async def test_duplicate_access_cookie_is_refused(
    client: httpx.AsyncClient, session: dict[str, str]
) -> None:
    token = session["token"]
    headers = {"Cookie": f"__Host-at={token}; __Host-at={token}"}
    assert (await client.get("/fast/me", headers=headers)).status_code == 401


async def test_k8_revoked_session_cookie_replayed_is_401(
    client: httpx.AsyncClient, session: dict[str, str], denylist: Denylist
) -> None:
    headers = {"Cookie": f"__Host-at={session['token']}"}
    assert (await client.get("/me", headers=headers)).status_code == 200
    denylist.jtis.add(session["jti"])  # what logout does to the access token
    assert (await client.get("/me", headers=headers)).status_code == 401


async def test_check_csrf_for_refresh_endpoints(auth: Authenticator, csrf: CsrfProtector) -> None:
    """The refresh/logout endpoints (no access token) check CSRF against the refresh
    session id via ``Authenticator.check_csrf`` (profile K7)."""
    from asgi_lifespan import LifespanManager

    from tokenward.errors import CSRFError

    app = FastAPI()
    auth.install(app)

    @app.post("/auth/refresh")
    async def refresh(request: Request) -> dict[str, str]:
        auth.check_csrf(request, "sid-9")
        return {"ok": "rotated"}

    token = csrf.issue("sid-9")
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://x") as c:
            good = {"Cookie": f"__Host-csrf={token}", "X-CSRF-Token": token, "Origin": ORIGIN}
            assert (await c.post("/auth/refresh", headers=good)).status_code == 200
            missing = {"Cookie": f"__Host-csrf={token}", "Origin": ORIGIN}
            response = await c.post("/auth/refresh", headers=missing)
            assert response.status_code == 403
            assert response.json()["error"] == CSRFError.code
