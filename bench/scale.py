"""Scale: many concurrent `wait_for_run` calls in one server process, against the sandbox in another process.

The runs are started directly on the sandbox; then one SDK client session over stdio issues every wait at once.
Measured on the server process: wall time, CPU time per poll, resident memory before and at peak.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from bench.common import BENCH_KEY, PYTHON, ROOT, Table, cpu_seconds, fmt, proc_status, sandbox_process, server_env

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
    sandbox_cpu: float
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


def _children() -> dict[int, bytes]:
    """This process's children and their command lines."""
    found: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            if parent == os.getpid():
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
    return found


def _new_server(before: dict[int, bytes]) -> int:
    """The pid of the server the stdio client has just spawned."""
    new = [pid for pid, cmdline in _children().items() if pid not in before and b"wave_mcp" in cmdline]
    if len(new) != 1:
        raise RuntimeError(f"expected one new server process, found {new}")
    return new[0]


def _correct(results: list[tuple[str, dict[str, Any], bool]], seconds: float) -> int:
    expected = {"waited_seconds": seconds}
    return sum(
        1
        for run_id, report, is_error in results
        if not is_error
        and report.get("id") == run_id
        and report.get("status") == "completed"
        and report.get("timed_out") is False
        and report.get("result") == expected
    )


async def measure(waits: int, seconds: float = RUN_SECONDS) -> ScaleResult:
    """Start `waits` runs of `seconds` s, then wait for all of them at once through one server process."""
    with sandbox_process() as sandbox:
        async with httpx2.AsyncClient(base_url=sandbox.url, headers={"x-api-key": BENCH_KEY}, timeout=60) as http:
            env = server_env(sandbox.url)
            params = StdioServerParameters(command=PYTHON, args=["-m", "wave_mcp"], env=env, cwd=str(ROOT))
            before = _children()
            async with Client(stdio_client(params, errlog=sys.stderr), mode="legacy", read_timeout_seconds=300) as c:
                pid = _new_server(before)
                await c.list_tools()
                ids = await _start_runs(http, waits, seconds)
                await http.post("/_sandbox/reset")
                rss_before = proc_status(pid)["VmRSS"]
                cpu_before, sandbox_cpu_before = cpu_seconds(pid), cpu_seconds(sandbox.pid)
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
                sandbox_cpu = cpu_seconds(sandbox.pid) - sandbox_cpu_before
                peak = proc_status(pid)["VmHWM"]
            log = (await http.get("/_sandbox/requests")).raise_for_status().json()
    gets = Counter(entry["path"] for entry in log if entry["method"] == "GET")
    return ScaleResult(
        waits=waits,
        correct=_correct(results, seconds),
        wall=wall,
        polls=sum(int(report.get("polls", 0)) for _, report, _ in results),
        sandbox_gets=sum(n for path, n in gets.items() if path.startswith("/runs/")),
        cpu=cpu,
        sandbox_cpu=sandbox_cpu,
        rss_before_kib=rss_before,
        peak_kib=peak,
    )


def table(result: ScaleResult, seconds: float = RUN_SECONDS) -> Table:
    out = Table(f"Scale: {result.waits:,} concurrent wait_for_run calls in one server process", ["measure", "value"])
    out.add("waits correct (completed, right id and result, no error)", f"{result.correct:,} of {result.waits:,}")
    out.add(f"wall time (runs of {seconds:g} s, started just before)", f"{fmt(result.wall, 1)} s")
    out.add("polls (sum of `polls`; GETs the sandbox saw)", f"{result.polls:,} ({result.sandbox_gets:,})")
    out.add("server CPU time, user + system (sandbox's)", f"{fmt(result.cpu, 2)} s ({fmt(result.sandbox_cpu, 2)} s)")
    per_poll = result.cpu / result.polls * 1000 if result.polls else float("nan")
    out.add("server CPU per poll (all its work / polls)", f"{fmt(per_poll, 2)} ms")
    out.add(
        "server resident memory: before the waits / peak",
        f"{result.rss_before_kib / 1024:.1f} MiB / {result.peak_kib / 1024:.1f} MiB",
    )
    out.notes.append(
        "`python -m wave_mcp` over stdio, one SDK client session (2025-11-25) issuing every call at once; the"
        " sandbox (uvicorn) in its own process on loopback. CPU per poll includes the MCP work of the calls."
    )
    return out


async def run(waits: int = 1000, seconds: float = RUN_SECONDS) -> list[Table]:
    return [table(await measure(waits, seconds), seconds)]
