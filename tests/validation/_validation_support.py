"""Constants and claim helpers shared by the validation tests."""

from __future__ import annotations

from base64 import urlsafe_b64encode
from collections.abc import Callable
from typing import Any

ISS = "https://auth.example.com"
AUD = "api://orders"
NOW = 1_800_000_000

Sign = Callable[..., str]


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def good_claims(now: float = NOW, **changes: Any) -> dict[str, Any]:
    """Valid access-token claims at ``now``; a change to ``...`` (Ellipsis) removes it."""
    claims: dict[str, Any] = {
        "iss": ISS,
        "sub": "user-1",
        "aud": AUD,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "jti-1",
        "name": "Ada",
        "roles": ["reader", "writer"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}
