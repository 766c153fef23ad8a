"""Helpers shared by the service tests (constants, the running-service handle)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tokenward.clock import FixedClock
from tokenward.service import Runtime

BASE_URL = "https://testserver"
ORIGIN = BASE_URL
BOB_PASSWORD = "bob-password-1234"


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Service:
    """A running app and what tests need to drive it."""

    app: FastAPI
    client: httpx.AsyncClient
    runtime: Runtime
    clock: FixedClock
    alice_password: str

    async def login(self, username: str = "alice", password: str | None = None) -> dict[str, Any]:
        if password is None:
            password = self.alice_password if username == "alice" else BOB_PASSWORD
        response = await self.client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login_cookie(self, username: str = "alice") -> str:
        """Cookie login (GET /auth/csrf, then the login with its pre-session token); the
        client's jar now holds the cookies. Returns the session-bound CSRF token."""
        password = self.alice_password if username == "alice" else BOB_PASSWORD
        pre = await self.client.get("/auth/csrf")
        assert pre.status_code == 200, pre.text
        response = await self.client.post(
            "/auth/login-cookie",
            json={"username": username, "password": password},
            headers={"Origin": ORIGIN, "X-CSRF-Token": pre.json()["csrf_token"]},
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["csrf_token"]
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
