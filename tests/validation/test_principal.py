"""Principal: read-only identity, no claim renaming."""

from __future__ import annotations

import pytest
from _validation_support import ISS, Sign, good_claims

from tokenward import Key, TokenValidator, ValidationPolicy, jws
from tokenward.clock import FixedClock


def test_principal_exposes_the_claims_as_issued(validator: TokenValidator, sign: Sign) -> None:
    principal = validator.validate(sign(good_claims(sid="sess-9", tenant="contoso")))
    assert principal.subject == "user-1"
    assert principal.name == "Ada"
    assert principal.roles == ("reader", "writer")
    assert principal.session_id == "sess-9"
    assert principal.jti == "jti-1"
    assert principal.issuer == ISS
    assert principal.expires_at == 1_800_000_600
    assert principal.issued_at == 1_800_000_000
    assert principal.header["typ"] == "at+jwt"
    assert principal.claim("tenant") == "contoso"
    assert principal.claim("missing", "dflt") == "dflt"
    assert principal.has_role("writer") and not principal.has_role("Writer")


def test_claims_and_header_cannot_be_modified(validator: TokenValidator, sign: Sign) -> None:
    token = sign(good_claims(extra={"nested": [1, {"deep": [2]}]}))
    principal = validator.validate(token)
    with pytest.raises(TypeError):
        principal.claims["sub"] = "admin"  # type: ignore[index]
    with pytest.raises(TypeError):
        principal.header["alg"] = "none"  # type: ignore[index]
    assert principal.claims["roles"] == ("reader", "writer")
    with pytest.raises(AttributeError):
        principal.claims["roles"].append("admin")
    with pytest.raises(TypeError):
        principal.claim("extra")["nested"][1]["deep"] = []
    with pytest.raises(AttributeError):
        principal.subject = "admin"  # type: ignore[misc]
    # the cached principal handed out next time is unchanged
    assert validator.validate(token).roles == ("reader", "writer")


def test_name_and_role_claims_are_read_as_configured_never_renamed(
    es_key: Key, clock: FixedClock, sign: Sign
) -> None:
    policy = ValidationPolicy(
        issuers=ISS,
        audiences="api://orders",
        algorithms="ES256",
        name_claim="preferred_username",
        role_claim="groups",
    )
    validator = TokenValidator(es_key.public(), policy, clock=clock)
    principal = validator.validate(sign(good_claims(preferred_username="ada", groups="ops")))
    assert principal.name == "ada"
    assert principal.roles == ("ops",)
    assert principal.claims["name"] == "Ada"  # untouched, not mapped
    assert principal.claims["roles"] == ("reader", "writer")
    assert "http://schemas.microsoft.com/ws/2008/06/identity/claims/role" not in principal.claims


def test_missing_optional_claims_read_as_none(validator: TokenValidator, sign: Sign) -> None:
    principal = validator.validate(sign(good_claims(name=..., roles=...)))
    assert principal.name is None
    assert principal.roles == ()
    assert principal.session_id is None


@pytest.mark.parametrize("cache_size", [1024, 0], ids=["cache", "no-cache"])
def test_principal_header_cannot_change_the_shared_header_cache(
    policy: ValidationPolicy, clock: FixedClock, sign: Sign, cache_size: int
) -> None:
    # The validator reads the header dict the JOSE layer caches per header segment (no
    # copy per call); a principal must expose it without letting anyone write through.
    key = Key.generate("ES256", kid="es-shared")
    public = key.public()
    validator = TokenValidator(public, policy, clock=clock, cache_size=cache_size)
    header = {"ext": {"list": [1, 2]}}
    first = validator.validate(sign(good_claims(jti="a"), header_changes=header, key=key))
    with pytest.raises(TypeError):
        first.header["typ"] = "JWT"  # type: ignore[index]
    with pytest.raises(TypeError):
        del first.header["kid"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        first.header["ext"]["new"] = 1
    with pytest.raises(AttributeError):
        first.header["ext"]["list"].append(3)
    with pytest.raises(AttributeError):
        first.header = {}  # type: ignore[misc]
    # a copy handed out elsewhere (dict(...), jws.verify) is the caller's own
    dict(first.header)["typ"] = "JWT"
    jws.verify(sign(good_claims(jti="b"), header_changes=header, key=key), public).header.clear()
    (cached_header, _), *_ = public._header_cache.values()
    assert cached_header == {
        "alg": "ES256",
        "typ": "at+jwt",
        "kid": "es-shared",
        "ext": {"list": [1, 2]},
    }
    second = validator.validate(sign(good_claims(jti="c"), header_changes=header, key=key))
    assert second.header == first.header == {**cached_header, "ext": {"list": (1, 2)}}
