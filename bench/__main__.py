"""`python -m bench`: run every benchmark, print the Markdown tables and write them into docs/performance.md.

Progress goes to stderr. `--quick` runs each with tiny parameters (seconds, not minutes: for checking that the code
works, not for figures); `--only` picks some of them. Neither writes docs/performance.md (its figures would then come
from a run that measured nothing or only part); `--write FILE` writes FILE whatever the run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import anyio

from bench import biganswer, capacity, coldstart, overhead, scale, shapes, tasks, trickle, waits
from bench.common import ERAS, ROOT, Table

Bench = Callable[[], Awaitable[list[Table]]]

PERFORMANCE = ROOT / "docs" / "performance.md"
BEGIN = "<!-- python -m bench: begin. Every full run rewrites the text from here to the end mark. -->"
END = "<!-- python -m bench: end -->"


def benches(quick: bool) -> dict[str, Bench]:
    """The benchmarks in the order they run, full size or tiny."""
    if quick:
        return {
            "coldstart": lambda: coldstart.run(runs=1, eras=ERAS[:1], part_runs=1),
            "overhead": lambda: overhead.run(rounds=5, warmup=2),
            "waits": lambda: waits.run(scale=0.1, reps=1, real_reps=0, scaled_lengths=(3.0,)),
            "scale": lambda: scale.run(waits=20, seconds=0.5),
            "capacity": lambda: capacity.run(waits=20, seconds=1.0),
            "biganswer": lambda: biganswer.run(size=300_000),
            "shapes": lambda: shapes.run(entries=5_000),
            "trickle": lambda: trickle.run(calls=1),
            "tasks": lambda: tasks.run(reps=3, seconds=0.5, rounds=1),
        }
    return {
        "coldstart": lambda: coldstart.run(runs=13),
        "overhead": lambda: overhead.run(rounds=300, warmup=30),
        "waits": lambda: waits.run(),
        "scale": lambda: scale.run(waits=1000),
        "capacity": lambda: capacity.run(waits=1000),
        "biganswer": lambda: biganswer.run(),
        "shapes": lambda: shapes.run(),
        "trickle": lambda: trickle.run(),
        "tasks": lambda: tasks.run(),
    }


def machine() -> str:
    """One line naming the machine and the software the figures come from."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, Python"
        f" {platform.python_version()}, mcp {version('mcp')}, httpx2 {version('httpx2')}"
    )


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def compile_sources() -> None:
    """Write wave_mcp's bytecode, as installing a package does: starts then measure running, not compiling.

    (Where PYTHONDONTWRITEBYTECODE is set, an edited source would otherwise be compiled at every start.)
    """
    compileall.compile_dir(str(ROOT / "wave_mcp"), quiet=1)


async def run_all(selected: Sequence[str], quick: bool) -> str:
    chosen = benches(quick)
    compile_sources()
    parts = [f"Machine: {machine()}. Load average at start (1/5/15 min): {load()}."]
    began = time.perf_counter()
    for name in selected:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        tables = await chosen[name]()
        print(f"bench: {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        parts.extend(table.render() for table in tables)
    parts.append(
        f"Took {time.perf_counter() - began:.0f} s; load average at the end: {load()}."
        + (" Quick mode: tiny parameters, figures not meaningful." if quick else "")
    )
    return "\n\n".join(parts)


def write_figures(path: Path, figures: str) -> None:
    """Put `figures` between the marks of `path`, keeping the text around them (what the figures mean).

    A file without the marks gets them, after its text; a missing file is created with a title.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        head, tail = text.rstrip("\n") + "\n\n", "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{BEGIN}\n\n{figures}\n\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny parameters: checks the code, not the speed")
    names = list(benches(False))
    parser.add_argument("--only", nargs="+", choices=names, default=names, metavar="NAME", help=", ".join(names))
    parser.add_argument(
        "--write",
        type=Path,
        metavar="FILE",
        help="write the tables into FILE (default: docs/performance.md on full runs)",
    )
    args = parser.parse_args(argv)
    figures = anyio.run(run_all, args.only, args.quick)
    print(figures)
    full = not args.quick and set(args.only) == set(names)
    target: Path | None = args.write or (PERFORMANCE if full else None)
    if target is None:
        print(f"bench: {PERFORMANCE.relative_to(ROOT)} left as it is (a quick or partial run)", file=sys.stderr)
        return
    write_figures(target, figures)
    print(f"bench: wrote the figures into {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
