"""Keys, policy, validator and a token factory shared by the validation tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _validation_support import AUD, ISS, Sign, b64, good_claims

from tokenward import Key, TokenValidator, ValidationPolicy
from tokenward.clock import FixedClock


@pytest.fixture(scope="session")
def es_key() -> Key:
    return Key.generate("ES256", kid="es-1")


@pytest.fixture(scope="session")
def hs_key() -> Key:
    return Key.generate("HS256", kid="hs-1")


@pytest.fixture
def policy() -> ValidationPolicy:
    return ValidationPolicy(issuers=ISS, audiences=AUD, algorithms=("ES256", "HS256"))


@pytest.fixture
def validator(es_key: Key, policy: ValidationPolicy, clock: FixedClock) -> TokenValidator:
    return TokenValidator(es_key.public(), policy, clock=clock)


@pytest.fixture
def sign(es_key: Key) -> Sign:
    """``sign(claims=None, header_changes=None, key=es_key, header=None) -> token``."""

    def _sign(
        claims: Any = None,
        header_changes: dict[str, Any] | None = None,
        key: Key = es_key,
        header: Any = None,
    ) -> str:
        if header is None:
            header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
            header.update(header_changes or {})
            header = {k: v for k, v in header.items() if v is not ...}
        payload = good_claims() if claims is None else claims
        parts = []
        for part in (header, payload):
            raw = part if isinstance(part, bytes) else json.dumps(part).encode()
            parts.append(b64(raw))
        signing_input = ".".join(parts)
        return signing_input + "." + b64(key.sign(signing_input.encode("ascii")))

    return _sign
