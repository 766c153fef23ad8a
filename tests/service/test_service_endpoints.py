"""Discovery, JWKS, RFC 7009 / 7662, health, metrics, OpenAPI and dev mode."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from _service_support import BOB_PASSWORD, Service, bearer

from tokenward.keys import Key

PUBLIC_RSA_MEMBERS = {"kty", "kid", "use", "alg", "n", "e"}


async def test_jwks_public_keys_only_and_cacheable(service: Service) -> None:
    response = await service.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids)) == 2  # active + pre-published next
    for jwk in keys:
        assert set(jwk) <= PUBLIC_RSA_MEMBERS, jwk  # B9: never d, p, q, ... or oct keys
        assert jwk["alg"] == "RS256"
    pair = await service.login()
    header_kid = service.runtime.keys.active_key.kid
    assert header_kid in kids
    published = Key.from_jwk(next(k for k in keys if k["kid"] == header_kid))
    head, payload, signature = pair["access_token"].split(".")
    import base64

    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert published.verify(f"{head}.{payload}".encode(), raw)


async def test_key_rotation_is_picked_up(service: Service) -> None:
    """`tokenward keys rotate` in another process: the next poll signs with the new key, and
    tokens signed by the old one keep validating."""
    from tokenward.keyring import FileKeyStore, KeyManager

    old = await service.login()
    old_kid = service.runtime.keys.active_key.kid
    other = KeyManager(
        FileKeyStore(service.runtime.settings.key_dir),
        clock=service.clock,
        retire_after=930,
    )
    await other.load()
    new_active, _ = await other.rotate()
    assert await service.runtime.keys.poll()
    assert service.runtime.keys.active_key.kid == new_active.kid != old_kid
    fresh = await service.login()
    assert (
        await service.client.get("/me", headers=bearer(fresh["access_token"]))
    ).status_code == 200
    assert (await service.client.get("/me", headers=bearer(old["access_token"]))).status_code == 200
    kids = {k["kid"] for k in (await service.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_active.kid} <= kids


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
async def test_server_metadata(service: Service, path: str) -> None:
    response = await service.client.get(path)
    assert response.status_code == 200
    meta = response.json()
    issuer = "http://127.0.0.1:8000"
    assert meta["issuer"] == issuer
    assert meta["token_endpoint"] == f"{issuer}/auth/token"
    assert meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert meta["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert meta["grant_types_supported"] == ["password", "refresh_token"]
    assert "response_types_supported" in meta
    # RFC 8414 sec. 2: only "none" client authentication exists, so no signing algorithms
    # for private_key_jwt / client_secret_jwt are advertised.
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert "token_endpoint_auth_signing_alg_values_supported" not in meta
    other = "/.well-known/openid-configuration" if "oauth" in path else path
    assert (await service.client.get(other)).json() == meta


async def test_revoke_refresh_token(service: Service) -> None:
    pair = await service.login("bob")
    response = await service.client.post("/oauth/revoke", data={"token": pair["refresh_token"]})
    assert response.status_code == 200
    refresh = await service.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 400
    # RFC 7009 sec. 2.1: the grant's access tokens go too (same session).
    assert (
        await service.client.get("/me", headers=bearer(pair["access_token"]))
    ).status_code == 401


async def test_revoke_access_token(service: Service) -> None:
    pair = await service.login("bob")
    response = await service.client.post(
        "/oauth/revoke", data={"token": pair["access_token"], "token_type_hint": "access_token"}
    )
    assert response.status_code == 200
    assert (
        await service.client.get("/me", headers=bearer(pair["access_token"]))
    ).status_code == 401


@pytest.mark.parametrize("token", ["garbage", "rt_" + "x" * 66, "eyJ.e30.x", "t" * 9000])
async def test_revoke_always_200(service: Service, token: str) -> None:
    response = await service.client.post("/oauth/revoke", data={"token": token})
    assert response.status_code == 200


@pytest.mark.parametrize("data", [{}, {"token_type_hint": "access_token"}])
async def test_revoke_without_token_parameter_is_400(service: Service, data: Any) -> None:
    response = await service.client.post(
        "/oauth/revoke", data=data, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.fixture
async def introspector(service: Service) -> dict[str, str]:
    await service.runtime.auth.create_user("gateway", "gateway-pass-1234", roles=("Introspector",))
    return bearer((await service.login("gateway", "gateway-pass-1234"))["access_token"])


async def test_introspection_active_and_inactive(
    service: Service, introspector: dict[str, str]
) -> None:
    pair = await service.login("bob")
    active = await service.client.post(
        "/oauth/introspect", data={"token": pair["access_token"]}, headers=introspector
    )
    assert active.status_code == 200
    body = active.json()
    assert body["active"] is True and body["token_type"] == "access_token"
    assert body["username"] == "bob" and body["roles"] == ["User"]
    assert body["exp"] == pair["expires_at"]
    refresh = await service.client.post(
        "/oauth/introspect", data={"token": pair["refresh_token"]}, headers=introspector
    )
    assert refresh.json()["active"] is True
    assert refresh.json()["token_type"] == "refresh_token"
    for token in ("garbage", pair["access_token"][:-3] + "AAA", "rt_unknown"):
        inactive = await service.client.post(
            "/oauth/introspect", data={"token": token}, headers=introspector
        )
        assert inactive.json() == {"active": False}
    await service.client.post("/auth/logout", headers=bearer(pair["access_token"]))
    for token in (pair["access_token"], pair["refresh_token"]):
        after = await service.client.post(
            "/oauth/introspect", data={"token": token}, headers=introspector
        )
        assert after.json() == {"active": False}


async def test_introspection_needs_the_role(service: Service) -> None:
    bob = await service.login("bob")
    anonymous = await service.client.post("/oauth/introspect", data={"token": "x"})
    assert anonymous.status_code == 401
    denied = await service.client.post(
        "/oauth/introspect",
        data={"token": bob["access_token"]},
        headers=bearer(bob["access_token"]),
    )
    assert denied.status_code == 403
    assert denied.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


async def test_health_and_readiness(service: Service) -> None:
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    ready = await service.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": True}}
    for path in ("/healthz", "/readyz"):  # load balancers often probe with HEAD
        assert (await service.client.head(path)).status_code == 200


async def test_readiness_fails_without_database(service: Service, tmp_path: Any) -> None:
    import dataclasses

    from tokenward.storage.sql import create_engine

    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    runtime = service.runtime
    service.app.state.runtime = dataclasses.replace(runtime, engine=broken)
    try:
        response = await service.client.get("/readyz")
    finally:
        service.app.state.runtime = runtime
        await broken.dispose()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": False}


async def test_metrics_move_and_requests_are_labelled(service: Service) -> None:
    await service.login()
    await service.client.post("/auth/login", json={"username": "bob", "password": "wrong-pass"})
    await service.client.get("/me", headers=bearer("garbage"))
    response = await service.client.get("/metrics", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'logins_total{outcome="ok"} 1.0' in text
    assert 'logins_total{outcome="failed"} 1.0' in text
    assert "tokens_issued_total 1.0" in text
    assert 'token_validations_total{result="malformed"} 1.0' in text
    assert (
        'http_request_duration_seconds_count{method="POST",route="/auth/login",status="200"}'
        in text
    )
    assert service.alice_password not in text


async def test_request_id_generated_when_absent_or_unsafe(service: Service) -> None:
    plain = await service.client.get("/healthz")
    assert len(plain.headers["x-request-id"]) == 32
    for value in (b"a\xc3\xa9b", b"x" * 65, b"id\twith\ttabs"):
        hostile = await service.client.get("/healthz", headers={"X-Request-ID": value})
        assert hostile.headers["x-request-id"].encode() != value
        assert len(hostile.headers["x-request-id"]) == 32


async def test_openapi_valid_and_protected_routes_marked(service: Service) -> None:
    from openapi_spec_validator import validate

    response = await service.client.get("/openapi.json")
    spec = response.json()
    validate(spec)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2Password"]["flows"]["password"]["tokenUrl"] == "/auth/token"
    paths = spec["paths"]
    protected = [
        ("/me", "get"),
        ("/secret", "get"),
        ("/admin/metrics", "get"),
        ("/tenant/info", "get"),
        ("/auth/logout-all", "post"),
        ("/oauth/introspect", "post"),
    ]
    for path, method in protected:
        security = paths[path][method].get("security")
        assert security and {"OAuth2Password": []} in security, path
        assert {"BearerJWT": []} in security, path
    public = [("/auth/login", "post"), ("/auth/token", "post"), ("/healthz", "get")]
    for path, method in public:
        assert not paths[path][method].get("security"), path
    token_body = paths["/auth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token_body
    docs = await service.client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


async def test_dev_mode_announces_password_once(
    start_service: Callable[..., Any], make_settings: Callable[..., Any], clock: Any
) -> None:
    """First start creates alice and shows her password once; a restart shows nothing."""
    from asgi_lifespan import LifespanManager

    from tokenward.service import create_app
    from tokenward.sessions.passwords import PasswordHasher

    first: Service = await start_service()
    assert first.alice_password
    user = await first.runtime.store.get_user_by_username("alice")
    assert user is not None and user.roles == ("Admin",) and user.claims == {"tenant": "contoso"}
    assert user.password_hash.startswith("$argon2id$")
    assert first.alice_password not in user.password_hash
    data_dir = first.runtime.settings.service.data_dir
    assert (data_dir / "tokenward.db").is_file() and (data_dir / "csrf-secret").is_file()
    assert any((data_dir / "keys").iterdir())
    announced: list[str] = []
    again = create_app(make_settings(), clock=clock, hasher=PasswordHasher.for_testing(),
                       announce=announced.append)  # fmt: skip
    async with LifespanManager(again):
        pass
    assert announced == []
    await first.login("alice")


@pytest.mark.services
async def test_scale_out_postgres_and_redis(
    start_service: Callable[..., Any], pg_url: str, redis_url: str, unique_prefix: str
) -> None:
    """Two instances on one PostgreSQL schema and one Redis: a logout on one is seen by the
    other at once, and both publish the same keys."""
    from tokenward.storage.sql import create_schema, drop_schema, upgrade_database

    await create_schema(pg_url, unique_prefix)
    try:
        await upgrade_database(pg_url, schema=unique_prefix)
        overrides = {
            "database": {"url": pg_url, "pg_schema": unique_prefix},
            "redis": {"url": redis_url, "key_prefix": f"{unique_prefix}:"},
        }
        one: Service = await start_service(overrides)
        two: Service = await start_service(overrides)
        ready = await one.client.get("/readyz")
        assert ready.json()["checks"] == {"database": True, "redis": True}
        pair = await two.login("bob", BOB_PASSWORD)
        assert (
            await one.client.get("/me", headers=bearer(pair["access_token"]))
        ).status_code == 200
        await one.client.post("/auth/logout", headers=bearer(pair["access_token"]))
        assert (
            await two.client.get("/me", headers=bearer(pair["access_token"]))
        ).status_code == 401
        jwks_one = (await one.client.get("/.well-known/jwks.json")).json()
        assert jwks_one == (await two.client.get("/.well-known/jwks.json")).json()
    finally:
        await drop_schema(pg_url, unique_prefix)


class _Collect(logging.Handler):
    """Formats at emit time, like a real handler (the request context is live then)."""

    def __init__(self) -> None:
        from tokenward.observability import JsonLogFormatter

        super().__init__(logging.DEBUG)
        self.setFormatter(JsonLogFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_logs_carry_request_id_and_no_secrets(service: Service) -> None:
    """Issue 5 sec. 3: JSON log lines with request id and reason code; never a token, refresh
    secret or password (grep the captured lines for every issued string)."""
    collect = _Collect()
    root = logging.getLogger("tokenward")
    previous = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        pair = await service.login("bob", BOB_PASSWORD)
        csrf = await service.login_cookie()
        await service.client.post("/auth/login", json={"username": "alice", "password": "nope-1"})
        await service.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        await service.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        await service.client.get(
            "/me", headers={**bearer(pair["access_token"]), "X-Request-ID": "trace-7"}
        )
        await service.client.post("/auth/logout-all", headers={"Origin": "https://evil.example"})
    finally:
        root.removeHandler(collect)
        root.setLevel(previous)
    lines = collect.lines
    text = "\n".join(lines)
    secrets = [pair["access_token"], pair["refresh_token"], BOB_PASSWORD, csrf]
    secrets += [service.alice_password, pair["refresh_token"].split(".")[1]]
    for secret in secrets:
        assert secret not in text
    events = [json.loads(line) for line in lines]
    refused = [e for e in events if e.get("request_id") == "trace-7"]
    assert refused and refused[0]["code"] == "revoked"
    names = {e["event"] for e in events}
    assert {"refresh_token_reuse_detected", "login_failed", "csrf_failed"} <= names


async def test_cors_for_allowed_origins(start_service: Callable[..., Any]) -> None:
    service: Service = await start_service({"http": {"allowed_origins": ["https://app.example"]}})
    preflight = await service.client.options(
        "/auth/login",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-csrf-token",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    other = await service.client.options(
        "/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


async def test_swagger_authorize_request_shape(service: Service) -> None:
    """What Swagger UI's OAuth2 password flow sends (empty scope, optional client fields)."""
    response = await service.client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": "bob",
            "password": BOB_PASSWORD,
            "scope": "",
            "client_id": "",
        },
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert (await service.client.get("/me", headers=bearer(token))).status_code == 200


