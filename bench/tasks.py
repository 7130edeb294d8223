"""Runs as tasks: what a client that honours `pollIntervalMs` costs and how soon it learns the end, beside our own
blocking wait; and what one `tasks/get` costs over Streamable HTTP beside `get_run` and a minimal server's GET.

The pace is simulated: the run service over a scripted API on a fake clock (a run of T seconds, T +- 5 %), followed
as a task (start, then `look` after each `next_look`) and as the model follows it today (execute, then
`wait_for_run` with 30 s budgets until it ends). The cost is measured: the real servers on loopback, one core each
(`taskset`), called one at a time by the SDK's client for a fixed time, in rotating rounds.
"""

from __future__ import annotations

import math
import random
import shutil
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import httpx2
from mcp import Client
from mcp.client.extension import advertise
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Request, RequestParams, Result
from pydantic import ConfigDict, Field

from bench.common import BENCH_KEY, PYTHON, ROOT, Table, fmt, free_port, sandbox_process, server_env
from wave_mcp.catalog import Catalog
from wave_mcp.client import WaveClient
from wave_mcp.guard import Guard
from wave_mcp.redact import Secrets
from wave_mcp.runs import RunService
from wave_mcp.tasks import TASKS_EXTENSION
from wave_mcp.waiting import PollSchedule

LENGTHS = (1.0, 10.0, 120.0)
WAIT_BUDGET = 30.0
EXAMPLE_WORKFLOW = "8988f685-2b8c-4a09-9955-150426265d32"


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@asynccontextmanager
async def simulated(length: float, time_: FakeTime) -> AsyncIterator[tuple[RunService, list[float]]]:
    """A run service over an API whose one run ends `length` fake seconds after its start; and the times of GETs."""
    gets: list[float] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            return httpx2.Response(200, json={"id": "run-1", "status": "running"})
        gets.append(time_.now)
        return httpx2.Response(200, json={"id": "run-1", "status": "completed" if time_.now >= length else "running"})

    http = httpx2.AsyncClient(base_url="https://wave.bench", transport=httpx2.MockTransport(answer))
    client = WaveClient(http, secrets=Secrets(), own_key=True, max_response_bytes=1_000_000, call_timeout=30)
    yield (
        RunService(
            client,
            catalog=Catalog(),
            guard=Guard(),
            schedule=PollSchedule(),
            max_chars=40_000,
            secrets=Secrets(),
            clock=time_,
            sleep=time_.sleep,
        ),
        gets,
    )
    await http.aclose()


async def as_task(length: float) -> tuple[int, float]:
    """A client that follows the task at the pace it is told: (GETs, lag)."""
    time_ = FakeTime()
    async with simulated(length, time_) as (service, gets):
        run_id = (await service.start("wf", {})).id
        await time_.sleep(service.next_look(run_id))
        while (look := await service.look(run_id)).running:
            await time_.sleep(look.next_look)
    return len(gets), time_.now - length


async def blocking(length: float) -> tuple[int, float]:
    """The model's way: execute, then wait_for_run with 30 s budgets until the run ends: (GETs, lag)."""
    time_ = FakeTime()
    async with simulated(length, time_) as (service, gets):
        run_id = (await service.start("wf", {})).id
        while (await service.wait(run_id, WAIT_BUDGET)).timed_out:
            pass
    return len(gets), time_.now - length


async def pace(reps: int = 50, seed: int = 20261202) -> Table:
    rng = random.Random(seed)
    table = Table(
        "Tasks: requests and detection lag per run (simulated, default schedule)",
        ["run length", "way", "GETs median / max", "bar: 15 + T/10", "lag median (s)", "lag max (s)"],
    )
    for nominal in LENGTHS:
        lengths = [nominal * rng.uniform(0.95, 1.05) for _ in range(reps)]
        for name, follow in (("task, honouring pollIntervalMs", as_task), ("blocking wait_for_run (30 s)", blocking)):
            results = [await follow(length) for length in lengths]
            gets = [count for count, _ in results]
            lags = [lag for _, lag in results]
            bar = 15 + nominal / 10
            table.add(
                f"{nominal:g} s",
                name,
                f"{statistics.median(gets):.0f} / {max(gets)}",
                f"{bar:g}",
                fmt(statistics.median(lags), 2),
                fmt(max(lags), 2),
            )
    table.notes.append(f"{reps} runs per length, each T +- 5 %; the same lengths for both ways.")
    return table


