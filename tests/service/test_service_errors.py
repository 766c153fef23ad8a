"""Every error of the service, including the framework's own (404, 405, malformed bodies),
is ``{"error", "error_description"}`` (docs/service.md, "HTTP API")."""

from __future__ import annotations

import pytest
from _service_support import Service


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code"),
    [
        ("GET", "/no-such-route", None, 404, "not_found"),
        ("DELETE", "/me", None, 405, "method_not_allowed"),
        (
            "POST",
            "/auth/login",
            '{"username": ' * 5_000 + '"x"' + "}" * 5_000,
            422,
            "invalid_request",
        ),  # fmt: skip
        ("POST", "/auth/login", "[" * 50_000 + "]" * 50_000, 422, "invalid_request"),
        (
            "POST",
            "/auth/login",
            '{"username": "<b>evil", "password": 1}',
            422,
            "invalid_request",
        ),  # fmt: skip
        ("POST", "/auth/refresh", '{"refresh_token": 1, "<b>evil": 2}', 422, "invalid_request"),
    ],
)
async def test_framework_errors_have_the_one_shape(
    service: Service, method: str, path: str, content: str | None, status: int, code: str
) -> None:
    response = await service.client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    # Nesting past the parser's limit is a 400 (RecursionError) or a 422 (decode error),
    # depending on the stack depth left: either way an invalid_request.
    assert response.status_code == status or {status, response.status_code} == {400, 422}
    assert response.json()["error"] == code
    assert set(response.json()) == {"error", "error_description"}
    assert "evil" not in response.text
    assert response.headers["cache-control"] == "no-store"
    if status == 405:
        assert response.headers["allow"] == "GET"


async def test_unauthenticated_401_is_unchanged(service: Service) -> None:
    response = await service.client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "the access token is missing, invalid or expired",
    }
