"""Cold start and idle memory: spawn -> answered `tools/list` over stdio, ours against a minimal one-tool MCPServer.

All servers run from the same interpreter and environment, in turn (the order reversed every other round), in each
protocol era. Besides the wall time, the CPU time the server's threads ran until the answer (Linux schedstat) is
read: on a busy machine it is far steadier than the wall time. After the answer the process idles briefly, then
its resident memory is read.
"""

from __future__ import annotations

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
    ratio,
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


def table(samples: dict[tuple[str, str], Samples], runs: int, eras: Sequence[str] = ERAS) -> Table:
    result = Table(
        f"Cold start and idle memory: spawn to answered tools/list over stdio ({runs} runs of each, alternating)",
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
        base_rss = [k / 1024 for k in base.rss_kib]
        for name in SERVERS:
            s = samples[name, era]
            rss = [k / 1024 for k in s.rss_kib]
            wall_ratio = median(s.wall) / median(base.wall)
            result.add(
                era,
                name,
                spread(s.wall),
                ratio(median(s.wall), median(base.wall)),
                spread(s.cpu),
                ratio(median(s.cpu), median(base.cpu)),
                spread(rss, 1),
                ratio(median(rss), median(base_rss)),
                "baseline" if name == BASELINE else ("met" if wall_ratio <= BAR else "**missed**"),
            )
    result.notes.append(
        "Spawn to the answers of the session opening (`initialize` + `tools/list` for 2025-11-25, `server/discover`"
        " + `tools/list` for 2026-07-28), raw JSON-RPC lines. CPU: time the server's threads ran until then (Linux"
        " schedstat), steadier than wall time on a shared machine. Idle RSS: resident memory"
        f" {IDLE_SECONDS:g} s after the answer. With an API key the server is set up for the real API (https;"
        " nothing is sent before a tool call)."
    )
    return result


async def run(runs: int = 7, eras: Sequence[str] = ERAS) -> list[Table]:
    return [table(await measure(runs, eras), runs, eras)]
