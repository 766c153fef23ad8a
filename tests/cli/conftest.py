"""CLI fixtures: a clean environment in a temp working dir, and a runner for the real tree."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tokenward.cli import create_cli

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _clean_env(clean_env: Path) -> None:
    """Every CLI test runs with the shared ``clean_env`` (tests/conftest.py)."""


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`serve` and main() configure the `tokenward` logger for the process; undo it."""
    logger = logging.getLogger("tokenward")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


Run = Callable[..., Result]


@pytest.fixture
def run() -> Run:
    """``run("keys", "list", "--json", input=...)``: invoke the real command tree."""

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        result = CliRunner().invoke(create_cli(), list(args), input=input, env=env)
        # the error policy: whatever happened, never a traceback
        assert "Traceback" not in result.output, result.output
        if result.exception is not None:
            assert isinstance(result.exception, SystemExit), repr(result.exception)
        return result

    return invoke


def ok_json(result: Result) -> Any:
    """stdout parsed as JSON, after asserting exit status 0."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(result: Result, status: int) -> str:
    """Assert the failure shape: exit ``status``, exactly one line on stderr."""
    assert result.exit_code == status, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if '"level"' not in line]  # drop JSON log events
    assert len(errors) == 1, result.stderr
    return errors[0]


def dev(*args: str) -> Sequence[str]:
    return (*args, "--dev")
