"""The README's code must keep working as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"## {re.escape(heading)}\n.*?```python\n(.*?)```", text, re.S)
    assert match, f"no python block under '## {heading}'"
    return match.group(1)


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8")[:400]
    assert "make run" in head and "make test" in head


def test_core_api_example_runs() -> None:
    code = _python_block("The core API")
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)  # our own README
    assert namespace["principal"] is not None
