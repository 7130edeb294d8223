"""Soak: many get_run calls and waits in one server process; is memory flat?

One MCPServer, one in-memory MCP client (the SDK's `Client(server)`), the sandbox API in process behind
SandboxTransport. After a warm-up: `--gets` get_run calls (default 10,000, over finished runs with a small and a
medium result, and every tenth call a page of a large one), then `--waits` wait_for_run calls (default 1,000, in
concurrent batches of 50, each on a fresh run that finishes after a few polls). At each checkpoint, after a garbage
collection, it records the Python heap in use (tracemalloc), the process's resident memory (RSS) and, without
tracemalloc, the number of allocated memory blocks (`sys.getallocatedblocks`).

The sandbox is the fake API, not the server: its request log and finished timer runs are cleared at each checkpoint,
so that what grows is the server's own memory. The client remembers up to 2,048 run ids it started (to name their
workflow), so the waits add up to that many small entries; everything else should stay flat.

    .venv/bin/python bench/soak.py                  # the full soak (a few minutes on 2 cores)
    .venv/bin/python bench/soak.py --no-tracemalloc # RSS without tracemalloc's own bookkeeping
    .venv/bin/python bench/soak.py --gets 2000 --waits 200 --era legacy
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from rich.console import Console
from rich.table import Table

from wave_mcp.config import Settings
from wave_mcp.logs import configure_logging
from wave_mcp.sandbox import SandboxState, SandboxTransport, create_app
from wave_mcp.server import build_server

TIME_SCALE = 0.01
"""Sandbox runs take a hundredth of their nominal time: a 5 s timer run ends after 50 ms."""
BATCH = 50
"""Waits run this many at a time."""


@dataclass
class Checkpoint:
    label: str
    calls: int
    seconds: float
    heap_bytes: int
    rss_bytes: int
    blocks: int


def rss_bytes() -> int:
    """The process's resident set size, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Soak:
    def __init__(self, client: Client, sandbox: SandboxState, trace: bool) -> None:
        self.client = client
        self.sandbox = sandbox
        self.trace = trace
        self.calls = 0
        self.start = time.monotonic()
        self.points: list[Checkpoint] = []
        self.snapshots: list[tracemalloc.Snapshot] = []

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        self.calls += 1
        if result.is_error or result.structured_content is None:
            raise RuntimeError(f"{tool} failed: {result.content}")
        content: dict[str, Any] = result.structured_content
        return content

    def checkpoint(self, label: str) -> None:
        self.sandbox.requests.clear()
        for run_id in [r for r, run in self.sandbox.runs.items() if run.workflow.id == "timer"]:
            del self.sandbox.runs[run_id]
        gc.collect()
        heap = 0
        if self.trace:  # the heap without tracemalloc's own snapshots
            snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            heap = sum(stat.size for stat in snapshot.statistics("filename"))
            self.snapshots[1:] = [snapshot]
        blocks = sys.getallocatedblocks()
        self.points.append(Checkpoint(label, self.calls, time.monotonic() - self.start, heap, rss_bytes(), blocks))

    async def finished_runs(self) -> list[str]:
        runs = []
        for workflow, params in [
            ("8988f685-2b8c-4a09-9955-150426265d32", {"param1": "a", "param2": "b"}),
            ("monthly-report", {"month": "March", "year": 2026}),
            ("export-orders", {"rows": 1000}),
        ]:
            report = await self.call(
                "execute_workflow", {"workflow_id": workflow, "params": params, "wait_seconds": 10}
            )
            if report["status"] != "completed":
                raise RuntimeError(f"the warm-up run did not complete: {report}")
            runs.append(report["id"])
        return runs

    async def gets(self, count: int, runs: list[str], every: int) -> None:
        for number in range(1, count + 1):
            arguments: dict[str, Any] = {"run_id": runs[number % 2]}
            if number % 10 == 0:  # every tenth call reads the large result, a page at a time
                arguments = {"run_id": runs[2], "result_offset": 40_000 * (number // 10 % 2)}
            report = await self.call("get_run", arguments)
            if report["status"] != "completed":
                raise RuntimeError(f"get_run returned {report['status']}")
            if number % every == 0:
                self.checkpoint(f"{number:,} get_run")

    async def waits(self, count: int, every: int) -> None:
        async def one() -> None:
            started = await self.call("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 5}})
            report = await self.call("wait_for_run", {"run_id": started["id"], "timeout_seconds": 30})
            if report["status"] != "completed" or report["timed_out"]:
                raise RuntimeError(f"a wait did not see its run complete: {report}")

        done = 0
        while done < count:
            size = min(BATCH, count - done)
            async with anyio.create_task_group() as group:
                for _ in range(size):
                    group.start_soon(one)
            done += size
            if done % every == 0 or done == count:
                self.checkpoint(f"{done:,} waits")


def report(points: list[Checkpoint], trace: bool, console: Console) -> None:
    base = points[0]
    table = Table(title="wave-mcp soak: memory after each checkpoint (after gc)")
    columns = ("checkpoint", "tool calls", "elapsed s", "heap MiB", "heap growth KiB", "blocks growth", "RSS MiB")
    for column in (*columns, "RSS growth MiB"):
        table.add_column(column, justify="left" if column == "checkpoint" else "right")
    for point in points:
        table.add_row(
            point.label,
            f"{point.calls:,}",
            f"{point.seconds:.1f}",
            f"{point.heap_bytes / 2**20:.2f}" if trace else "-",
            f"{(point.heap_bytes - base.heap_bytes) / 1024:+,.0f}" if trace else "-",
            f"{point.blocks - base.blocks:+,}" if not trace else "-",
            f"{point.rss_bytes / 2**20:.1f}",
            f"{(point.rss_bytes - base.rss_bytes) / 2**20:+.1f}",
        )
    console.print(table)


async def soak(gets: int, waits: int, era: str, trace: bool, console: Console) -> list[Checkpoint]:
    settings = Settings(_env_file=None, sandbox=True, poll_interval_min=0.05, poll_interval_max=0.5)
    configure_logging("WARNING", [settings.key])
    app = create_app(time_scale=TIME_SCALE)
    server = build_server(settings, transport=SandboxTransport(app=app))
    async with Client(server, mode=era) as client:
        run = Soak(client, app.state.sandbox, trace)
        runs = await run.finished_runs()
        await run.gets(500, runs, every=500)  # warm-up: caches, pools, schema validators
        console.print(f"warm-up done; {gets:,} get_run calls, then {waits:,} waits ({era} era) …")
        run.points.clear()
        run.snapshots.clear()
        run.checkpoint("after warm-up")
        await run.gets(gets, runs, every=max(gets // 5, 1))
        await run.waits(waits, every=max(waits // 5, BATCH))
        if trace:
            growth = run.snapshots[-1].compare_to(run.snapshots[0], "lineno")
            console.print("Largest heap growth by line, first to last checkpoint:")
            for stat in growth[:8]:
                console.print(f"  {stat.size_diff / 1024:+8.1f} KiB {stat.count_diff:+7,} blocks  {stat.traceback}")
        return run.points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gets", type=int, default=10_000, help="get_run calls (default 10,000)")
    parser.add_argument("--waits", type=int, default=1_000, help="wait_for_run calls (default 1,000)")
    parser.add_argument("--era", choices=["auto", "legacy"], default="auto", help="protocol era (default auto)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="measure RSS only (faster)")
    args = parser.parse_args()
    console = Console()
    trace = not args.no_tracemalloc
    if trace:
        tracemalloc.start()
    points = anyio.run(soak, args.gets, args.waits, args.era, trace, console)
    report(points, trace, console)
    if trace:
        console.print(
            "(With tracemalloc, RSS and allocated blocks include its own bookkeeping and the snapshots kept for the "
            "comparison; --no-tracemalloc measures them alone.)"
        )
    first, last = points[0], points[-1]
    calls = last.calls - first.calls
    heap = (
        f"heap growth {(last.heap_bytes - first.heap_bytes) / 1024:+,.0f} KiB "
        f"({(last.heap_bytes - first.heap_bytes) / max(calls, 1):+.1f} bytes per call); "
        if trace
        else ""
    )
    blocks = "" if trace else f"allocated blocks {last.blocks - first.blocks:+,}; "
    console.print(
        f"{calls:,} tool calls in {last.seconds - first.seconds:.0f} s; {heap}{blocks}"
        f"RSS growth {(last.rss_bytes - first.rss_bytes) / 2**20:+.1f} MiB"
    )


if __name__ == "__main__":
    main()