async def test_hmac_algorithm_from_secret(start_service: Callable[..., Any]) -> None:
    """HS256 with a configured secret: tokens validate, the secret is never published."""
    service: Service = await start_service(
        {"token": {"algorithm": "HS256", "hmac_secret": "k" * 32}}
    )
    pair = await service.login("bob", BOB_PASSWORD)
    assert (
        await service.client.get("/me", headers=bearer(pair["access_token"]))
    ).status_code == 200
    jwks = await service.client.get("/.well-known/jwks.json")
    assert jwks.json() == {"keys": []}


async def test_uvicorn_factory_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``uvicorn --factory tokenward.service.app:create_app_from_env``."""
    import httpx
    from asgi_lifespan import LifespanManager

    from tokenward.service import create_app_from_env

    monkeypatch.setenv("TOKENWARD__SERVICE__DEV", "true")
    monkeypatch.setenv("TOKENWARD__SERVICE__DATA_DIR", str(tmp_path / "factory"))
    logger = logging.getLogger("tokenward")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    try:
        app = create_app_from_env()
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="https://t") as client:
                meta = (await client.get("/.well-known/openid-configuration")).json()
        assert meta["issuer"] == "http://127.0.0.1:8000"
        assert app.state.settings.service.dev is True
    finally:
        logger.handlers[:] = saved[0]
        logger.propagate, logger.level = saved[1], saved[2]


async def test_readiness_reports_unreachable_redis(start_service: Callable[..., Any]) -> None:
    """With Redis configured but down, the instance starts (revocation checks fall back to
    SQL) and /readyz says 503 so a load balancer keeps traffic away."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # closed again before Redis would be dialled
    service: Service = await start_service({"redis": {"url": f"redis://127.0.0.1:{dead_port}/0"}})
    response = await service.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "redis": False}
