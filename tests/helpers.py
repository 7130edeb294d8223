"""What the tests share besides fixtures: the test key and the example workflow, settings, environments and a runner
for subprocesses, readers of tool results, a client that checks every result for the key, the pinned tool listing,
one log of progress notifications, one fake clock (and a simulated API on it for the wait loop), and a way to wait
for a state (of the sandbox, say) instead of for a time.

Test modules import from here; `conftest.py` keeps only fixtures and hooks.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time as wall
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from mcp import Client
from mcp.types import CallToolResult, TextContent, Tool

from wave_mcp.config import Settings
from wave_mcp.errors import WaveError
from wave_mcp.models import Run
from wave_mcp.sandbox import wave_timestamp
from wave_mcp.waiting import PollSchedule, WaitOutcome, wait_for_run

API_KEY = "wk_test_5f1e9c3a7b2d4e6f8a0c"
"""The key every test uses: distinctive, so that any leak of it into output is found."""

ERAS = ["auto", "legacy"]
"""`auto` speaks the 2026-07-28 protocol, `legacy` the 2025-11-25 handshake."""

TIME_SCALE = 0.1
"""Sandbox runs take a tenth of their nominal time in tests."""

ROOT = Path(__file__).resolve().parents[1]

EXAMPLE_ID = "8988f685-2b8c-4a09-9955-150426265d32"
"""The API document's example workflow, which the sandbox serves."""
EXAMPLE_PARAMS = {"param1": "value 1", "param2": "value 2"}

POLL_INTERVAL_MAX = 0.5
"""The longest pause between two polls in the tests' settings (`make_settings`, `server_env`)."""


