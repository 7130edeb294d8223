"""Cold start and idle memory: spawn -> answered `tools/list` over stdio, ours against a minimal one-tool MCPServer.

Both servers run from the same interpreter and environment, alternating (A B, B A, ...) in each protocol era.
After each answer the process idles briefly, then its resident memory is read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from bench.common import ERAS, PYTHON, ROOT, RawStdio, Table, median, proc_status, ratio, server_env, spread

SERVERS = {
    "wave-mcp --sandbox": (PYTHON, "-m", "wave_mcp", "--sandbox"),
    "wave-mcp, API key": (PYTHON, "-m", "wave_mcp"),
    "minimal MCPServer": (PYTHON, str(ROOT / "bench" / "minimal_server.py")),
}
BASELINE = "minimal MCPServer"
IDLE_SECONDS = 0.3
BAR = 1.15


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[float] = field(default_factory=list)


def _env() -> dict[str, str]:
    """A key and the default (https) API URL: the production set-up. `--sandbox` replaces both."""
    env = server_env("https://api.wave.stream")
    del env["WAVE_API_URL"]
    return env


async def one_start(command: tuple[str, ...], era: str) -> tuple[float, int]:
    """Seconds from spawn to both answers (session opening and tools/list), and RSS after a short idle."""
    env = _env()
    started = time.perf_counter()
    client = await RawStdio.spawn(command, env=env)
    try:
        messages, ids = client.start_messages(era)
        await client.send(*messages)
        answers = await client.answers(ids)
        elapsed = time.perf_counter() - started
        tools = answers[max(ids)]["result"]["tools"]
        if not tools:
            raise RuntimeError(f"{command} listed no tools")
        await anyio.sleep(IDLE_SECONDS)
        rss = proc_status(client.process.pid)["VmRSS"]
    finally:
        await client.close()
    return elapsed, rss


async def measure(runs: int, eras: Sequence[str] = ERAS) -> dict[tuple[str, str], Samples]:
    """`runs` starts of each server in each era, alternating which goes first."""
    samples = {(name, era): Samples() for name in SERVERS for era in eras}
    for i in range(runs):
        for era in eras:
            order = list(SERVERS.items())
            if i % 2:
                order.reverse()
            for name, command in order:
                seconds, rss = await one_start(command, era)
                samples[name, era].seconds.append(seconds)
                samples[name, era].rss_kib.append(rss)
    return samples


def tables(samples: dict[tuple[str, str], Samples], runs: int, eras: Sequence[str] = ERAS) -> list[Table]:
    ours = [name for name in SERVERS if name != BASELINE]
    start = Table(
        f"Cold start: spawn to answered tools/list over stdio (ms, median and p25-p75, {runs} runs each)",
        ["protocol era", *ours, BASELINE, *(f"ratio, {name}" for name in ours), f"bar <= {BAR}x"],
    )
    memory = Table(
        f"Idle memory: resident set {IDLE_SECONDS} s after answering tools/list (MiB, median and p25-p75)",
        ["protocol era", *ours, BASELINE, *(f"ratio, {name}" for name in ours)],
    )
    for era in eras:
        ms = {name: [s * 1000 for s in samples[name, era].seconds] for name in SERVERS}
        mib = {name: [k / 1024 for k in samples[name, era].rss_kib] for name in SERVERS}
        base_ms, base_mib = median(ms[BASELINE]), median(mib[BASELINE])
        worst = max(median(ms[name]) / base_ms for name in ours)
        start.add(
            era,
            *(spread(ms[name]) for name in ours),
            spread(ms[BASELINE]),
            *(ratio(median(ms[name]), base_ms) for name in ours),
            _verdict(worst <= BAR),
        )
        memory.add(
            era,
            *(spread(mib[name], 1) for name in ours),
            spread(mib[BASELINE], 1),
            *(ratio(median(mib[name]), base_mib) for name in ours),
        )
    start.notes.append(
        "Spawn to the answers of the session opening (`initialize` + `tools/list` for 2025-11-25, `server/discover`"
        " + `tools/list` for 2026-07-28), raw JSON-RPC lines; runs alternate which server goes first. With an API"
        " key the server is set up for the real API (https, nothing is sent before a tool call)."
    )
    return [start, memory]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


async def run(runs: int = 7, eras: Sequence[str] = ERAS) -> list[Table]:
    return tables(await measure(runs, eras), runs, eras)
