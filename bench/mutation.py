"""`make mutation`: mutmut over the core's pure code, against the fast unit tests, and one line per module.

`python -m bench.mutation --run` starts from a clean `mutants/` directory, runs mutmut (configured in pyproject.toml's
[tool.mutmut]) on the mutants of TARGETS only, in `--workers` processes, then reports. Without `--run` it reports the
results already in `mutants/`. Each line reads `module: killed K of N (S %), survivors: ...`, where N leaves out the
mutants listed in bench/mutation_equivalents.txt (each with the reason it cannot change behaviour). A mutant that
times out counts as killed (a test noticed: the change made it hang); one no test reaches counts as a survivor. A
listed mutant that a test killed, or that no longer exists, is named: the list is stale (a change renumbered it).
`mutmut show NAME` (from the checkout) prints a survivor's diff. See docs/testing.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
EQUIVALENTS = ROOT / "bench" / "mutation_equivalents.txt"
LOG = MUTANTS / "mutmut.log"

TARGETS: dict[str, list[str]] = {
    "waiting": ["wave_mcp.waiting.*"],
    "reports": ["wave_mcp.reports.*"],
    "guard": ["wave_mcp.guard.*"],
    "redact": ["wave_mcp.redact.*"],
    "limits": ["wave_mcp.limits.*"],
    # the client's pure parts only: its I/O methods are tested through the run service and the fault suite
    "client": [
        "wave_mcp.client.x_status_error__mutmut_*",
        "wave_mcp.client.x__origin__mutmut_*",
        "wave_mcp.client.x_retry_pause__mutmut_*",
        "wave_mcp.client.x_parse_retry_after__mutmut_*",
        "wave_mcp.client.xǁWaveClientǁ_excerpt__mutmut_*",
        "wave_mcp.client.x__holds_any__mutmut_*",
    ],
}
"""Per module, the globs of the mutant names measured (mutmut names them `module.x_function__mutmut_N`, methods
`module.xǁClassǁmethod__mutmut_N`)."""

KILLED = {1, 3, 24, 36, 37, 152, 255, -24}
"""mutmut's exit codes of a mutant that a test (or the type check) noticed, timeouts included."""


def equivalents() -> dict[str, str]:
    """The mutants listed as equivalent, each with its reason (`NAME  # reason` per line)."""
    listed: dict[str, str] = {}
    for line in EQUIVALENTS.read_text(encoding="utf-8").splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            listed[name.strip()] = reason.strip()
    return listed


def results() -> dict[str, int | None]:
    """Every mutant's exit code, from mutmut's `.meta` files."""
    codes: dict[str, int | None] = {}
    for meta in MUTANTS.rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return codes


def module_of(name: str) -> str | None:
    return next((module for module, globs in TARGETS.items() if any(fnmatch.fnmatch(name, g) for g in globs)), None)


def report() -> list[str]:
    """One line per module in TARGETS."""
    listed = equivalents()
    codes = results()
    by_module: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    for name, code in sorted(codes.items()):
        module = module_of(name)
        if module is not None:
            by_module[module].append((name, code))
    lines = []
    for module in TARGETS:
        counted = [(name, code) for name, code in by_module[module] if name not in listed]
        killed = sum(code in KILLED for _, code in counted)
        unchecked = sum(code is None for _, code in counted)
        survivors = [name.rsplit(".", 1)[-1] for name, code in counted if code is not None and code not in KILLED]
        score = 100.0 * killed / len(counted) if counted else 0.0
        equivalent = len(by_module[module]) - len(counted)
        line = f"{module}: killed {killed} of {len(counted)} ({score:.1f} %), survivors: {', '.join(survivors) or '-'}"
        if equivalent:
            line += f" [{equivalent} equivalent left out]"
        killed_equivalents = [
            name.rsplit(".", 1)[-1] for name, code in by_module[module] if name in listed and code in KILLED
        ]
        if killed_equivalents:  # a test noticed them: the list is stale (renumbered) or wrong
            line += f" [listed as equivalent but killed: {', '.join(killed_equivalents)}]"
        if unchecked:
            line += f" [{unchecked} not checked]"
        lines.append(line)
    missing = [name for name in listed if name not in codes]
    if missing:
        lines.append(f"listed as equivalent but no such mutant: {', '.join(missing)}")
    return lines


def run(workers: int) -> float:
    """mutmut from a clean slate on the targets' mutants; its wall time in seconds."""
    shutil.rmtree(MUTANTS, ignore_errors=True)
    MUTANTS.mkdir()
    globs = [glob for module_globs in TARGETS.values() for glob in module_globs]
    mutmut = Path(sys.executable).with_name("mutmut")
    start = time.monotonic()
    with LOG.open("w", encoding="utf-8") as log:
        subprocess.run(
            [str(mutmut), "run", "--max-children", str(workers), *globs],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run mutmut first (from a clean mutants/)")
    parser.add_argument("--workers", type=int, default=2, help="mutmut's processes (default 2)")
    args = parser.parse_args()
    if args.run:
        seconds = run(args.workers)
        print(f"mutmut ran for {seconds / 60:.1f} min ({args.workers} workers); its output is in {LOG}")
    for line in report():
        print(line)


if __name__ == "__main__":
    main()
