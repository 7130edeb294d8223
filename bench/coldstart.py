"""Cold start and idle memory: spawn -> answered `tools/list` over stdio, ours against a minimal one-tool MCPServer.

All servers run from the same interpreter and environment, in turn (the order reversed every other round), in each
protocol era. Besides the wall time, the CPU time the server's threads ran until the answer (Linux schedstat) is
read: on a busy machine it is far steadier than the wall time. After the answer the process idles briefly, then
its resident memory is read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from bench.common import (
    ERAS,
    PYTHON,
    ROOT,
    RawStdio,
    Table,
    median,
    proc_status,
    scheduled_seconds,
    server_env,
    spread,
)

SERVERS = {
    "wave-mcp, API key": (PYTHON, "-m", "wave_mcp"),
    "wave-mcp --sandbox": (PYTHON, "-m", "wave_mcp", "--sandbox"),
    "minimal MCPServer": (PYTHON, str(ROOT / "bench" / "minimal_server.py")),
}
BASELINE = "minimal MCPServer"
IDLE_SECONDS = 0.3
BAR = 1.15


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: list[float] = field(default_factory=list)


def _env() -> dict[str, str]:
    """A key and the default (https) API URL: the production set-up. `--sandbox` replaces both."""
    env = server_env("https://api.wave.stream")
    del env["WAVE_API_URL"]
    return env


async def one_start(command: tuple[str, ...], era: str) -> tuple[float, float, int]:
    """Wall and CPU seconds from spawn to both answers (session opening, tools/list); RSS after a short idle."""
    env = _env()
    started = time.perf_counter()
    client = await RawStdio.spawn(command, env=env)
    try:
        messages, ids = client.start_messages(era)
        await client.send(*messages)
        answers = await client.answers(ids)
        wall = time.perf_counter() - started
        cpu, _ = scheduled_seconds(client.process.pid)
        if not answers[max(ids)]["result"]["tools"]:
            raise RuntimeError(f"{command} listed no tools")
        await anyio.sleep(IDLE_SECONDS)
        rss = proc_status(client.process.pid)["VmRSS"]
    finally:
        await client.close()
    return wall, cpu, rss


async def measure(runs: int, eras: Sequence[str] = ERAS) -> dict[tuple[str, str], Samples]:
    """`runs` starts of each server in each era, reversing the order every other round."""
    samples = {(name, era): Samples() for name in SERVERS for era in eras}
    for i in range(runs):
        for era in eras:
            order = list(SERVERS.items())
            if i % 2:
                order.reverse()
            for name, command in order:
                wall, cpu, rss = await one_start(command, era)
                samples[name, era].wall.append(wall * 1000)
                samples[name, era].cpu.append(cpu * 1000)
                samples[name, era].rss_kib.append(rss)
    return samples


def paired_ratio(ours: Sequence[float], base: Sequence[float]) -> float:
    """The median of the ratios of runs made in the same round: slow drifts of a shared machine cancel out."""
    return median([a / b for a, b in zip(ours, base, strict=True)])


def table(samples: dict[tuple[str, str], Samples], runs: int, eras: Sequence[str] = ERAS) -> Table:
    result = Table(
        f"Cold start and idle memory: spawn to answered tools/list over stdio ({runs} rounds, servers in turn)",
        [
            "era",
            "server",
            "wall ms, median (p25-p75)",
            "ratio",
            "CPU ms, median (p25-p75)",
            "ratio",
            "idle RSS MiB",
            "ratio",
            f"bar: wall <= {BAR}x",
        ],
    )
    for era in eras:
        base = samples[BASELINE, era]
        for name in SERVERS:
            s = samples[name, era]
            wall_ratio = paired_ratio(s.wall, base.wall)
            verdict = "baseline" if name == BASELINE else ("met" if wall_ratio <= BAR else "**missed**")
            result.add(
                era,
                name,
                spread(s.wall),
                f"{wall_ratio:.2f}x",
                spread(s.cpu),
                f"{paired_ratio(s.cpu, base.cpu):.2f}x",
                spread([k / 1024 for k in s.rss_kib], 1),
                f"{paired_ratio(s.rss_kib, base.rss_kib):.2f}x",
                verdict,
            )
    result.notes.append(
        "Spawn to the answers of the session opening (`initialize` + `tools/list` for 2025-11-25, `server/discover`"
        " + `tools/list` for 2026-07-28), raw JSON-RPC lines. Each round starts every server once (the order"
        " reversed every other round); ratios are medians of the ratios within a round. CPU: time the server's"
        " threads ran until the answer (Linux schedstat). Idle RSS: resident memory"
        f" {IDLE_SECONDS:g} s after the answer. With an API key the server is set up for the real API (https;"
        " nothing is sent before a tool call)."
    )
    return result


PARTS_SCRIPT = """
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
from mcp.server.mcpserver import MCPServer
mark("import the SDK (mcp.server.mcpserver)")
import rich.console, rich.logging
mark("import rich: MCPServer() builds a RichHandler for its logging (both servers)")
minimal = MCPServer("minimal")
@minimal.tool()
async def add(a: int, b: int) -> int:
    return a + b
mark("build the minimal one-tool server")
from wave_mcp.cli import parse_args
from wave_mcp.config import load_settings
args = parse_args([])
mark("wave-mcp: import the CLI and settings (pydantic-settings), parse flags")
import wave_mcp.server
mark("wave-mcp: import the server, client, waiting, reports, models")
from wave_mcp.server import build_server
settings = load_settings({})
server = build_server(settings)
mark("wave-mcp: load settings, build the server (its tools and their schemas)")
from wave_mcp.catalog import load_catalog
load_catalog(load_settings({"sandbox": True}).catalog)
import wave_mcp.sandbox
wave_mcp.sandbox.create_app()
mark("wave-mcp --sandbox only: load the example catalog (imports jsonschema), build the sandbox API")
import httpx2
httpx2.AsyncHTTPTransport()
mark("deferred to the first request: the HTTP transport and its TLS context")
import stamina
mark("deferred to the first read: import stamina and tenacity")
print(json.dumps([[name, (t - marks[i][1]) * 1000] for i, (name, t) in enumerate(marks[1:])]))
"""


async def parts(runs: int) -> Table:
    """Where the start-up goes, measured inside fresh interpreters (`runs` of them, medians)."""
    results: list[list[tuple[str, float]]] = []
    for _ in range(runs):
        process = await anyio.run_process([PYTHON, "-c", PARTS_SCRIPT], cwd=ROOT, env=_env())
        results.append([(name, ms) for name, ms in json.loads(process.stdout)])
    out = Table(f"Start-up by part, in process (ms, median and p25-p75 of {runs} fresh interpreters)", ["part", "ms"])
    for i, (name, _) in enumerate(results[0]):
        out.add(name, spread([r[i][1] for r in results], 1))
    out.notes.append(
        "The parts run in this order in one interpreter, so each is what it adds to the ones before. The last two"
        " were on the way to the first answer before this work; now the first request and the first read pay them."
    )
    return out


async def run(runs: int = 7, eras: Sequence[str] = ERAS, part_runs: int = 9) -> list[Table]:
    return [table(await measure(runs, eras), runs, eras), await parts(part_runs)]
