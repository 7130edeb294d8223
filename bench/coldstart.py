"""Cold start and idle memory: spawn -> answered `tools/list` over stdio, ours against a minimal one-tool MCPServer.

Both servers run from the same interpreter and environment, alternating (A B, B A, ...) in each protocol era.
After each answer the process idles briefly, then its resident memory is read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import anyio

from bench.common import ERAS, PYTHON, ROOT, RawStdio, Table, fmt, median, proc_status, ratio, server_env, spread

OURS = (PYTHON, "-m", "wave_mcp", "--sandbox")
MINIMAL = (PYTHON, str(ROOT / "bench" / "minimal_server.py"))
IDLE_SECONDS = 0.3
BAR = 1.15


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    rss_kib: list[float] = field(default_factory=list)


async def one_start(command: tuple[str, ...], era: str) -> tuple[float, int]:
    """Seconds from spawn to both answers (session opening and tools/list), and RSS after a short idle."""
    env = server_env("http://127.0.0.1:9")  # the sandbox flag replaces it; the minimal server ignores it
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


async def measure(runs: int) -> dict[tuple[str, str], Samples]:
    """`runs` starts of each server in each era, alternating which goes first."""
    samples = {(name, era): Samples() for name in ("ours", "minimal") for era in ERAS}
    for i in range(runs):
        for era in ERAS:
            order = [("ours", OURS), ("minimal", MINIMAL)]
            if i % 2:
                order.reverse()
            for name, command in order:
                seconds, rss = await one_start(command, era)
                samples[name, era].seconds.append(seconds)
                samples[name, era].rss_kib.append(rss)
    return samples


def tables(samples: dict[tuple[str, str], Samples], runs: int) -> list[Table]:
    start = Table(
        f"Cold start: spawn to answered tools/list over stdio (ms, median and p25-p75, {runs} runs each)",
        ["protocol era", "wave-mcp --sandbox", "minimal MCPServer", "ratio", f"bar <= {BAR}x"],
    )
    memory = Table(
        f"Idle memory: resident set {IDLE_SECONDS} s after answering tools/list (MiB, median and p25-p75)",
        ["protocol era", "wave-mcp --sandbox", "minimal MCPServer", "ratio", "difference"],
    )
    for era in ERAS:
        ours, base = samples["ours", era], samples["minimal", era]
        ours_ms = [s * 1000 for s in ours.seconds]
        base_ms = [s * 1000 for s in base.seconds]
        r = median(ours_ms) / median(base_ms)
        start.add(era, spread(ours_ms), spread(base_ms), ratio(median(ours_ms), median(base_ms)), _verdict(r <= BAR))
        ours_mib = [k / 1024 for k in ours.rss_kib]
        base_mib = [k / 1024 for k in base.rss_kib]
        memory.add(
            era,
            spread(ours_mib, 1),
            spread(base_mib, 1),
            ratio(median(ours_mib), median(base_mib)),
            f"+{fmt(median(ours_mib) - median(base_mib), 1)} MiB",
        )
    start.notes.append(
        "Spawn to the answers of the session opening (`initialize` + `tools/list` for 2025-11-25, `server/discover`"
        " + `tools/list` for 2026-07-28), raw JSON-RPC lines, runs alternating which server goes first."
    )
    return [start, memory]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


async def run(runs: int = 7) -> list[Table]:
    return tables(await measure(runs), runs)