# ---- settings and environments ---------------------------------------------------------------------------------


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: the test key, a fake base URL, fast polling."""
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "api_url": "https://wave.test",
        "poll_interval_min": 0.05,
        "poll_interval_max": POLL_INTERVAL_MAX,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def coverage_env() -> dict[str, str]:
    """What a subprocess needs to be measured too, when the tests run under coverage (`make test`): coverage's
    `patch = ["subprocess"]` hands its configuration to child processes in this variable, which an environment built
    from scratch would otherwise drop. The CLI tests pass it on (the CLI, `check` and `demo` run only there); the
    stdio servers do not: their code is measured in process, and tracing them would only slow down tests that run
    against real deadlines."""
    return {name: value for name, value in os.environ.items() if name == "COVERAGE_PROCESS_CONFIG"}


def clean_env(**variables: str) -> dict[str, str]:
    """A subprocess environment with only what Python (and coverage, under `make test`) needs: this machine's PATH,
    this checkout on PYTHONPATH, a UTF-8 locale; plus `variables`. No WAVE_* setting of the machine leaks in."""
    path = os.environ.get("PATH", os.defpath)
    return {**coverage_env(), "PATH": path, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", **variables}


def server_env(api_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess pointed at `api_url`."""
    return {
        "WAVE_API_URL": api_url,
        "WAVE_API_KEY": API_KEY,
        "WAVE_POLL_INTERVAL_MIN": "0.05",
        "WAVE_POLL_INTERVAL_MAX": str(POLL_INTERVAL_MAX),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


# ---- the command line as a user runs it --------------------------------------------------------------------------

TIMEOUT = 60.0
"""Generous bound on a subprocess that should exit by itself (a guard against hangs, not a speed check)."""


def wave_mcp(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m wave_mcp ARGS` to completion, with stdin closed."""
    return subprocess.run(
        [sys.executable, "-m", "wave_mcp", *args],
        env=clean_env(**variables),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit code 2, nothing on stdout (the MCP channel), exactly one `wave-mcp:` line on stderr, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wave-mcp: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def free_port() -> int:
    """A loopback port free at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---- tool results and listings, and the key that must never be in them -------------------------------------------


def text_of(result: CallToolResult) -> str:
    """A tool result's text content, joined; every result carries some."""
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    assert texts, "the result has no text content"
    return "\n".join(texts)


def data_of(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful tool result."""
    assert not result.is_error, text_of(result)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


def assert_no_key(result: CallToolResult) -> CallToolResult:
    """Fail if a tool result (text or structured) contains the key; return it unchanged."""
    assert API_KEY not in result.model_dump_json(), "the API key appeared in a tool result"
    return result


class GuardedClient:
    """An MCP client whose every tool result is checked for the key."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> CallToolResult:
        return assert_no_key(await self.client.call_tool(name, arguments, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


LISTED_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta")
"""What the model reads of each tool in a listing."""


def listing_of(tools: list[Tool]) -> list[dict[str, Any]]:
    """The tools as the model sees them (the fields it reads, as JSON), by name: what the snapshot pins."""
    dumped = [tool.model_dump(by_alias=True, mode="json", exclude_none=True) for tool in tools]
    return sorted(({key: entry.get(key) for key in LISTED_FIELDS} for entry in dumped), key=lambda t: t["name"])


LEGACY_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
"""The headers of a raw 2025-11-25 Streamable HTTP request."""
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
"""A raw 2025-11-25 `initialize` request, for probing the HTTP layer without an MCP client."""


# ---- progress -------------------------------------------------------------------------------------------------

Notification = tuple[float, float | None, str | None]
"""One progress notification: (progress, total, message)."""


class ProgressLog:
    """A `progress_callback` that keeps every notification it receives.

    Over JSON-RPC a notification sent before the result may still be on its way when the result is read:
    `settled(count)` waits until `count` have arrived.
    """

    def __init__(self) -> None:
        self.seen: list[Notification] = []
        self._arrived: anyio.Event | None = None

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))
        if self._arrived is not None:
            self._arrived.set()

    @property
    def values(self) -> list[float]:
        return [progress for progress, _, _ in self.seen]

    async def settled(self, count: int, within: float = 5.0) -> list[Notification]:
        """The notifications, once at least `count` have arrived (fails after `within` seconds)."""
        with anyio.fail_after(within):
            while len(self.seen) < count:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        return self.seen


# ---- time -----------------------------------------------------------------------------------------------------


@dataclass
class FakeClock:
    """A monotonic clock that moves only when something sleeps on it or `advance`s it: waits without waiting.

    Call it for the time; pass `sleep` where a pause is expected. Like a real sleep, each pause is a point where
    a cancellation is delivered.
    """

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"asked to sleep {seconds} s"
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


STEADY_SCHEDULE = PollSchedule(jitter=0.0)
"""The default schedule without jitter: the same pauses every time."""


@dataclass
class FakeAPI:
    """`get_run` of a simulated run: scripted answers, or a run that finishes `length` seconds after `started`."""

    time: FakeClock
    length: float = math.inf
    started: float = 1000.0
    script: list[Run | WaveError] = field(default_factory=list)
    read_seconds: float = 0.0
    calls: list[tuple[float, float]] = field(default_factory=list)
    """(time of the read, deadline it was given)"""

    async def get_run(self, deadline: float) -> Run:
        self.calls.append((self.time.now, deadline))
        self.time.advance(self.read_seconds)
        if self.script:
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            if isinstance(step, WaveError):
                raise step
            return step
        age = self.time.now - self.started
        started_at = wave_timestamp(wall.time() - age)  # the start time an API would give, on the real wall clock
        status = "completed" if age >= self.length else "running"
        return Run(id="run-1", status=status, started_at=started_at, other={"read_at": self.time.now})


Progress = list[tuple[float, float | None, str]]
"""What the wait loop reported as progress: (elapsed seconds, total, message)."""


async def wait(
    api: FakeAPI,
    budget: float,
    schedule: PollSchedule = STEADY_SCHEDULE,
    progress: Progress | None = None,
    **kwargs: object,
) -> WaitOutcome:
    """Run the wait loop against `api` on its fake clock; `progress`, when given, collects what it reports."""

    async def on_progress(value: float, total: float | None, message: str) -> None:
        assert progress is not None
        progress.append((value, total, message))

    return await wait_for_run(
        api.get_run,
        budget=budget,
        schedule=schedule,
        on_progress=on_progress if progress is not None else None,
        clock=api.time,
        sleep=api.time.sleep,
        **kwargs,  # type: ignore[arg-type]
    )


# ---- waiting for a state, not for a time ------------------------------------------------------------------------


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Return as soon as `condition()` holds; fail saying `what` did not happen within `within` seconds.

    For state changed by another task or thread (the sandbox's request log, say): it is checked every few
    milliseconds, so the test goes on the moment the state is reached instead of after a guessed delay.
    """
    with anyio.move_on_after(within):
        while not condition():
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"{what}: not within {within} s")


async def stays(condition: Callable[[], bool], what: str, seconds: float) -> None:
    """Fail as soon as `condition()` stops holding during the next `seconds` seconds (for "nothing more happens")."""
    with anyio.move_on_after(seconds):
        while condition():
            await anyio.sleep(0.005)
        raise AssertionError(what)
