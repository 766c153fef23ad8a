"""TokenIssuer: claim set, header, reserved claims, round trip through the validator."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt as pyjwt
import pytest

from tokenward import Key, TokenIssuer, TokenValidator, ValidationPolicy
from tokenward.clock import FixedClock
from tokenward.errors import ConfigurationError
from tokenward.tokens import RESERVED_CLAIMS

ISS, AUD = "https://auth.example.com", "api://orders"


def decode_segment(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture(scope="module")
def key() -> Key:
    return Key.generate("ES256", kid="sig-1")


@pytest.fixture
def issuer(key: Key, clock: FixedClock) -> TokenIssuer:
    return TokenIssuer(key, issuer=ISS, audience=AUD, lifetime=900, clock=clock)


def test_claims_are_in_the_documented_order(issuer: TokenIssuer) -> None:
    issued = issuer.issue(
        "user-1", name="Ada", roles=("r1", "r2"), claims={"tenant": "c"}, session_id="s-1"
    )
    header, payload, _ = issued.token.split(".")
    claims = decode_segment(payload)
    assert list(claims) == [
        *("iss", "sub", "aud", "iat", "nbf", "exp", "jti"),
        *("name", "roles", "sid", "tenant"),
    ]
    assert claims["iat"] == claims["nbf"] == 1_800_000_000 == issued.issued_at
    assert claims["exp"] == 1_800_000_900 == issued.expires_at
    assert claims["jti"] == issued.jti and claims["roles"] == ["r1", "r2"]
    assert decode_segment(header) == {"alg": "ES256", "typ": "at+jwt", "kid": "sig-1"}
    assert issued.kid == "sig-1"
    assert "+" not in payload and "=" not in issued.token  # compact, unpadded base64url


def test_optional_claims_are_omitted_when_not_given(issuer: TokenIssuer) -> None:
    claims = decode_segment(issuer.issue("user-1").token.split(".")[1])
    assert set(claims) == {"iss", "sub", "aud", "iat", "nbf", "exp", "jti"}


def test_payload_is_compact_json(issuer: TokenIssuer) -> None:
    payload = issuer.issue("u", claims={"a": [1, 2]}).token.split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b" " not in raw


@pytest.mark.parametrize("claim", sorted(RESERVED_CLAIMS))
def test_custom_claims_may_not_override_a_reserved_claim(issuer: TokenIssuer, claim: str) -> None:
    with pytest.raises(ConfigurationError):
        issuer.issue("user-1", claims={claim: "x"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"claims": {"x": object()}},
        {"claims": {"x": float("nan")}},
        {"claims": {"x": "\ud800"}},
        {"roles": "admin"},
        {"roles": [1]},
        {"name": 5},
        {"session_id": ""},
        {"lifetime": 0},
        {"lifetime": float("inf")},
    ],
    ids=repr,
)
def test_invalid_issue_arguments_raise_configuration_error(
    issuer: TokenIssuer, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        issuer.issue("user-1", **kwargs)


@pytest.mark.parametrize("subject", ["", 5, None, "x" * 257])
def test_subject_must_be_a_bounded_string(issuer: TokenIssuer, subject: Any) -> None:
    with pytest.raises(ConfigurationError):
        issuer.issue(subject)


def test_lifetime_override(issuer: TokenIssuer) -> None:
    issued = issuer.issue("u", lifetime=60)
    assert issued.expires_at - issued.issued_at == 60


def test_issued_token_passes_the_validator(
    issuer: TokenIssuer, key: Key, clock: FixedClock
) -> None:
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms="ES256")
    issued = issuer.issue("user-1", name="Ada", roles=["admin"], session_id="s")
    principal = TokenValidator(key.public(), policy, clock=clock).validate(issued.token)
    assert (principal.subject, principal.name, principal.roles) == ("user-1", "Ada", ("admin",))
    assert (principal.jti, principal.session_id) == (issued.jti, "s")


def test_issued_token_verifies_in_pyjwt(key: Key) -> None:
    issued = TokenIssuer(key, issuer=ISS, audience=[AUD, "other"], lifetime=300).issue("u")
    claims = pyjwt.decode(
        issued.token,
        key.public().to_pem(),
        algorithms=["ES256"],
        audience=AUD,
        issuer=ISS,
    )
    assert claims["aud"] == [AUD, "other"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ""},
        {"audience": ""},
        {"audience": []},
        {"audience": ["a", ""]},
        {"lifetime": 0.5},
        {"lifetime": True},
        {"token_type": ""},
        {"client_id": ""},
        {"client_id": 7},
        {"client_id": "c" * 257},
    ],
    ids=repr,
)
def test_invalid_issuer_configuration_is_refused(key: Key, kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"issuer": ISS, "audience": AUD, "lifetime": 60, **kwargs}
    with pytest.raises(ConfigurationError):
        TokenIssuer(key, **args)


def test_a_public_key_cannot_issue(key: Key) -> None:
    with pytest.raises(ConfigurationError):
        TokenIssuer(key.public(), issuer=ISS, audience=AUD, lifetime=60)


def test_hmac_key_can_issue() -> None:
    hs = Key.generate("HS256", kid="h")
    token = TokenIssuer(hs, issuer=ISS, audience=AUD, lifetime=60).issue("u").token
    assert decode_segment(token.split(".")[0])["alg"] == "HS256"


def test_configuration_is_readable_and_matches_what_is_issued(key: Key, clock: FixedClock) -> None:
    issuer = TokenIssuer(
        key, issuer=ISS, audience=[AUD, "other"], lifetime=900.7, token_type="jwt", clock=clock
    )
    assert issuer.signing_key is key and issuer.key is key
    assert (issuer.issuer, issuer.audience) == (ISS, (AUD, "other"))
    assert (issuer.lifetime, issuer.token_type) == (900, "jwt")
    issued = issuer.issue("u")
    header, payload, _ = issued.token.split(".")
    claims = decode_segment(payload)
    assert claims["iss"] == issuer.issuer and tuple(claims["aud"]) == issuer.audience
    assert claims["exp"] - claims["iat"] == issuer.lifetime
    assert decode_segment(header)["typ"] == issuer.token_type


def test_configuration_properties_are_read_only(issuer: TokenIssuer) -> None:
    assert issuer.audience == AUD  # a single audience stays a string
    for name in ("issuer", "audience", "lifetime", "token_type", "signing_key", "client_id"):
        with pytest.raises(AttributeError):
            setattr(issuer, name, "changed")


def test_audience_cannot_be_changed_through_the_given_list(key: Key) -> None:
    audiences = [AUD]
    issuer = TokenIssuer(key, issuer=ISS, audience=audiences, lifetime=60)
    audiences.append("evil")
    assert issuer.audience == (AUD,)
    assert decode_segment(issuer.issue("u").token.split(".")[1])["aud"] == [AUD]


def test_client_id_is_emitted_right_after_aud(key: Key, clock: FixedClock) -> None:
    # RFC 9068 sec. 2.2: client_id is a required claim of JWT access tokens
    issuer = TokenIssuer(key, issuer=ISS, audience=AUD, lifetime=60, client_id="spa", clock=clock)
    assert issuer.client_id == "spa"
    issued = issuer.issue("user-1", roles=["r"], claims={"tenant": "t"})
    claims = decode_segment(issued.token.split(".")[1])
    assert list(claims) == [
        *("iss", "sub", "aud", "client_id", "iat", "nbf", "exp", "jti"),
        *("roles", "tenant"),
    ]
    assert claims["client_id"] == "spa"
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms="ES256")
    principal = TokenValidator(key.public(), policy, clock=clock).validate(issued.token)
    assert principal.claim("client_id") == "spa"


def test_client_id_is_absent_by_default(issuer: TokenIssuer) -> None:
    assert issuer.client_id is None
    assert "client_id" not in decode_segment(issuer.issue("u").token.split(".")[1])


def test_custom_claims_cannot_override_client_id(key: Key) -> None:
    assert "client_id" in RESERVED_CLAIMS
    for client_id in (None, "spa"):
        issuer = TokenIssuer(key, issuer=ISS, audience=AUD, lifetime=60, client_id=client_id)
        with pytest.raises(ConfigurationError):
            issuer.issue("u", claims={"client_id": "evil"})
