"""Bearer-header authentication: statuses, challenges, dependencies and policies."""

from __future__ import annotations

import httpx
import pytest
from _web_support import Denylist

from tokenward.tokens import TokenIssuer
from tokenward.web.errors import INVALID_TOKEN_DESCRIPTION

GENERIC_401 = {"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}
PROTECTED = ["/me", "/fast/me"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", PROTECTED)
async def test_valid_bearer_token_reaches_the_endpoint(
    client: httpx.AsyncClient, issuer: TokenIssuer, path: str
) -> None:
    token = issuer.issue("alice", roles=["Admin"], session_id="s1").token
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "roles": ["Admin"], "sid": "s1"}


@pytest.mark.parametrize("path", PROTECTED)
async def test_rs256_token_is_accepted(
    client: httpx.AsyncClient, rs_issuer: TokenIssuer, path: str
) -> None:
    response = await client.get(path, headers=bearer(rs_issuer.issue("bob").token))
    assert response.status_code == 200
    assert response.json()["sub"] == "bob"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_scheme_name_is_case_insensitive(
    client: httpx.AsyncClient, issuer: TokenIssuer, scheme: str
) -> None:
    token = issuer.issue("alice").token
    response = await client.get("/fast/me", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", PROTECTED)
async def test_no_credentials_gives_401_without_error_code(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    # RFC 6750 sec. 3.1: no error code when the request had no authentication at all.
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == GENERIC_401
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PROTECTED)
async def test_other_auth_scheme_counts_as_no_credentials(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PROTECTED)
async def test_invalid_token_gets_invalid_token_challenge(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=bearer("not-a-jwt"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == GENERIC_401


@pytest.mark.parametrize("path", PROTECTED)
async def test_query_string_token_is_refused_even_with_a_valid_header(
    client: httpx.AsyncClient, issuer: TokenIssuer, path: str
) -> None:
    token = issuer.issue("alice").token
    response = await client.get(path, params={"access_token": token}, headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == GENERIC_401


async def test_query_string_token_alone_is_refused(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    response = await client.get("/fast/me", params={"access_token": issuer.issue("a").token})
    assert response.status_code == 401


async def test_other_query_parameters_are_fine(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    headers = bearer(issuer.issue("alice").token)
    response = await client.get("/fast/me", params={"q": "access_token"}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "name",
    ["access%5Ftoken", "access%5ftoken", "%61ccess_token", "ACCESS_TOKEN", "Access_Token"],
)
@pytest.mark.parametrize("path", PROTECTED)
async def test_encoded_or_case_folded_query_token_is_refused(
    client: httpx.AsyncClient, issuer: TokenIssuer, path: str, name: str
) -> None:
    """RFC 6750 sec. 2.3/5.3: the parameter name is percent-decoded (any framework would
    decode it) and compared case-insensitively before the request is refused."""
    token = issuer.issue("alice").token
    url = httpx.URL(path).copy_with(query=f"{name}={token}".encode())
    response = await client.get(url, headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == GENERIC_401


@pytest.mark.parametrize(
    ("query", "found"),
    [
        (b"access_token=x", True),
        (b"a=1&access%5Ftoken=", True),
        (b"access_token", True),
        (b"%41CCESS_TOKEN=x", True),
        (b"q=access_token", False),
        (b"access_tokens=x", False),
        (b"x_access_token=1", False),
        (b"access+token=1", False),
        (b"%ff%fe=1", False),
        (b"", False),
    ],
)
def test_query_has_token(query: bytes, found: bool) -> None:
    from tokenward.web._request import query_has_token

    assert query_has_token(query) is found


async def test_duplicate_authorization_headers_are_refused(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    token = issuer.issue("alice").token
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    response = await client.get("/fast/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == GENERIC_401


@pytest.mark.parametrize("path", ["/admin", "/fast/admin", "/direct/admin"])
async def test_admin_policy_allows_admin(
    client: httpx.AsyncClient, issuer: TokenIssuer, path: str
) -> None:
    token = issuer.issue("alice", roles=["Admin"]).token
    assert (await client.get(path, headers=bearer(token))).status_code == 200


@pytest.mark.parametrize("path", ["/admin", "/fast/admin", "/direct/admin"])
async def test_admin_policy_refuses_others_with_insufficient_scope(
    client: httpx.AsyncClient, issuer: TokenIssuer, path: str
) -> None:
    token = issuer.issue("bob", roles=["admin", "User"]).token  # role match is exact
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "insufficient privileges",
    }


@pytest.mark.parametrize("path", ["/admin", "/fast/admin", "/direct/admin"])
async def test_policy_route_without_token_is_401_not_403(
    client: httpx.AsyncClient, path: str
) -> None:
    assert (await client.get(path)).status_code == 401


@pytest.mark.parametrize(
    ("claims", "status"),
    [({"tenant": "contoso"}, 200), ({"tenant": ""}, 403), ({}, 403), ({"tenant": None}, 403)],
)
async def test_tenant_scoped_policy_requires_a_tenant_claim(
    client: httpx.AsyncClient, issuer: TokenIssuer, claims: dict[str, object], status: int
) -> None:
    token = issuer.issue("alice", claims=claims).token
    assert (await client.get("/tenant", headers=bearer(token))).status_code == status


async def test_callable_policy(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    ok = await client.get("/alice", headers=bearer(issuer.issue("alice").token))
    no = await client.get("/alice", headers=bearer(issuer.issue("mallory").token))
    assert (ok.status_code, no.status_code) == (200, 403)


@pytest.mark.parametrize(
    ("roles", "status"), [(["Editor"], 200), (["Admin", "X"], 200), (["User"], 403), ([], 403)]
)
async def test_require_roles_means_any_of(
    client: httpx.AsyncClient, issuer: TokenIssuer, roles: list[str], status: int
) -> None:
    token = issuer.issue("alice", roles=roles).token
    assert (await client.get("/roles", headers=bearer(token))).status_code == status


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"tenant": "t", "plan": "gold"}, 200),
        ({"tenant": "t", "plan": ["silver", "gold"]}, 200),
        ({"tenant": "t", "plan": "silver"}, 403),
        ({"plan": "gold"}, 403),
        ({"tenant": "t"}, 403),
    ],
)
async def test_require_claims_names_and_values(
    client: httpx.AsyncClient, issuer: TokenIssuer, claims: dict[str, object], status: int
) -> None:
    token = issuer.issue("alice", claims=claims).token
    assert (await client.get("/claims", headers=bearer(token))).status_code == status


@pytest.mark.parametrize("path", ["/maybe", "/fast/maybe"])
async def test_optional_principal(
    client: httpx.AsyncClient, issuer: TokenIssuer, path: str
) -> None:
    anonymous = await client.get(path)
    known = await client.get(path, headers=bearer(issuer.issue("alice").token))
    bad = await client.get(path, headers=bearer("garbage"))
    assert anonymous.json() == {"sub": None}
    assert known.json() == {"sub": "alice"}
    assert bad.status_code == 401  # an invalid token is never silently anonymous


async def test_public_route_is_untouched(client: httpx.AsyncClient) -> None:
    response = await client.get("/public", headers=bearer("garbage"))
    assert response.status_code == 200


async def test_revoked_token_is_refused(
    client: httpx.AsyncClient, issuer: TokenIssuer, denylist: Denylist
) -> None:
    issued = issuer.issue("alice")
    assert (await client.get("/fast/me", headers=bearer(issued.token))).status_code == 200
    denylist.jtis.add(issued.jti)
    response = await client.get("/fast/me", headers=bearer(issued.token))
    assert response.status_code == 401
    assert response.json() == GENERIC_401


async def test_refusal_is_logged_with_code_and_never_the_token(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    denylist: Denylist,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issued = issuer.issue("alice")
    denylist.jtis.add(issued.jti)
    with caplog.at_level("INFO", logger="tokenward.web"):
        await client.get("/fast/me", headers=bearer(issued.token))
        await client.get("/me", headers=bearer(issued.token + "x"))
    codes = [record.code for record in caplog.records]  # type: ignore[attr-defined]
    assert codes == ["revoked", "bad_signature"]
    # the jti is logged once the signature verified, never taken from a forged token
    jtis = [record.jti for record in caplog.records]  # type: ignore[attr-defined]
    assert jtis == [issued.jti, None]
    assert all(issued.token not in record.getMessage() for record in caplog.records)
    assert all(issued.token not in str(vars(record)) for record in caplog.records)
