"""Big answers: a run whose result is many tiny objects (`{"i":N}`, about 9 bytes each), read by `get_run` over stdio,
while a second request (`ping`) goes to the same server every 10 ms. Reports the longest ping round trip during the
read (how long the event loop was held), how the call ended and the server's peak memory.

`python -m bench.biganswer [--size BYTES] [--max-response-bytes N] [--server-root DIR]`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from bench.common import BENCH_KEY, PYTHON, ROOT, RawStdio, Table, proc_status, sandbox_process, server_env

SIZE = 19_000_000
PING_EVERY = 0.01
REST_SECONDS = 2.0


@dataclass(frozen=True)
class BigResult:
    label: str
    size: int
    call_seconds: float
    outcome: str
    ping_max_ms: float
    pings: int
    rest_max_ms: float
    peak_mib: float


async def measure(size: int, label: str, server_root: Path = ROOT, **settings: str) -> BigResult:
    """One get_run of a result of about `size` bytes of tiny objects, with pings alongside."""
    with sandbox_process() as sandbox:
        async with httpx2.AsyncClient(base_url=sandbox.url, headers={"x-api-key": BENCH_KEY}, timeout=60) as http:
            started = await http.post("/workflows/8988f685-2b8c-4a09-9955-150426265d32/execute", json={})
            run_id = started.raise_for_status().json()["id"]
            await anyio.sleep(1.5)  # the example workflow runs for 1 s
            env = server_env(sandbox.url, **settings)
            server = await RawStdio.spawn([PYTHON, "-m", "wave_mcp"], env=env, cwd=server_root)
            try:
                messages, opening = server.start_messages("2025-11-25")
                await server.send(*messages)
                await server.answers(opening)
                await http.post("/_sandbox/faults", json={"kind": "many", "route": "get", "size": size})
                return await _read_with_pings(server, run_id, size, label)
            finally:
                await server.close()


async def _read_with_pings(server: RawStdio, run_id: str, size: int, label: str) -> BigResult:
    call_id = server.new_id()
    sent: dict[int, float] = {}
    trips: list[float] = []
    done = anyio.Event()
    ended: dict[str, object] = {}

    async def pinger() -> None:
        while not done.is_set():
            ping_id = server.new_id()
            sent[ping_id] = time.perf_counter()
            await server.send({"jsonrpc": "2.0", "id": ping_id, "method": "ping"})
            await anyio.sleep(PING_EVERY)

    async def reader() -> None:
        while True:
            message = await server.receive()
            if message.get("id") == call_id:
                ended["at"], ended["message"] = time.perf_counter(), message
                done.set()
                return
            if message.get("id") in sent:
                trips.append(time.perf_counter() - sent.pop(message["id"]))

    params = {"name": "get_run", "arguments": {"run_id": run_id}}
    call = {"jsonrpc": "2.0", "id": call_id, "method": "tools/call", "params": params}
    async with anyio.create_task_group() as group:
        group.start_soon(reader)
        group.start_soon(pinger)
        await anyio.sleep(REST_SECONDS)  # the pings' round trips at rest, for comparison
        at_rest, trips[:] = list(trips), []
        began = time.perf_counter()
        await server.send(call)
    message = ended["message"]
    assert isinstance(message, dict)
    result = message.get("result") or {}
    text = (result.get("content") or [{}])[0].get("text", str(message.get("error")))
    outcome = ("error: " if result.get("isError") else "result: ") + text.splitlines()[0][:110]
    peak = proc_status(server.process.pid)["VmHWM"] / 1024
    call_seconds = float(ended["at"]) - began  # type: ignore[arg-type]
    longest, rest = max(trips, default=float("nan")) * 1000, max(at_rest, default=float("nan")) * 1000
    return BigResult(label, size, call_seconds, outcome, longest, len(trips), rest, peak)


def table(results: list[BigResult]) -> Table:
    out = Table(
        "Big answers: get_run of a result of many tiny objects, with a ping every 10 ms alongside (stdio)",
        ["server", "answer", "call took", "longest ping round trip (at rest)", "pings", "peak RSS", "how it ended"],
    )
    for r in results:
        out.add(
            r.label,
            f"{r.size / 1e6:.0f} MB",
            f"{r.call_seconds:.2f} s",
            f"{r.ping_max_ms:.0f} ms ({r.rest_max_ms:.0f} ms)",
            f"{r.pings}",
            f"{r.peak_mib:.0f} MiB",
            r.outcome.replace("|", "/"),
        )
    out.notes.append(
        'The sandbox (uvicorn, own process) answers GET /runs/{id} with about SIZE bytes of `{"i":N}` objects'
        " (its `many` fault). A ping round trip is how long the server took to answer a `ping` sent while it read the"
        " answer: the longest one is how long its event loop was held. At rest: the same, in the two seconds before the"
        " call, on the same (shared) machine."
    )
    return out


async def run(size: int = SIZE) -> list[Table]:
    results = [
        await measure(size, "default bound"),
        await measure(size, "WAVE_MAX_RESPONSE_BYTES=20000000", max_response_bytes="20000000"),
    ]
    return [table(results)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.biganswer", description=__doc__)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--max-response-bytes", type=int, action="append")
    parser.add_argument("--server-root", type=Path, default=ROOT)
    args = parser.parse_args(argv)

    async def go() -> str:
        bounds = args.max_response_bytes or [None, 20_000_000]
        results = []
        for bound in bounds:
            label = "default bound" if bound is None else f"WAVE_MAX_RESPONSE_BYTES={bound}"
            if args.server_root != ROOT:
                label += f" ({args.server_root.name})"
            extra = {} if bound is None else {"max_response_bytes": str(bound)}
            results.append(await measure(args.size, label, args.server_root, **extra))
        return table(results).render()

    print(anyio.run(go))


if __name__ == "__main__":
    main()
