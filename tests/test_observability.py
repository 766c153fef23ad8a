"""Metrics registry isolation, exposition, JSON logs and the secret-redaction guard."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tokenward.errors import ExpiredToken, InvalidGrant
from tokenward.observability import (
    JsonLogFormatter,
    Metrics,
    configure_logging,
    log_context,
    redact,
    security_event,
)

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
REFRESH = "rt_Q2hhbmdlTWUuc2VjcmV0LXBhcnQ.verysecretpart"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("tokenward.test_observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_two_metrics_instances_do_not_share_counters() -> None:
    a, b = Metrics(), Metrics()
    a.tokens_issued.inc()
    a.login_outcome("ok")
    assert a.value("tokens_issued_total") == 1
    assert b.value("tokens_issued_total") == 0
    assert b.value("logins_total", {"outcome": "ok"}) == 0


def test_render_exposes_every_documented_series() -> None:
    m = Metrics()
    m.tokens_issued.inc()
    m.validation(None)
    m.validation(ExpiredToken())
    m.refresh_outcome("reuse_detected")
    m.login_outcome("throttled")
    m.key_rotations.inc()
    m.observe_request(route="/me", method="GET", status=200, seconds=0.003)
    body, content_type = m.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    for needle in (
        "tokens_issued_total 1.0",
        'token_validations_total{result="ok"} 1.0',
        'token_validations_total{result="expired"} 1.0',
        'refresh_total{outcome="reuse_detected"} 1.0',
        'refresh_total{outcome="rotated"} 0.0',
        'logins_total{outcome="throttled"} 1.0',
        "key_rotations_total 1.0",
        'http_request_duration_seconds_count{method="GET",route="/me",status="200"} 1.0',
    ):
        assert needle in text, needle


@pytest.mark.parametrize("bad", ["success", "", "ROTATED"])
def test_unknown_outcomes_are_refused(bad: str) -> None:
    m = Metrics()
    with pytest.raises(ValueError):
        m.refresh_outcome(bad)
    with pytest.raises(ValueError):
        m.login_outcome(bad)


def test_json_line_has_the_documented_keys(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info("token_rejected", extra={"request_id": "r1", "sub": "u1", "jti": "j1", "code": "x"})
    (line,) = lines(stream)
    assert line["event"] == "token_rejected"
    assert line["level"] == "INFO"
    assert line["logger"] == "tokenward.test_observability"
    assert (line["request_id"], line["sub"], line["jti"], line["code"]) == ("r1", "u1", "j1", "x")
    assert isinstance(line["ts"], float)


def test_security_event_is_a_warning_with_a_stable_name(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    security_event(logger, "refresh_token_reuse_detected", sub="u1", code=InvalidGrant.code)
    (line,) = lines(stream)
    assert line["level"] == "WARNING"
    assert line["event"] == "refresh_token_reuse_detected"
    assert line["sub"] == "u1"
    assert line["code"] == "invalid_grant"


@pytest.mark.parametrize(
    "fields",
    [
        {"password": "hunter2-correct-horse"},
        {"client_secret": "hunter2-correct-horse"},
        {"refresh_token": "hunter2-correct-horse"},
        {"access_token": "hunter2-correct-horse"},
        {"detail": {"token": "hunter2-correct-horse"}},
    ],
)
def test_secret_named_fields_are_dropped(
    capture: tuple[logging.Logger, io.StringIO], fields: dict[str, object]
) -> None:
    logger, stream = capture
    security_event(logger, "login_failed", sub="u1", **fields)
    logger.info("plain", extra=fields)
    assert "hunter2" not in stream.getvalue()
    assert len(lines(stream)) == 2


@pytest.mark.parametrize("secret", [JWT, REFRESH, f"Bearer {JWT}"])
def test_token_looking_values_are_redacted_everywhere(
    capture: tuple[logging.Logger, io.StringIO], secret: str
) -> None:
    logger, stream = capture
    logger.warning("got %s from client", secret, extra={"reason": f"bad {secret}", "x": [secret]})
    out = stream.getvalue()
    assert "eyJ" not in out
    assert "verysecretpart" not in out
    assert "[redacted]" in out


def test_exception_text_is_not_logged(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise ValueError(f"password=hunter2 token={REFRESH}")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert line["exc_type"] == "ValueError"
    assert "hunter2" not in stream.getvalue()


def test_redact_keeps_ordinary_text() -> None:
    assert redact("user alice logged in from 10.0.0.1") == "user alice logged in from 10.0.0.1"
    assert redact("kid=eyJ") == "kid=eyJ"  # too short to be a token


def test_configure_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    name = "tokenward.test_configure"
    logger = configure_logging("INFO", logger_name=name)
    configure_logging("INFO", logger_name=name)
    assert len(logger.handlers) == 1
    logger.info("hello", extra={"sub": "u1"})
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert json.loads(err[0])["sub"] == "u1"
    configure_logging("DEBUG", json=False, logger_name=name)
    logger.debug("with %s", JWT)
    assert "eyJ" not in capsys.readouterr().err
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


async def test_log_context_binds_fields_per_task(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    import asyncio

    logger, stream = capture

    async def request(rid: str) -> None:
        with log_context(request_id=rid, password="hunter2-never"):
            await asyncio.sleep(0)  # interleave the two "requests"
            logger.info("handled", extra={"sub": rid.upper()})
            with log_context(jti="j-" + rid):
                logger.info("inner")

    await asyncio.gather(request("r1"), request("r2"))
    logger.info("outside")
    got = lines(stream)
    handled = {line["request_id"]: line["sub"] for line in got if line["event"] == "handled"}
    assert handled == {"r1": "R1", "r2": "R2"}
    inner = {line["request_id"]: line["jti"] for line in got if line["event"] == "inner"}
    assert inner == {"r1": "j-r1", "r2": "j-r2"}
    assert "request_id" not in got[-1]
    assert "hunter2" not in stream.getvalue()


async def test_request_histogram_labels_stay_bounded_under_bogus_methods_and_paths() -> None:
    """50 made-up methods and 50 distinct raw paths must not create new series: methods fold
    into HTTP_METHODS or OTHER, routes into the template or <unmatched>."""
    import httpx
    from fastapi import FastAPI

    from tokenward.observability import HTTP_METHODS
    from tokenward.service.middleware import RequestContextMiddleware

    app = FastAPI()

    @app.api_route("/items/{item_id}", methods=["GET", "POST"])
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    metrics = Metrics()
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for i in range(50):
            await client.request(f"FOO{i}", f"/items/{i}")  # matched path, bogus method
            await client.request("GET", f"/nowhere/{i}")  # unmatched raw path
            await client.request(f"BAR{i}", f"/nowhere/x{i}")
            await client.get(f"/items/{i}")
    samples = [
        s
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name.endswith("http_request_duration_seconds_count")
    ]
    assert {s.labels["method"] for s in samples} <= HTTP_METHODS | {"OTHER"}
    assert {s.labels["route"] for s in samples} == {"/items/{item_id}", "<unmatched>"}
    assert len(samples) <= 6  # (route, method, status) combinations actually seen
    assert sum(s.value for s in samples) == 200
    assert "OTHER" in {s.labels["method"] for s in samples}
