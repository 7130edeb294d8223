"""Capacity: N concurrent `wait_for_run(timeout_seconds=T)` on runs that outlast them, over one stdio session (and over
Streamable HTTP), against the sandbox in its own process on the same machine. Each wait should end by T + 1.5 s.

Reports when each call ended after it was issued (p50, p99, max), the server's CPU per poll and the GETs the sandbox
saw. `python -m bench.capacity [--waits N] [--timeout T] [--transport stdio|http] [--server-root DIR]`
(`--server-root` serves another checkout of wave_mcp, e.g. the code before a change, for a before/after figure).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from bench.common import (
    BENCH_KEY,
    PYTHON,
    ROOT,
    RawStdio,
    Table,
    cpu_seconds,
    fmt,
    free_port,
    percentile,
    proc_status,
    sandbox_process,
    server_env,
)
from bench.scale import _children, _new_server, _start_runs

RUN_SECONDS = 600.0
"""The runs outlast every wait: each wait ends by its timeout."""
PROMISE = 1.5


@dataclass(frozen=True)
class CapacityResult:
    transport: str
    waits: int
    timeout: float
    ends: list[float]
    served: list[float]
    """`elapsed_seconds` of each report: the wait as the server measured it."""
    errors: int
    polls: int
    gets: int
    cpu: float
    peak_kib: int

    @property
    def cpu_per_poll_ms(self) -> float:
        return self.cpu / self.gets * 1000 if self.gets else float("nan")


async def _wait_all(client: Client, ids: list[str], seconds: float) -> tuple[list[float], list[float], int, int]:
    """Issue every wait at once; when each ended (seconds after it was issued), its elapsed_seconds, errors, polls."""
    ends: list[float] = []
    served: list[float] = []
    errors = polls = 0

    async def wait(run_id: str) -> None:
        nonlocal errors, polls
        began = time.perf_counter()
        try:
            result = await client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": seconds})
        except Exception:
            errors += 1
            return
        ends.append(time.perf_counter() - began)
        errors += bool(result.is_error)
        report = result.structured_content or {}
        polls += int(report.get("polls", 0))
        served.append(float(report.get("elapsed_seconds", "nan")))

    async with anyio.create_task_group() as group:
        for run_id in ids:
            group.start_soon(wait, run_id)
    return ends, served, errors, polls


async def measure(
    waits: int, seconds: float, transport: str = "stdio", server_root: Path = ROOT, **settings: str
) -> CapacityResult:
    """Start `waits` long runs, then wait for all of them at once through one server process."""
    with sandbox_process() as sandbox:
        async with httpx2.AsyncClient(base_url=sandbox.url, headers={"x-api-key": BENCH_KEY}, timeout=60) as http:
            ids = await _start_runs(http, waits, RUN_SECONDS)
            await http.post("/_sandbox/reset")
            env = server_env(sandbox.url, **settings)
            if transport == "raw-stdio":
                raw = await RawStdio.spawn([PYTHON, "-m", "wave_mcp"], env=env, cwd=server_root)
                try:
                    result = await _raw_measured(raw, ids, seconds)
                finally:
                    await raw.close()
            elif transport == "stdio":
                params = StdioServerParameters(command=PYTHON, args=["-m", "wave_mcp"], env=env, cwd=str(server_root))
                before = _children()
                spawned = stdio_client(params, errlog=sys.stderr)
                async with Client(spawned, mode="legacy", read_timeout_seconds=120) as c:
                    pid = _new_server(before)
                    result = await _measured(c, pid, ids, seconds)
            else:
                port = free_port()
                command = [PYTHON, "-m", "wave_mcp", "serve", "--transport", "http", "--port", str(port)]
                server = subprocess.Popen(command, env=env, cwd=server_root, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
                try:
                    await _healthy(f"http://127.0.0.1:{port}")
                    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=100)
                    timeout = httpx2.Timeout(60, read=300)
                    async with (
                        httpx2.AsyncClient(limits=limits, timeout=timeout) as pool,
                        Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=pool)) as c,
                    ):
                        result = await _measured(c, server.pid, ids, seconds)
                finally:
                    server.terminate()
                    server.wait(timeout=10)
            log = (await http.get("/_sandbox/requests")).raise_for_status().json()
    gets = sum(1 for entry in log if entry["method"] == "GET" and entry["path"].startswith("/runs/"))
    ends, served, errors, polls, cpu, peak = result
    return CapacityResult(transport, waits, seconds, ends, served, errors, polls, gets, cpu, peak)


async def _measured(c: Client, pid: int, ids: list[str], seconds: float) -> tuple[Any, ...]:
    await c.list_tools()
    cpu_before = cpu_seconds(pid)
    ends, served, errors, polls = await _wait_all(c, ids, seconds)
    return ends, served, errors, polls, cpu_seconds(pid) - cpu_before, proc_status(pid)["VmHWM"]


async def _raw_measured(server: RawStdio, ids: list[str], seconds: float) -> tuple[Any, ...]:
    """The waits as raw JSON-RPC lines, all at once: the least client-side work, so the figures are the server's."""
    messages, opening = server.start_messages("2025-11-25")
    await server.send(*messages)
    await server.answers(opening)
    pid = server.process.pid
    cpu_before = cpu_seconds(pid)
    calls = {server.new_id(): run_id for run_id in ids}
    began = time.perf_counter()
    await server.send(
        *(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "wait_for_run", "arguments": {"run_id": run_id, "timeout_seconds": seconds}},
            }
            for request_id, run_id in calls.items()
        )
    )
    ends: list[float] = []
    served: list[float] = []
    errors = polls = 0
    while len(ends) + errors < len(calls):
        message = await server.receive()
        if message.get("id") not in calls:
            continue
        if "error" in message or message["result"].get("isError"):
            errors += 1
            continue
        ends.append(time.perf_counter() - began)
        report = message["result"].get("structuredContent") or {}
        polls += int(report.get("polls", 0))
        served.append(float(report.get("elapsed_seconds", "nan")))
    return ends, served, errors, polls, cpu_seconds(pid) - cpu_before, proc_status(pid)["VmHWM"]


