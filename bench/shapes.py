"""Large results by shape: how long the event loop is held while a report of the result is made (and the result
freed) in a worker thread, as the run service does for a large run. Side by side, in one run: the same result encoded
in one call of the C encoder and freed at once (`del`), which holds the loop for the whole work.

`python -m bench.shapes [--entries N]`: N (default 200,000) is how many entries the wide part of each shape has.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from bench.common import Table, fmt
from wave_mcp.models import Run
from wave_mcp.reports import release, render_text, run_report

ENTRIES = 200_000
TICK = 0.001
"""The loop's ticker sleeps this long and records how late it wakes: the longest delay is the longest hold."""

SHAPES: dict[str, Callable[[int], Any]] = {
    "a wide list of objects": lambda n: [{"i": i, "name": f"order {i}", "tags": ["a", "b"]} for i in range(n)],
    '{"items": wide list}': lambda n: {"count": n, "items": [{"i": i, "name": f"order {i}"} for i in range(n)]},
    '{"data": {"rows": rows of 20}}': lambda n: {"data": {"rows": [list(range(20)) for _ in range(n // 20)]}},
    "a wide object": lambda n: {f"key {i}": {"v": i} for i in range(n)},
    "a few heavy lists": lambda n: [list(range(n // 4)) for _ in range(4)],
}


@dataclass(frozen=True)
class Held:
    """The longest time the loop was held, and the wall time, of making the text and then of freeing the result."""

    make_ms: float
    make_hold_ms: float
    free_ms: float
    free_hold_ms: float


async def _held(work: Callable[[], object]) -> tuple[float, float]:
    """(wall ms of `work` in a worker thread, the longest ms the event loop waited beyond its tick meanwhile)."""
    longest = 0.0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal longest
        while not done.is_set():
            before = time.perf_counter()
            await anyio.sleep(TICK)
            longest = max(longest, time.perf_counter() - before - TICK)

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        start = time.perf_counter()
        await anyio.to_thread.run_sync(work)
        wall = time.perf_counter() - start
        done.set()
    return wall * 1000, longest * 1000


async def measure(make: Callable[[int], Any], entries: int, *, in_pieces: bool) -> Held:
    """One shape, made and freed the way the server does (`in_pieces`) or in one call and one `del`."""
    holder = [make(entries)]
    gc.collect()
    run = Run(id="r1", status="completed", result=holder[0])
    if in_pieces:
        make_ms, make_hold = await _held(lambda: render_text(run_report(run, max_chars=100_000)))
        free_ms, free_hold = await _held(lambda: release(holder.pop()))
    else:
        compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        make_ms, make_hold = await _held(lambda: compact(run.result))
        run = Run(id="r1", status="completed")
        free_ms, free_hold = await _held(holder.clear)
    return Held(make_ms, make_hold, free_ms, free_hold)


async def run(entries: int = ENTRIES) -> list[Table]:
    table = Table(
        f"Large results by shape: the event loop's longest hold while a report is made off the loop ({entries:,} "
        "entries in the wide part)",
        ["shape", "made in pieces: wall / longest hold", "one encoder call: wall / hold", "freed: release / del"],
    )
    for name, make in SHAPES.items():
        pieces = await measure(make, entries, in_pieces=True)
        whole = await measure(make, entries, in_pieces=False)
        table.add(
            name,
            f"{fmt(pieces.make_ms)} / {fmt(pieces.make_hold_ms, 1)} ms",
            f"{fmt(whole.make_ms)} / {fmt(whole.make_hold_ms, 1)} ms",
            f"{fmt(pieces.free_hold_ms, 1)} / {fmt(whole.free_hold_ms, 1)} ms hold",
        )
    table.notes.append(
        "Made in pieces: `render_text(run_report(...))` of the run in a worker thread, as the server does for a "
        "large result (the report pages the result: of its text, made in pieces, only the first page is kept). One "
        "encoder call: `json.JSONEncoder.encode` of the result in a worker thread. The hold is the longest a 1 ms "
        "ticker on the loop woke late; a collection of the garbage collector, or Python code in the worker running "
        "for a switch interval (5 ms), can add to it in either column."
    )
    return [table]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shapes", description=__doc__)
    parser.add_argument("--entries", type=int, default=ENTRIES)
    args = parser.parse_args(argv)
    tables = anyio.run(run, args.entries)
    print("\n\n".join(table.render() for table in tables))


if __name__ == "__main__":
    main()
