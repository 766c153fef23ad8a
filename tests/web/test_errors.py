"""The one error map: status, body and headers for every error code."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tokenward import errors
from tokenward.web import TokenwardHTTPException, error_response, install_error_handlers
from tokenward.web.errors import INVALID_TOKEN_DESCRIPTION

GENERIC = {"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.InvalidCredentials(), 401, "invalid_credentials"),
        (errors.Throttled(retry_after=7), 429, "throttled"),
        (errors.InvalidGrant(), 400, "invalid_grant"),
        (errors.InvalidRequest(), 400, "invalid_request"),
        (errors.AccessDenied(), 403, "insufficient_scope"),
        (errors.CSRFError("origin not allowed"), 403, "csrf_failed"),
        (errors.UserExists(), 409, "user_exists"),
        (errors.UserNotFound(), 404, "user_not_found"),
        (errors.StorageUnavailable(), 503, "storage_unavailable"),
        (errors.KeySetUnavailable(), 503, "jwks_unavailable"),
        (errors.AuthError(), 400, "auth_error"),
        (errors.ConfigurationError("db url secret=abc"), 500, "server_error"),
        (errors.InvalidKey(), 500, "server_error"),
    ],
)
def test_status_and_code(error: errors.TokenwardError, status: int, code: str) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert response.body.startswith(f'{{"error":"{code}"'.encode())
    assert b"secret=abc" not in response.body  # server faults never leak their message
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "error",
    [
        errors.ExpiredToken(),
        errors.BadSignature(),
        errors.RevokedToken(),
        errors.InvalidAudience(claim="aud"),
        errors.UnknownKey(kid="x"),
        errors.MalformedToken("detail that must not leak"),
        errors.InvalidToken(),
    ],
)
def test_every_invalid_token_is_the_generic_401(error: errors.InvalidToken) -> None:
    response = error_response(error)
    assert response.status_code == 401
    assert response.body == error_response(errors.InvalidToken()).body
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_challenges_and_retry_after() -> None:
    assert error_response(errors.Throttled(retry_after=7)).headers["retry-after"] == "7"
    assert error_response(errors.StorageUnavailable()).headers["retry-after"] == "5"
    denied = error_response(errors.AccessDenied(), realm="api")
    assert denied.headers["www-authenticate"] == 'Bearer realm="api", error="insufficient_scope"'
    assert error_response(errors.InvalidCredentials()).headers["www-authenticate"] == "Bearer"
    assert "www-authenticate" not in error_response(errors.CSRFError()).headers


async def _call(app: FastAPI, path: str) -> httpx.Response:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)


async def test_install_error_handlers_maps_errors_raised_by_routes() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/login")
    async def login() -> None:
        raise errors.Throttled(retry_after=3)

    @app.get("/token")
    async def token() -> None:
        raise errors.ExpiredToken()

    throttled = await _call(app, "/login")
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "3")
    assert throttled.json() == {"error": "throttled", "error_description": "too many attempts"}
    expired = await _call(app, "/token")
    assert (expired.status_code, expired.json()) == (401, GENERIC)


async def test_dependency_errors_are_never_500_even_without_handlers() -> None:
    app = FastAPI()  # no install_error_handlers

    @app.get("/x")
    async def route() -> None:
        error = errors.BadSignature()
        raise TokenwardHTTPException(error, error_response(error))

    response = await _call(app, "/x")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def _framework_app() -> FastAPI:
    from pydantic import BaseModel, ConfigDict
    from starlette.exceptions import HTTPException

    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/item")
    async def item() -> dict[str, str]:
        return {}

    @app.post("/body")
    async def body(payload: Body) -> dict[str, str]:
        return {"name": payload.name}

    @app.post("/parse-error")
    async def parse_error() -> None:
        raise HTTPException(400, detail="There was an error parsing the body: <script>evil")

    return app


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code"),
    [
        ("GET", "/missing", None, 404, "not_found"),
        ("DELETE", "/item", None, 405, "method_not_allowed"),
        # FastAPI's "There was an error parsing the body" (its detail is never echoed)
        ("POST", "/parse-error", None, 400, "invalid_request"),
        ("POST", "/body", b"\xff\xfe<script>evil", 422, "invalid_request"),
        # nested past the parser's recursion limit
        ("POST", "/body", "[" * 100_000 + "]" * 100_000, 422, "invalid_request"),
        ("POST", "/body", '{"a": ' * 5_000 + "1" + "}" * 5_000, 422, "invalid_request"),
        ("POST", "/body", '{"name": "x", "<script>evil": 1}', 422, "invalid_request"),
        ("POST", "/body", '{"name": ["<script>evil"]}', 422, "invalid_request"),
        ("POST", "/body", "<script>evil", 422, "invalid_request"),
    ],
)
async def test_framework_errors_use_the_one_error_shape(
    method: str, path: str, content: str | bytes | None, status: int, code: str
) -> None:
    async with LifespanManager(_framework_app()) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"content-type": "application/json"}
            response = await client.request(method, path, content=content, headers=headers)
    # Nesting past the parser's limit is a 400 (RecursionError) or a 422 (decode error),
    # depending on the stack depth left: either way an invalid_request.
    assert response.status_code == status or {status, response.status_code} == {400, 422}
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == code
    assert "evil" not in response.text  # the input is never echoed
    assert response.headers["cache-control"] == "no-store"
    if status == 405:
        assert response.headers["allow"] == "GET"  # RFC 9110 sec. 15.5.6