async def _healthy(url: str) -> None:
    async with httpx2.AsyncClient() as http:
        for _ in range(400):
            try:
                if (await http.get(f"{url}/healthz", timeout=1)).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await anyio.sleep(0.05)
    raise RuntimeError("the HTTP server did not start")


def table(results: list[CapacityResult], label: str = "") -> Table:
    waits, timeout = results[0].waits, results[0].timeout
    out = Table(
        f"Capacity: {waits:,} concurrent wait_for_run(timeout_seconds={timeout:g}) in one server process{label}",
        [
            "transport",
            "ended p50",
            "p99",
            "max",
            f"by T+{PROMISE:g} s",
            "server's elapsed p50 / max",
            "errors",
            "polls (GETs)",
            "CPU per GET",
            "peak RSS",
        ],
    )
    for r in results:
        late = sum(1 for end in r.ends if end >= r.timeout + PROMISE) + (r.waits - len(r.ends))
        out.add(
            r.transport,
            f"{fmt(percentile(r.ends, 50), 2)} s",
            f"{fmt(percentile(r.ends, 99), 2)} s",
            f"{fmt(max(r.ends, default=float('nan')), 2)} s",
            f"{r.waits - late:,} of {r.waits:,}",
            f"{fmt(percentile(r.served, 50), 2)} s / {fmt(max(r.served, default=float('nan')), 2)} s",
            f"{r.errors:,}",
            f"{r.polls:,} ({r.gets:,})",
            f"{fmt(r.cpu_per_poll_ms, 2)} ms",
            f"{r.peak_kib / 1024:.0f} MiB",
        )
    out.notes.append(
        "Runs of 600 s started just before, so every wait ends by its timeout. One SDK client session issues every"
        " call at once (stdio: 2025-11-25; HTTP: 2026-07-28, stateless, a connection per call in flight); the sandbox"
        " (uvicorn) in its own process on"
        " loopback, all on the same machine. CPU per GET: the server's CPU time (user + system) during the waits,"
        " MCP work included, over the GETs the sandbox saw."
    )
    return out


async def run(waits: int = 1000, seconds: float = 8.0, transports: tuple[str, ...] = ("stdio", "http")) -> list[Table]:
    return [table([await measure(waits, seconds, transport) for transport in transports])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=8.0)
    parser.add_argument("--transport", choices=("stdio", "raw-stdio", "http"), action="append")
    parser.add_argument("--server-root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    transports = tuple(args.transport or ("stdio", "http"))

    async def go() -> Any:
        results = [await measure(args.waits, args.timeout, t, args.server_root) for t in transports]
        label = "" if args.server_root == ROOT else f" (server: {args.server_root})"
        return table(results, label).render()

    print(anyio.run(go))


if __name__ == "__main__":
    main()
