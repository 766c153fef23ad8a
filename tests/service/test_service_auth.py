"""``/auth/*``, ``/me`` and the policy routes through the ASGI app (issue 4 sec. 2)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from _service_support import BOB_PASSWORD, Service, bearer


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


async def test_login_returns_token_pair(service: Service) -> None:
    response = await service.client.post(
        "/auth/login", json={"username": "alice", "password": service.alice_password}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "expires_at",
        "refresh_token",
        "refresh_expires_at",
    }
    now = service.clock.now()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["expires_at"] == int(now) + 15 * 60
    assert body["refresh_expires_at"] == int(now + 14 * 86400)
    assert body["refresh_token"].startswith("rt_")
    claims = _claims(body["access_token"])
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == "tokenward"
    assert claims["roles"] == ["Admin"]
    assert claims["tenant"] == "contoso"


async def test_login_ignores_extra_fields_for_claims(service: Service) -> None:
    """E13: request input never becomes a claim."""
    response = await service.client.post(
        "/auth/login",
        json={
            "username": "bob",
            "password": BOB_PASSWORD,
            "roles": ["Admin"],
            "admin": True,
            "aud": "x",
            "sub": "alice",
        },
    )
    assert response.status_code == 200
    claims = _claims(response.json()["access_token"])
    assert claims["roles"] == ["User"]
    assert "admin" not in claims and claims["aud"] == "tokenward"


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password"), ("nobody", "whatever-password"), ("ALICE ", "x")],
)
async def test_login_failure_is_generic_401(service: Service, username: str, password: str) -> None:
    response = await service.client.post(
        "/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_credentials",
        "error_description": "invalid username or password",
    }
    assert response.headers["www-authenticate"] == "Bearer"


async def test_login_throttled_with_retry_after(start_service: Callable[..., Any]) -> None:
    service: Service = await start_service({"throttle": {"account_failures": 2}})
    for _ in range(2):
        failed = await service.client.post(
            "/auth/login", json={"username": "bob", "password": "wrong-password"}
        )
        assert failed.status_code == 401
    response = await service.client.post(
        "/auth/login", json={"username": "bob", "password": BOB_PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert int(response.headers["retry-after"]) >= 1
    metrics = service.app.state.metrics
    assert metrics.value("logins_total", {"outcome": "throttled"}) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice"},
        {"password": "x"},
        {"username": 5, "password": "x"},
        {"username": "alice", "password": "p" * 2000},
        ["alice", "pw"],
        "not json",
    ],
)
async def test_login_malformed_body_is_422(service: Service, body: Any) -> None:
    if isinstance(body, str):
        response = await service.client.post(
            "/auth/login", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = await service.client.post("/auth/login", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_me_returns_identity(service: Service) -> None:
    pair = await service.login()
    response = await service.client.get("/me", headers=bearer(pair["access_token"]))
    assert response.status_code == 200
    body = response.json()
    claims = _claims(pair["access_token"])
    assert body == {
        "subject": claims["sub"],
        "name": "alice",
        "roles": ["Admin"],
        "session_id": claims["sid"],
        "claims": {"tenant": "contoso"},
    }


@pytest.mark.parametrize("path", ["/me", "/secret", "/admin/metrics", "/tenant/info"])
async def test_protected_routes_need_a_token(service: Service, path: str) -> None:
    response = await service.client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "invalid_token"


async def test_admin_and_tenant_policies(service: Service) -> None:
    alice = await service.login("alice")
    bob = await service.login("bob")
    ok = await service.client.get("/admin/metrics", headers=bearer(alice["access_token"]))
    assert ok.status_code == 200 and ok.json()["users"] == 2
    denied = await service.client.get("/admin/metrics", headers=bearer(bob["access_token"]))
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"
    assert denied.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    tenant = await service.client.get("/tenant/info", headers=bearer(alice["access_token"]))
    assert tenant.status_code == 200 and tenant.json()["tenant"] == "contoso"
    no_tenant = await service.client.get("/tenant/info", headers=bearer(bob["access_token"]))
    assert no_tenant.status_code == 403
    secret = await service.client.get("/secret", headers=bearer(bob["access_token"]))
    assert secret.status_code == 200


async def test_token_in_query_string_is_refused(service: Service) -> None:
    pair = await service.login()
    response = await service.client.get(
        "/me", params={"access_token": pair["access_token"]}, headers=bearer(pair["access_token"])
    )
    assert response.status_code == 401


async def test_expired_access_token_rejected(service: Service) -> None:
    pair = await service.login()
    service.clock.advance(15 * 60 + 31)  # lifetime + leeway
    response = await service.client.get("/me", headers=bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_refresh_rotates_and_reuse_revokes_family(service: Service) -> None:
    """R1: refresh(R1) -> R2; refresh(R1) again -> invalid_grant, R2 and its access token die."""
    first = await service.login("bob")
    second = (
        await service.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await service.client.get("/me", headers=bearer(second["access_token"]))
    assert me.status_code == 200
    reuse = await service.client.post(
        "/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    after = await service.client.get("/me", headers=bearer(second["access_token"]))
    assert after.status_code == 401
    dead = await service.client.post(
        "/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert dead.status_code == 400


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "rt_nope"}])
async def test_refresh_invalid_input(service: Service, body: dict[str, str]) -> None:
    response = await service.client.post("/auth/refresh", json=body)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "invalid_grant"}


async def test_access_token_at_refresh_endpoint_rejected(service: Service) -> None:
    """E10: an access token is not a refresh token."""
    pair = await service.login()
    response = await service.client.post(
        "/auth/refresh", json={"refresh_token": pair["access_token"][:200]}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_oauth_token_endpoint_password_and_refresh(service: Service) -> None:
    response = await service.client.post(
        "/auth/token",
        data={"grant_type": "password", "username": "bob", "password": BOB_PASSWORD},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    pair = response.json()
    assert pair["token_type"] == "Bearer"
    refreshed = await service.client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != pair["refresh_token"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "bob", "password": "bad"}, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "rt_x"}, "invalid_grant"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"username": "bob", "password": BOB_PASSWORD}, "invalid_request"),
        ({"grant_type": "password", "username": "bob"}, "invalid_request"),
    ],
)
async def test_oauth_token_endpoint_errors(
    service: Service, data: dict[str, str], error: str
) -> None:
    """RFC 6749 sec. 5.2 error bodies, status 400."""
    response = await service.client.post("/auth/token", data=data)
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_oauth_token_endpoint_requires_form(service: Service) -> None:
    response = await service.client.post("/auth/token", json={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_logout_revokes_session(service: Service) -> None:
    """R8: family revoked, refresh fails, the access token is refused at once."""
    pair = await service.login("bob")
    response = await service.client.post(
        "/auth/logout",
        json={"refresh_token": pair["refresh_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert response.status_code == 204
    me = await service.client.get("/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 401
    refresh = await service.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 400


async def test_logout_without_credentials_is_401(service: Service) -> None:
    response = await service.client.post("/auth/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_all_ends_every_session(service: Service) -> None:
    first = await service.login("bob")
    second = await service.login("bob")
    alice = await service.login("alice")
    service.clock.advance(1)  # the cut-off is "issued before now"
    response = await service.client.post("/auth/logout-all", headers=bearer(first["access_token"]))
    assert response.status_code == 204
    for pair in (first, second):
        me = await service.client.get("/me", headers=bearer(pair["access_token"]))
        assert me.status_code == 401
        refresh = await service.client.post(
            "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refresh.status_code == 400
    other = await service.client.get("/me", headers=bearer(alice["access_token"]))
    assert other.status_code == 200


async def test_refresh_guessing_is_throttled(start_service: Callable[..., Any]) -> None:
    """R11: the token endpoint is a login too; guessed refresh tokens end in 429."""
    service: Service = await start_service({"throttle": {"refresh_failures": 2}})
    guess = {"refresh_token": "rt_" + "A" * 22 + "." + "B" * 43}
    for _ in range(2):
        assert (await service.client.post("/auth/refresh", json=guess)).status_code == 400
    response = await service.client.post("/auth/refresh", json=guess)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    form = await service.client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": guess["refresh_token"]}
    )
    assert form.status_code == 429
