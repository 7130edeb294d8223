"""Scale: many concurrent `wait_for_run` calls in one server process, against the sandbox in another process.

The runs are started directly on the sandbox; then one SDK client session over stdio issues every wait at once.
Measured on the server process: wall time, CPU time per poll, resident memory before and at peak.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from bench.common import (
    BENCH_KEY,
    PYTHON,
    ROOT,
    Table,
    cpu_seconds,
    fmt,
    proc_status,
    sandbox_process,
    server_env,
)

RUN_SECONDS = 10.0
START_CONCURRENCY = 50


@dataclass(frozen=True)
class ScaleResult:
    waits: int
    correct: int
    wall: float
    polls: int
    sandbox_gets: int
    cpu: float
    rss_before_kib: int
    peak_kib: int


async def _start_runs(http: httpx2.AsyncClient, count: int, seconds: float) -> list[str]:
    ids: list[str] = []
    limiter = anyio.CapacityLimiter(START_CONCURRENCY)

    async def start() -> None:
        async with limiter:
            response = await http.post("/workflows/timer/execute", json={"seconds": seconds})
            ids.append(response.raise_for_status().json()["id"])

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(start)
    return ids


def _server_pid(before: set[int]) -> int:
    """The pid of the server the stdio client just spawned: our only new child running wave_mcp."""
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in before:
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError):
                continue
            if parent == _own_pid() and b"wave_mcp" in cmdline:
                found.append(int(entry.name))
    if len(found) != 1:
        raise RuntimeError(f"expected one server process, found {found}")
    return found[0]


def _own_pid() -> int:
    import os

    return os.getpid()


def _pids() -> set[int]:
    from pathlib import Path

    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


async def measure(waits: int, seconds: float = RUN_SECONDS) -> ScaleResult:
    with sandbox_process() as url:
        async with httpx2.AsyncClient(base_url=url, headers={"x-api-key": BENCH_KEY}, timeout=60) as http:
            params = StdioServerParameters(command=PYTHON, args=["-m", "wave_mcp"], env=server_env(url), cwd=str(ROOT))
            before = _pids()
            async with Client(stdio_client(params, errlog=sys.stderr), mode="legacy", read_timeout_seconds=300) as c:
                pid = _server_pid(before)
                await c.list_tools()
                ids = await _start_runs(http, waits, seconds)
                await http.post("/_sandbox/reset")
                rss_before = proc_status(pid)["VmRSS"]
                cpu_before = cpu_seconds(pid)
                results: list[tuple[str, dict[str, Any], bool]] = []

                async def wait(run_id: str) -> None:
                    result = await c.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 6 * seconds})
                    results.append((run_id, result.structured_content or {}, result.is_error))

                began = time.perf_counter()
                async with anyio.create_task_group() as group:
                    for run_id in ids:
                        group.start_soon(wait, run_id)
                wall = time.perf_counter() - began
                cpu = cpu_seconds(pid) - cpu_before
                peak = proc_status(pid)["VmHWM"]
            log = (await http.get("/_sandbox/requests")).raise_for_status().json()
    gets = Counter(entry["path"] for entry in log if entry["method"] == "GET")
    expected = {"waited_seconds": seconds}
    correct = sum(
        1
        for run_id, report, is_error in results
        if not is_error
        and report.get("id") == run_id
        and report.get("status") == "completed"
        and report.get("timed_out") is False
        and report.get("result") == expected
    )
    polls = sum(int(report.get("polls", 0)) for _, report, _ in results)
    return ScaleResult(
        waits=waits,
        correct=correct,
        wall=wall,
        polls=polls,
        sandbox_gets=sum(n for path, n in gets.items() if path.startswith("/runs/")),
        cpu=cpu,
        rss_before_kib=rss_before,
        peak_kib=peak,
    )


def table(result: ScaleResult, seconds: float = RUN_SECONDS) -> Table:
    out = Table(
        f"Scale: {result.waits:,} concurrent wait_for_run calls in one server process",
        ["measure", "value"],
    )
    out.add("waits correct (completed, right id and result, no error)", f"{result.correct:,} of {result.waits:,}")
    out.add(f"wall time (runs of {seconds:g} s, started just before)", f"{fmt(result.wall, 1)} s")
    out.add("polls (sum of `polls`; GETs the sandbox saw)", f"{result.polls:,} ({result.sandbox_gets:,})")
    out.add("server CPU time (user + system)", f"{fmt(result.cpu, 2)} s")
    per_poll = result.cpu / result.polls * 1000 if result.polls else float("nan")
    out.add("server CPU per poll (all of the server's work / polls)", f"{fmt(per_poll, 2)} ms")
    out.add("server resident memory: before the waits / peak", _mib(result.rss_before_kib, result.peak_kib))
    out.notes.append(
        "`python -m wave_mcp` over stdio, one SDK client session (2025-11-25) issuing every call at once; the"
        " sandbox (uvicorn) in its own process on loopback. CPU per poll includes the MCP work of the calls."
    )
    return out


def _mib(before: int, peak: int) -> str:
    return f"{before / 1024:.1f} MiB / {peak / 1024:.1f} MiB"


async def run(waits: int = 1000, seconds: float = RUN_SECONDS) -> list[Table]:
    return [table(await measure(waits, seconds), seconds)]
