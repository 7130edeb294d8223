"""Deadlines: `get_run` against an answer trickled a byte every second (each byte resets the read timeout), over stdio,
with WAVE_REQUEST_TIMEOUT=5. The call must end strictly before 6 s (its timeout plus one second).

`python -m bench.trickle [--calls N] [--server-root DIR]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import anyio
import httpx2

from bench.common import BENCH_KEY, PYTHON, ROOT, RawStdio, Table, fmt, percentile, sandbox_process, server_env

TIMEOUT = 5.0


async def measure(calls: int, server_root: Path = ROOT) -> list[float]:
    """How long each of `calls` get_run calls took against a trickled answer."""
    took: list[float] = []
    with sandbox_process() as sandbox:
        async with httpx2.AsyncClient(base_url=sandbox.url, headers={"x-api-key": BENCH_KEY}, timeout=60) as http:
            started = await http.post("/workflows/8988f685-2b8c-4a09-9955-150426265d32/execute", json={})
            run_id = started.raise_for_status().json()["id"]
            env = server_env(sandbox.url, request_timeout=str(TIMEOUT))
            server = await RawStdio.spawn([PYTHON, "-m", "wave_mcp"], env=env, cwd=server_root)
            try:
                messages, opening = server.start_messages("2025-11-25")
                await server.send(*messages)
                await server.answers(opening)
                for _ in range(calls):
                    fault = {"kind": "trickle", "route": "get", "times": 10, "interval": 1.0}
                    await http.post("/_sandbox/faults", json=fault)
                    began = time.perf_counter()
                    await server.call("2025-11-25", "get_run", {"run_id": run_id})
                    took.append(time.perf_counter() - began)
                    await http.post("/_sandbox/reset")
            finally:
                await server.close()
    return took


def table(rows: list[tuple[str, list[float]]]) -> Table:
    out = Table(
        f"Deadlines: get_run against an answer trickled a byte a second, WAVE_REQUEST_TIMEOUT={TIMEOUT:g}",
        ["server", "calls", "ended median", "max", f"before {TIMEOUT + 1:g} s"],
    )
    for label, took in rows:
        out.add(
            label,
            f"{len(took)}",
            f"{fmt(percentile(took, 50), 3)} s",
            f"{fmt(max(took), 3)} s",
            f"{sum(1 for t in took if t < TIMEOUT + 1)} of {len(took)}",
        )
    out.notes.append("Over stdio (raw JSON-RPC), the sandbox in its own process; each call is one tools/call.")
    return out


async def run(calls: int = 5) -> list[Table]:
    return [table([("this checkout", await measure(calls))])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trickle", description=__doc__)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--server-root", type=Path, action="append")
    args = parser.parse_args(argv)

    async def go() -> str:
        roots = args.server_root or [ROOT]
        rows = [(str(root) if root != ROOT else "this checkout", await measure(args.calls, root)) for root in roots]
        return table(rows).render()

    print(anyio.run(go))


if __name__ == "__main__":
    main()