# ---- cost over Streamable HTTP ------------------------------------------------------------------------------


class AnyResult(Result):
    """Any result, as a tasks-aware client reads `tasks/get` (the tests use these three types too)."""

    model_config = ConfigDict(extra="allow")


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId")


class GetTask(Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskParams
    name_param = "taskId"


def _pinned(core: int, args: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *args] if shutil.which("taskset") else args


async def _serve(args: list[str], env: dict[str, str], port: int) -> Any:
    """Start a server process and wait until its port accepts connections."""
    process = await anyio.open_process(args, env=env, cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            await anyio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{args} did not start")


async def cost(seconds: float = 5.0, rounds: int = 3) -> Table:
    """Calls per second, one at a time, of get_run, tasks/get and the floor's GET, each server on one core."""
    table = Table(
        "Tasks: one `tasks/get` over Streamable HTTP, beside `get_run` and a minimal server (one core each)",
        ["call", "calls/s (median of rounds)", "ms per call", "ratio to get_run"],
    )
    with sandbox_process() as api:
        wave_port, floor_port = free_port(), free_port()
        env = server_env(api.url)
        wave = await _serve(
            _pinned(1, [PYTHON, "-m", "wave_mcp", "serve", "--transport", "http", "--port", str(wave_port)]),
            env,
            wave_port,
        )
        floor = await _serve(
            _pinned(1, [PYTHON, "bench/floor_server.py", api.url, BENCH_KEY, "--http", str(floor_port)]),
            env,
            floor_port,
        )
        try:
            rates = await _measure(wave_port, floor_port, seconds, rounds)
        finally:
            for process in (wave, floor):
                process.terminate()
                await process.wait()
    base = statistics.median(rates["get_run"])
    for name, values in rates.items():
        rate = statistics.median(values)
        table.add(name, fmt(rate, 0), fmt(1000 / rate, 2), fmt(base / rate, 2))
    table.notes.append(f"{rounds} rounds of {seconds:g} s per call; the client runs on another core.")
    return table


async def _measure(wave_port: int, floor_port: int, seconds: float, rounds: int) -> dict[str, list[float]]:
    timeout = httpx2.Timeout(30)
    wave_url, floor_url = f"http://127.0.0.1:{wave_port}/mcp", f"http://127.0.0.1:{floor_port}/mcp"
    async with (
        httpx2.AsyncClient(timeout=timeout) as http_wave,
        httpx2.AsyncClient(timeout=timeout) as http_tasks,
        httpx2.AsyncClient(timeout=timeout) as http_floor,
        Client(streamable_http_client(wave_url, http_client=http_wave)) as wave,
        Client(
            streamable_http_client(wave_url, http_client=http_tasks), extensions=[advertise(TASKS_EXTENSION)]
        ) as tasks,
        Client(streamable_http_client(floor_url, http_client=http_floor)) as floor,
    ):
        started = await wave.call_tool("execute_workflow", {"workflow_id": EXAMPLE_WORKFLOW, "wait_seconds": 5})
        run_id = (started.structured_content or {})["id"]
        task = f"{run_id}@{int(time.time() * 1000)}"
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get_run": lambda: wave.call_tool("get_run", {"run_id": run_id}),
            "tasks/get": lambda: tasks.session.send_request(GetTask(params=TaskParams(taskId=task)), AnyResult),
            "floor: a minimal MCPServer tool doing the same GET": lambda: floor.call_tool(
                "get", {"path": f"/runs/{run_id}"}
            ),
        }
        rates: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                count, began = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - began) < seconds:
                    await call()
                    count += 1
                rates[name].append(count / elapsed if elapsed > 0 else math.nan)
        return rates


async def run(reps: int = 50, seconds: float = 5.0, rounds: int = 3) -> list[Table]:
    return [await pace(reps), await cost(seconds, rounds)]


if __name__ == "__main__":
    for table in anyio.run(run):
        print(table.render(), end="\n\n")
