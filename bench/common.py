"""What every benchmark shares: statistics, the Markdown table, processes (sandbox, servers) and a raw stdio client."""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BENCH_KEY = "bench-key-0f3c9a"
"""The key the benchmark's sandbox accepts; it is not a secret of anyone's."""

ERAS = ("2025-11-25", "2026-07-28")
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


# ---- statistics and the table ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def fmt(value: float, digits: int = 0) -> str:
    """A number for the table; a dash for NaN."""
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """Median with its interquartile range, e.g. `512 ms (505-530)`."""
    if not values:
        return "-"
    low, high = percentile(values, 25), percentile(values, 75)
    return f"{fmt(median(values), digits)}{unit} ({fmt(low, digits)}-{fmt(high, digits)})"


def ratio(ours: float, base: float) -> str:
    return "-" if not base or math.isnan(ours) or math.isnan(base) else f"{ours / base:.2f}x"


@dataclass
class Table:
    """A Markdown table under a heading, with notes below it."""

    title: str
    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"row has {len(cells)} cells, the table {len(self.headers)} columns")
        self.rows.append(cells)

    def render(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join(" --- " for _ in self.headers) + "|")
        lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(self.notes)
        return "\n".join(lines)


# ---- processes --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process in KiB, from /proc (Linux)."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def scheduled_seconds(pid: int) -> tuple[float, float]:
    """Seconds a process's threads have run on a CPU, and waited for one, so far (Linux schedstat, ns resolution).

    Unlike wall time, the first is barely touched by other processes competing for the CPUs.
    """
    running = waiting = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue
        running += int(fields[0])
        waiting += int(fields[1])
    return running / 1e9, waiting / 1e9


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sandbox:
    """The sandbox API in its own process."""

    url: str
    pid: int


@contextmanager
def sandbox_process(time_scale: float = 1.0) -> Iterator[Sandbox]:
    """The sandbox API served by uvicorn in its own process on a loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "wave_mcp", "sandbox", "--port", str(port), "--key", BENCH_KEY, "--time-scale", str(time_scale)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox process did not start") from None
                time.sleep(0.05)
        yield Sandbox(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def server_env(api_url: str, **settings: str) -> dict[str, str]:
    """Environment for `python -m wave_mcp` against the benchmark's sandbox; `settings` are further WAVE_* values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVE_")}
    env.update({"WAVE_API_URL": api_url, "WAVE_API_KEY": BENCH_KEY, "WAVE_LOG_LEVEL": "WARNING"})
    env.update({f"WAVE_{name.upper()}": value for name, value in settings.items()})
    return env


# ---- a raw JSON-RPC client over stdio -----------------------------------------------------------------------


class RawStdio:
    """A server process spoken to in raw JSON-RPC lines: the least client-side work there can be."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self._next_id = 0

    @classmethod
    async def spawn(cls, command: Sequence[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> RawStdio:
        process = await anyio.open_process(list(command), env=env, cwd=cwd, stderr=subprocess.DEVNULL)
        return cls(process)

    async def send(self, *messages: dict[str, Any]) -> None:
        await self._stdin.send(b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n" for m in messages))

    async def receive(self) -> dict[str, Any]:
        line = await self._stdout.receive_until(b"\n", 100_000_000)
        message: dict[str, Any] = json.loads(line)
        return message

    async def answers(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        """Read until every id in `ids` has its answer; notifications are skipped."""
        got: dict[int, dict[str, Any]] = {}
        while not ids <= got.keys():
            message = await self.receive()
            if "id" in message and ("result" in message or "error" in message):
                got[message["id"]] = message
        return got

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def start_messages(self, era: str) -> tuple[list[dict[str, Any]], set[int]]:
        """The opening of a session in `era` followed by tools/list, and the ids to wait for."""
        first, second = self.new_id(), self.new_id()
        messages: list[dict[str, Any]]
        if era == "2025-11-25":
            init = {
                "protocolVersion": era,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"},
            }
            messages = [
                {"jsonrpc": "2.0", "id": first, "method": "initialize", "params": init},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": second, "method": "tools/list"},
            ]
        else:
            meta = {"_meta": MODERN_META}
            messages = [
                {"jsonrpc": "2.0", "id": first, "method": "server/discover", "params": meta},
                {"jsonrpc": "2.0", "id": second, "method": "tools/list", "params": meta},
            ]
        return messages, {first, second}

    async def call(self, era: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """One tools/call and its result (raises on a JSON-RPC error)."""
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        if era != "2025-11-25":
            params["_meta"] = MODERN_META
        request_id = self.new_id()
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
        answer = (await self.answers({request_id}))[request_id]
        if "error" in answer:
            raise RuntimeError(f"tools/call {tool} failed: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def close(self) -> None:
        await self._stdin.aclose()
        with anyio.move_on_after(5):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
