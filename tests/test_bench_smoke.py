"""bench/core.py must keep working: its --quick logic on one algorithm, and RESULTS.md upkeep."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def core(script: Callable[[str], ModuleType]) -> ModuleType:
    return script("bench/core.py")


def test_quick_run_gates_and_times_every_implementation(core: ModuleType) -> None:
    report = core.run(("HS256",), rounds=1, target=0.0005, verbose=False)
    verify, sign = report.verify["HS256"], report.sign["HS256"]
    expected = {"tokenward", "floor (stdlib)", "primitive", *core.PEERS}
    assert expected <= set(verify) and "tokenward (cached)" in verify
    assert expected <= set(sign)
    assert all(stats.median > 0 for stats in [*verify.values(), *sign.values()])
    text = core.render(report)
    assert text.startswith("## core")
    assert "| HS256 | verify+validate |" in text and "cached re-validation" in text


def test_correctness_gate_catches_a_verifier_that_accepts_forgeries(core: ModuleType) -> None:
    with pytest.raises(AssertionError, match="lenient accepted"):
        core.gate("lenient", lambda token: {}, "good", {"forged": "bad"})


def test_write_section_replaces_core_and_keeps_the_others(
    core: ModuleType, tmp_path: pathlib.Path
) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## core\nold\n\n## sessions\nkeep me\n")
    core.write_section(results, "## core\nnew table\n")
    text = results.read_text()
    assert "new table" in text and "old" not in text and "## sessions\nkeep me" in text
    core.write_section(tmp_path / "fresh.md", "## core\nx\n")
    assert (tmp_path / "fresh.md").read_text().endswith("## core\nx\n")


def test_cli_quick_flag_parses(core: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert core.main(["--quick", "--algs", "HS256", "--rounds", "1"]) == 0
    assert "### Ratios and targets" in capsys.readouterr().out


def test_write_section_touches_only_its_own_section(
    core: ModuleType, tmp_path: pathlib.Path
) -> None:
    results = tmp_path / "RESULTS.md"
    sessions = "## sessions\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    e2e = "## e2e\n\ntext\n\n### sub\n\n- item"
    results.write_text(f"# Benchmark results\n\n{sessions}\n## core\n\nold\n### t\nold\n{e2e}\n")
    core.write_section(results, "## core\n\nnew\n")
    text = results.read_text()
    assert text == f"# Benchmark results\n\n{sessions}\n\n## core\n\nnew\n\n{e2e}\n"
    core.write_section(results, "## core\n\nnewer\n")  # idempotent layout
    assert results.read_text() == text.replace("\nnew\n", "\nnewer\n")
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]  # no temporary left over
