"""OpenAPI: a valid document whose protected routes carry the security schemes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

ALL_SCHEMES = [{"OAuth2Password": []}, {"BearerJWT": []}, {"AccessCookie": []}]


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_document_is_valid(document: dict[str, Any]) -> None:
    validate(document)


def test_security_schemes_make_swagger_authorize_work(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2Password"] == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/auth/token", "scopes": {}}},
    }
    assert schemes["BearerJWT"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["AccessCookie"]["in"] == "cookie"
    assert schemes["AccessCookie"]["name"] == "__Host-at"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/me", "get"),
        ("/admin", "get"),
        ("/roles", "get"),
        ("/alice", "get"),
        ("/items", "post"),
        ("/fast/me", "get"),
        ("/fast/items", "post"),
        ("/fast/admin", "get"),
        ("/direct/admin", "get"),
    ],
)
def test_protected_routes_carry_every_scheme(
    document: dict[str, Any], path: str, method: str
) -> None:
    operation = document["paths"][path][method]
    assert operation["security"] == ALL_SCHEMES
    assert {"401", "403"} <= set(operation["responses"])


def test_optional_routes_also_allow_anonymous(document: dict[str, Any]) -> None:
    security = document["paths"]["/fast/maybe"]["get"]["security"]
    assert {} in security
    assert {"BearerJWT": []} in security


def test_public_routes_have_no_security(document: dict[str, Any]) -> None:
    assert "security" not in document["paths"]["/public"]["get"]


async def test_swagger_ui_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text
