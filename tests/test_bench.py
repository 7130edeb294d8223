"""The benchmarks cannot rot: their statistics and table are right, and a tiny run of `python -m bench` works.

Speed itself is not tested here (no wall-clock limits in tests): `python -m bench` measures it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import mutation
from bench.__main__ import BEGIN, END, PERFORMANCE, write_figures
from bench.common import Table, percentile, ratio, spread
from tests.helpers import ROOT


def test_percentiles_interpolate_between_ranks() -> None:
    """A percentile between two ranks is interpolated; an empty sample has none (NaN)."""
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 75) == pytest.approx(3.25)
    assert percentile(values, 100) == 4.0
    assert math.isnan(percentile([], 50))


def test_spread_shows_the_median_and_the_interquartile_range() -> None:
    """A spread reads "median (p25-p75)", to the digits asked; an empty sample shows a dash."""
    assert spread([10.0, 20.0, 30.0, 40.0, 50.0]) == "30 (20-40)"
    assert spread([1.234, 1.5], 2) == "1.37 (1.30-1.43)"
    assert spread([]) == "-"


def test_ratio_guards_against_missing_baselines() -> None:
    """A ratio reads "1.15x"; a zero or missing baseline gives a dash, not an error."""
    assert ratio(1.15, 1.0) == "1.15x"
    assert ratio(1.0, 0.0) == "-"
    assert ratio(math.nan, 1.0) == "-"


def test_the_table_is_markdown_and_escapes_pipes() -> None:
    """A table renders as Markdown with its notes, pipes in cells escaped; a row of the wrong width is refused."""
    table = Table("Title", ["a", "b"])
    table.add("x|y", "2")
    table.notes.append("A note.")
    lines = table.render().splitlines()
    assert lines == ["### Title", "", "| a | b |", "| --- | --- |", "| x\\|y | 2 |", "", "A note."]
    with pytest.raises(ValueError, match="cells"):
        table.add("only one")


def test_the_figures_replace_only_the_text_between_the_marks(tmp_path: Path) -> None:
    """docs/performance.md keeps its reading of the figures; a file without the marks gets them appended."""
    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\nHow to run.\n\n{BEGIN}\n\nold figures\n\n{END}\n\n## Reading them\n")
    write_figures(page, "### New\n\nnew figures")
    assert page.read_text() == (
        f"# Performance\n\nHow to run.\n\n{BEGIN}\n\n### New\n\nnew figures\n\n{END}\n\n## Reading them\n"
    )
    fresh = tmp_path / "docs" / "new.md"
    write_figures(fresh, "figures")
    assert fresh.read_text() == f"# Performance\n\n{BEGIN}\n\nfigures\n\n{END}\n"
    committed = PERFORMANCE.read_text(encoding="utf-8")
    assert committed.count(BEGIN) == committed.count(END) == 1


@pytest.mark.stdio
def test_a_tiny_run_of_every_benchmark_prints_every_table(tmp_path: Path) -> None:
    """`python -m bench --quick` spawns the real servers and sandbox, and prints each table with its verdicts; it
    writes them only where told (never into docs/performance.md)."""
    written = tmp_path / "performance.md"
    before = PERFORMANCE.read_text(encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--write", str(written)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.strip() in written.read_text()
    assert PERFORMANCE.read_text(encoding="utf-8") == before
    for title in (
        "### Cold start and idle memory",
        "### Call overhead",
        "### Waiting",
        "### Scale",
        "### Tasks: ",
        "### Large results by shape",
    ):
        assert title in out
    assert "Machine: " in out
    assert "| 20 of 20 |" in out
    assert out.count("| ours |") == 1
    cold_start_row = next(line for line in out.splitlines() if line.startswith("| 2025-11-25 | wave-mcp, API key |"))
    assert cold_start_row.split(" | ")[-1].rstrip(" |") in ("met", "**missed**")


def test_the_mutation_report_counts_and_names_stale_equivalents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed (timeouts included) over counted, equivalents left out; survivors and unchecked named; an equivalent
    that a test killed, or one that no longer exists, is named as stale."""
    codes = {
        "wave_mcp.guard.x_allows__mutmut_1": 1,
        "wave_mcp.guard.x_allows__mutmut_2": -24,  # timed out: killed
        "wave_mcp.guard.x_allows__mutmut_3": 0,  # survived
        "wave_mcp.guard.x_allows__mutmut_4": 0,  # listed: left out
        "wave_mcp.guard.x_allows__mutmut_5": 1,  # listed, but killed
        "wave_mcp.guard.x_allows__mutmut_6": None,
    }
    (tmp_path / "wave_mcp").mkdir()
    (tmp_path / "wave_mcp" / "guard.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    listed = tmp_path / "equivalents.txt"
    listed.write_text(
        "# a comment\n"
        "wave_mcp.guard.x_allows__mutmut_4  # why\n"
        "wave_mcp.guard.x_allows__mutmut_5  # why not\n"
        "wave_mcp.guard.x_gone__mutmut_1  # renamed since\n"
    )
    monkeypatch.setattr(mutation, "MUTANTS", tmp_path)
    monkeypatch.setattr(mutation, "EQUIVALENTS", listed)
    lines = mutation.report()
    guard = next(line for line in lines if line.startswith("guard:"))
    assert guard == (
        "guard: killed 2 of 4 (50.0 %), survivors: x_allows__mutmut_3 [2 equivalent left out] "
        "[listed as equivalent but killed: x_allows__mutmut_5] [1 not checked]"
    )
    assert lines[-1] == "listed as equivalent but no such mutant: wave_mcp.guard.x_gone__mutmut_1"
