"""ValidationPolicy: defaults, normalisation and start-up refusal of bad settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tokenward import ValidationPolicy
from tokenward.errors import ConfigurationError
from tokenward.validation import KNOWN_ALGORITHMS

BASE: dict[str, Any] = {"issuers": "https://iss", "audiences": "api", "algorithms": "ES256"}


def make(**changes: Any) -> ValidationPolicy:
    return ValidationPolicy(**{**BASE, **changes})


def test_defaults_follow_the_profile() -> None:
    policy = make()
    assert policy.leeway == 30
    assert policy.token_types == ("at+jwt", "application/at+jwt")
    assert policy.required_claims == ("exp", "iat", "jti", "sub")
    assert policy.max_token_bytes == 8192
    assert policy.max_lifetime == 86400
    assert (policy.name_claim, policy.role_claim) == ("name", "roles")


def test_known_algorithms_are_exactly_the_supported_jws_algorithms() -> None:
    # RFC 7518 sec. 3 (minus "none") and RFC 8037 EdDSA; each one is accepted by a policy
    names = {f"{family}{bits}" for family in ("HS", "RS", "PS", "ES") for bits in (256, 384, 512)}
    assert KNOWN_ALGORITHMS == names | {"EdDSA"}
    assert make(algorithms=sorted(KNOWN_ALGORITHMS)).algorithms == tuple(sorted(KNOWN_ALGORITHMS))
    for refused in ("none", "None", "es256", "ES256K", "Ed25519"):
        with pytest.raises(ConfigurationError):
            make(algorithms=refused)


def test_a_string_is_one_issuer_not_a_set_of_characters() -> None:
    # PyJWT CVE-2024-53861: "iss in 'https://iss'" was a substring test.
    policy = make(issuers="https://iss", audiences=["a", "b", "a"])
    assert policy.issuers == ("https://iss",)
    assert policy.audiences == ("a", "b")


def test_policy_is_frozen_and_keyword_only() -> None:
    policy = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.leeway = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        ValidationPolicy("https://iss", "api", "ES256")  # type: ignore[misc]


@pytest.mark.parametrize("leeway", [300.5, 301, 3600, -1, float("nan"), float("inf"), True, "30"])
def test_leeway_outside_zero_to_300_seconds_is_refused(leeway: Any) -> None:
    with pytest.raises(ConfigurationError):
        make(leeway=leeway)


@pytest.mark.parametrize("leeway", [0, 0.5, 60, 300])
def test_leeway_up_to_300_seconds_is_accepted(leeway: float) -> None:
    assert make(leeway=leeway).leeway == leeway


@pytest.mark.parametrize(
    "changes",
    [
        {"issuers": ()},
        {"issuers": ""},
        {"audiences": []},
        {"audiences": ["api", ""]},
        {"audiences": [1]},
        {"algorithms": ()},
        {"algorithms": "none"},
        {"algorithms": ["ES256", "none"]},
        {"algorithms": "es256"},
        {"algorithms": "HS256 "},
        {"token_types": ()},
        {"required_claims": ("iat", "jti", "sub")},
        {"max_lifetime": 0},
        {"max_lifetime": float("inf")},
        {"max_token_bytes": 10},
        {"max_token_bytes": 1 << 20},
        {"max_token_bytes": 8192.0},
        {"name_claim": ""},
        {"role_claim": 7},
    ],
    ids=repr,
)
def test_invalid_settings_fail_at_construction(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        make(**changes)


def test_exp_stays_required_but_other_claims_can_be_relaxed() -> None:
    assert make(required_claims="exp").required_claims == ("exp",)
