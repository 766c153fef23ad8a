"""bench/e2e.py stays runnable: every variant app answers its token (in-process, no load)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tokenward.keys import Key


@pytest.fixture(scope="module")
def e2e(script: Callable[[str], Any]) -> Any:
    return script("bench/e2e.py")


def test_every_variant_serves_its_token_and_report_renders(e2e: Any) -> None:
    rs = Key.generate("RS256", kid="rs")
    env = {"TW_BENCH_RS_JWK": json.dumps(rs.public().to_jwk())}
    tokens = e2e.make_tokens(rs.to_jwk(private=True))
    costs = e2e.asgi_costs(e2e.VARIANTS, tokens, env, samples=1)  # raises on any non-200
    assert set(costs) == set(e2e.VARIANTS)
    report = e2e.Report("test", 1, 1.0)
    for variant in e2e.VARIANTS:
        report.samples[variant] = [e2e.Sample(1000.0, 1.0, 0, 1000, 1e-4)]
    report.asgi_us = {variant: cost * 1e6 for variant, cost in costs.items()}
    text = e2e.render(report, [])
    assert text.startswith("## e2e")
    assert "tokenward HS256, server CPU capacity: 1.00x unprotected (target 0.8x: met)" in text


def test_service_rows_load_the_real_service(e2e: Any) -> None:
    """The service hook starts the service, passes its gate (login, /me 200, tampered 401)
    and reports login (with the Argon2id cost), refresh and /me, all without a failure."""
    lines = e2e.service_rows(e2e.load_httpx, quick=True, seconds=0.3)
    text = "\n".join(lines)
    assert "Argon2id m=65536 KiB, t=3, p=4" in text
    rows = [line.split(" | ") for line in lines if line.startswith(("| POST", "| GET"))]
    assert [row[0] for row in rows] == ["| POST /auth/login", "| POST /auth/refresh", "| GET /me"]
    assert all(float(row[4]) > 0 for row in rows)  # p99 ms measured; a failed request raises
