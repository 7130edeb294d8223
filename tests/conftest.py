"""Shared fixtures: the sandbox (in process and on a loopback port), settings, MCP clients in both protocol eras,
and a guard that fails any test whose output contains the API key."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import stamina
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.stdio import stdio_client as spawn_stdio
from mcp.types import CallToolResult, TextContent
from starlette.applications import Starlette

from wave_mcp.config import Settings
from wave_mcp.sandbox import SandboxState, SandboxTransport, create_app
from wave_mcp.server import build_server

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


# ---- secrets: no test output may contain the key ------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Turn a passing test into a failure when its captured stdout, stderr or log contains the key, and mask the
    key in what the report shows, so that the test run's own output never carries it."""
    report = yield
    leaked = [name for name, text in report.sections if API_KEY in text]
    if leaked:
        report.sections = [(name, text.replace(API_KEY, "<API key>")) for name, text in report.sections]
    if report.longrepr is not None and API_KEY in str(report.longrepr):
        report.longrepr = str(report.longrepr).replace(API_KEY, "<API key>")
    if leaked and report.passed:
        report.outcome = "failed"
        report.longrepr = f"the API key appeared in captured output: {', '.join(leaked)}"
    return report


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


# ---- basics ------------------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No WAVE_* variable or .env file of the machine leaks into a test; retries do not sleep."""
    for name in list(os.environ):
        if name.startswith("WAVE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: the test key, a fake base URL, fast polling."""
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "api_url": "https://wave.test",
        "poll_interval_min": 0.05,
        "poll_interval_max": 0.5,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def sandbox_app() -> Starlette:
    """A fresh sandbox, in process."""
    return create_app(api_key=API_KEY, time_scale=TIME_SCALE)


@pytest.fixture
def sandbox(sandbox_app: Starlette) -> SandboxState:
    """The sandbox's state: runs, request log, faults."""
    state: SandboxState = sandbox_app.state.sandbox
    return state


@pytest.fixture
def transport(sandbox_app: Starlette) -> httpx2.ASGITransport:
    """The network replaced by the in-process sandbox, failing as a network does (resets, read timeouts)."""
    return SandboxTransport(app=sandbox_app)


@pytest.fixture(params=ERAS)
async def mcp_client(request: pytest.FixtureRequest, transport: httpx2.ASGITransport) -> AsyncIterator[GuardedClient]:
    """An MCP client connected in memory to a server over the in-process sandbox, in each protocol era."""
    server = build_server(make_settings(), transport=transport)
    async with Client(server, mode=request.param) as client:
        yield GuardedClient(client)


# ---- a real sandbox on a loopback port, and the server as a subprocess -----------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[tuple[str, SandboxState]]:
    """The sandbox served by uvicorn on a loopback port: its URL and its state."""
    app = create_app(api_key=API_KEY, time_scale=TIME_SCALE)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app.state.sandbox
    server.should_exit = True
    thread.join(timeout=5)


def coverage_env() -> dict[str, str]:
    """What a subprocess needs to be measured too, when the tests run under coverage (`make test`): coverage's
    `patch = ["subprocess"]` hands its configuration to child processes in this variable, which an environment built
    from scratch would otherwise drop. The CLI tests pass it on (the CLI, `check` and `demo` run only there); the
    stdio servers do not: their code is measured in process, and tracing them would only slow down tests that run
    against real deadlines."""
    return {name: value for name, value in os.environ.items() if name == "COVERAGE_PROCESS_CONFIG"}


def server_env(api_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess pointed at `api_url`."""
    return {
        "WAVE_API_URL": api_url,
        "WAVE_API_KEY": API_KEY,
        "WAVE_POLL_INTERVAL_MIN": "0.05",
        "WAVE_POLL_INTERVAL_MAX": "0.5",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@pytest.fixture(params=ERAS)
async def stdio_client(
    request: pytest.FixtureRequest, sandbox_server: tuple[str, SandboxState]
) -> AsyncIterator[GuardedClient]:
    """`python -m wave_mcp` as a subprocess over stdio against the loopback sandbox, in each protocol era.

    Its stderr is kept and checked for the key when the test ends.
    """
    url, _ = sandbox_server
    params = StdioServerParameters(command=sys.executable, args=["-m", "wave_mcp"], env=server_env(url), cwd=str(ROOT))
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(spawn_stdio(params, errlog=errlog), mode=request.param, read_timeout_seconds=30) as client:
            yield GuardedClient(client)
        errlog.seek(0)
        assert API_KEY not in errlog.read(), "the API key appeared in the server's stderr"
