"""Argon2id hashing, caps and username normalisation (security profile sec. 6: L1, L6)."""

from __future__ import annotations

import argon2
import pytest

from tokenward.errors import InvalidRequest
from tokenward.sessions.passwords import (
    OWASP_MINIMUM,
    TEST_PARAMETERS,
    PasswordHasher,
    normalize_username,
)


@pytest.fixture(scope="module")
def default_hasher() -> PasswordHasher:
    return PasswordHasher()


def test_l1_default_parameters_meet_owasp(default_hasher: PasswordHasher) -> None:
    stored = default_hasher.hash("a password")
    assert stored.startswith("$argon2id$v=19$m=")
    params = argon2.extract_parameters(stored)
    m, t, p = OWASP_MINIMUM
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= m and params.time_cost >= t and params.parallelism >= p
    assert params.salt_len >= 16
    # the RFC 9106 low-memory profile, stated in the docs and the benchmark
    assert (params.memory_cost, params.time_cost, params.parallelism) == (65536, 3, 4)


def test_salted_and_verifiable(default_hasher: PasswordHasher) -> None:
    a, b = default_hasher.hash("same"), default_hasher.hash("same")
    assert a != b
    assert default_hasher.verify(a, "same") and default_hasher.verify(b, "same")
    assert not default_hasher.verify(a, "Same")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "junk",
        "$argon2id$v=19$m=8,t=1,p=1$",
        "$2b$12$C6UzMDM.H6dfI/f/IKxGhu2QxNRvU4GqXg3vGSZK4JmZ/2n0jFh2S",  # bcrypt
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$" + "A" * 43,
    ],
)
def test_verify_never_raises_on_bad_stored_hash(stored: str) -> None:
    hasher = PasswordHasher.for_testing()
    assert hasher.verify(stored, "pw") is False
    assert hasher.needs_rehash(stored) is True


def test_needs_rehash_follows_parameters() -> None:
    cheap = PasswordHasher.for_testing()
    other = PasswordHasher(
        parameters=argon2.Parameters(**{**vars_of(TEST_PARAMETERS), "time_cost": 2})
    )
    stored = cheap.hash("pw")
    assert not cheap.needs_rehash(stored)
    assert other.needs_rehash(stored)
    assert other.verify(stored, "pw")  # old hashes still verify


def vars_of(params: argon2.Parameters) -> dict[str, object]:
    return {
        name: getattr(params, name)
        for name in (
            "type",
            "version",
            "salt_len",
            "hash_len",
            "time_cost",
            "memory_cost",
            "parallelism",
        )
    }


def test_only_argon2id_accepted() -> None:
    with pytest.raises(ValueError):
        PasswordHasher(
            parameters=argon2.Parameters(**{**vars_of(TEST_PARAMETERS), "type": argon2.Type.I})
        )


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("a" * 1024, True),
        ("a" * 1025, False),
        ("é" * 512, True),  # 1024 UTF-8 bytes
        ("é" * 513, False),  # 1026 UTF-8 bytes, 513 characters
        ("😀" * 256, True),
        ("😀" * 257, False),
        ("x" * 1_000_000, False),
        ("\ud800", False),  # lone surrogate: not encodable
    ],
)
def test_l6_password_cap_in_utf8_bytes_before_hashing(password: str, ok: bool) -> None:
    hasher = PasswordHasher.for_testing()
    if ok:
        assert hasher.verify(hasher.hash(password), password)
    else:
        with pytest.raises(InvalidRequest):
            hasher.hash(password)
        with pytest.raises(InvalidRequest):
            hasher.verify(hasher.hash("x"), password)


@pytest.mark.parametrize("password", [None, 123, b"bytes", ["pw"]])
def test_non_string_password_is_invalid_request(password: object) -> None:
    hasher = PasswordHasher.for_testing()
    with pytest.raises(InvalidRequest):
        hasher.hash(password)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        hasher.verify(hasher.hash("x"), password)  # type: ignore[arg-type]


def test_dummy_verification_is_always_false() -> None:
    hasher = PasswordHasher.for_testing()
    assert hasher.verify_dummy("anything") is False
    with pytest.raises(InvalidRequest):
        hasher.verify_dummy("x" * 2000)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("ａｌｉｃｅ", "alice"),  # fullwidth (NFKC)
        ("Straße", "strasse"),  # casefold, not lower()
        ("ﬁsh", "fish"),  # ligature (NFKC)
    ],
)
def test_username_key_is_nfkc_casefold(a: str, b: str) -> None:
    assert normalize_username(a) == normalize_username(b)


@pytest.mark.parametrize("username", ["", "   ", "a" * 257, "bob\x00", "bob\n", None, 5, b"bob"])
def test_bad_usernames_are_invalid_request(username: object) -> None:
    with pytest.raises(InvalidRequest):
        normalize_username(username)
