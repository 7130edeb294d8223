"""Call overhead: `get_run` through MCP (stdio in both eras, in memory) against a raw httpx2 GET of the same run.

The sandbox runs in its own process (uvicorn on loopback). Each round makes one call of every kind, in a rotating
order; "added" is the call's time minus the raw GET of the same round.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp import Client

from bench.common import (
    BENCH_KEY,
    ERAS,
    PYTHON,
    ROOT,
    RawStdio,
    Table,
    fmt,
    median,
    percentile,
    sandbox_process,
    server_env,
    spread,
)
from wave_mcp.config import Settings
from wave_mcp.server import build_server

EXAMPLE_WORKFLOW = "8988f685-2b8c-4a09-9955-150426265d32"
BAR_MS = 2.0
RAW = "raw httpx2 GET /runs/{id}"
FLOOR = "SDK floor: `add` of a minimal MCPServer, stdio"
HTTP_FLOOR = "HTTP floor: a minimal MCPServer tool doing that GET, stdio"

Call = Callable[[], Awaitable[None]]


async def start_run(http: httpx2.AsyncClient) -> str:
    """Start the example workflow and wait until it has completed (the sandbox runs it in a millisecond)."""
    response = await http.post(f"/workflows/{EXAMPLE_WORKFLOW}/execute", json={"param1": "a", "param2": "b"})
    response.raise_for_status()
    run_id: str = response.json()["id"]
    for _ in range(500):
        if (await http.get(f"/runs/{run_id}")).json()["status"] != "running":
            return run_id
        await anyio.sleep(0.01)
    raise RuntimeError("the benchmark's run did not finish")


def check(structured: Any, run_id: str) -> None:
    if not isinstance(structured, dict) or structured.get("id") != run_id or structured.get("status") != "completed":
        raise RuntimeError(f"get_run gave an unexpected answer: {structured!r}")


async def measure(rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each kind, `rounds` rounds after `warmup` unrecorded ones."""
    logging.getLogger().setLevel(logging.WARNING)
    with sandbox_process(time_scale=0.001) as sandbox:
        url = sandbox.url
        async with httpx2.AsyncClient(base_url=url, headers={"x-api-key": BENCH_KEY}) as http:
            run_id = await start_run(http)
            settings = Settings(_env_file=None, api_url=url, api_key=BENCH_KEY, log_level="WARNING")
            stdio = {era: await RawStdio.spawn((PYTHON, "-m", "wave_mcp"), env=server_env(url)) for era in ERAS}
            stdio[FLOOR] = await RawStdio.spawn((PYTHON, str(ROOT / "bench" / "minimal_server.py")))
            stdio[HTTP_FLOOR] = await RawStdio.spawn((PYTHON, str(ROOT / "bench" / "floor_server.py"), url, BENCH_KEY))
            try:
                for era, client in stdio.items():
                    messages, ids = client.start_messages(era if era in ERAS else ERAS[0])
                    await client.send(*messages)
                    await client.answers(ids)
                async with (
                    Client(build_server(settings), mode="auto") as memory_modern,
                    Client(build_server(settings), mode="legacy") as memory_legacy,
                ):
                    calls = _calls(http, run_id, stdio, {ERAS[1]: memory_modern, ERAS[0]: memory_legacy})
                    return await _rounds(calls, rounds, warmup)
            finally:
                for client in stdio.values():
                    await client.close()


def _calls(
    http: httpx2.AsyncClient, run_id: str, stdio: dict[str, RawStdio], memory: dict[str, Client]
) -> dict[str, Call]:
    async def raw() -> None:
        response = await http.get(f"/runs/{run_id}")
        check(response.json(), run_id)

    def over_stdio(era: str) -> Call:
        async def call() -> None:
            result = await stdio[era].call(era, "get_run", {"run_id": run_id})
            check(result.get("structuredContent"), run_id)

        return call

    def in_memory(era: str) -> Call:
        async def call() -> None:
            result = await memory[era].call_tool("get_run", {"run_id": run_id})
            check(result.structured_content, run_id)

        return call

    async def floor() -> None:
        result = await stdio[FLOOR].call(ERAS[0], "add", {"a": 1, "b": 2})
        if result.get("structuredContent") != {"result": 3}:
            raise RuntimeError(f"add gave an unexpected answer: {result!r}")

    async def http_floor() -> None:
        result = await stdio[HTTP_FLOOR].call(ERAS[0], "get", {"path": f"/runs/{run_id}"})
        check(result.get("structuredContent"), run_id)

    calls: dict[str, Call] = {RAW: raw, FLOOR: floor, HTTP_FLOOR: http_floor}
    for era in ERAS:
        calls[f"wave-mcp get_run, stdio, {era}"] = over_stdio(era)
    for era in ERAS:
        calls[f"wave-mcp get_run, in memory (SDK Client), {era}"] = in_memory(era)
    return calls


async def _rounds(calls: dict[str, Call], rounds: int, warmup: int) -> dict[str, list[float]]:
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            began = anyio.current_time()
            await calls[name]()
            if i >= warmup:
                times[name].append(anyio.current_time() - began)
    return times


def table(times: dict[str, list[float]]) -> Table:
    rounds = len(times[RAW])
    result = Table(
        f"Call overhead: get_run of a finished run, sandbox in its own process (ms, {rounds} rounds)",
        [
            "path",
            "latency median (p25-p75)",
            "p95",
            "added to the GET: median",
            "p95",
            "beyond the HTTP floor: median",
            f"bar: stdio adds <= {BAR_MS:g} ms",
        ],
    )
    ms = {name: [t * 1000 for t in values] for name, values in times.items()}
    for name, values in ms.items():
        if name in (RAW, FLOOR, HTTP_FLOOR):
            result.add(name, spread(values, 2), fmt(percentile(values, 95), 2), "-", "-", "-", "reference")
            continue
        added = [a - b for a, b in zip(values, ms[RAW], strict=True)]
        beyond = [a - b for a, b in zip(values, ms[HTTP_FLOOR], strict=True)]
        verdict = ""
        if "stdio" in name:
            verdict = "met" if median(added) <= BAR_MS else "**missed**"
        result.add(
            name,
            spread(values, 2),
            fmt(percentile(values, 95), 2),
            f"+{fmt(median(added), 2)}",
            f"+{fmt(percentile(added, 95), 2)}",
            f"{median(beyond):+.2f}",
            verdict,
        )
    result.notes.append(
        "Over stdio the servers are spoken to in raw JSON-RPC lines (the least client work); in memory the SDK's"
        " `Client(server)` runs in the benchmark's process, its own result validation included. Each round makes"
        " every call once, in a rotating order; differences are paired within a round. The floors are minimal"
        " MCPServers (`bench/minimal_server.py`, `bench/floor_server.py`): what the SDK's stdio path costs with"
        " nothing of ours in it."
    )
    return result


async def run(rounds: int = 300, warmup: int = 30) -> list[Table]:
    return [table(await measure(rounds, warmup))]
