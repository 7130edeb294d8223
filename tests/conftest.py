"""Fixtures and hooks only: the sandbox (in process and on a loopback port), MCP clients in both protocol eras, a
clean environment for each test, and a guard that fails any test whose output contains the API key.

Constants and helper functions live in `tests/helpers.py`."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import stamina
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.stdio import stdio_client as spawn_stdio
from starlette.applications import Starlette

from tests.helpers import API_KEY, ERAS, ROOT, TIME_SCALE, GuardedClient, make_settings, server_env
from tests.servers import app_in_thread
from wave_mcp.sandbox import SandboxState, SandboxTransport, create_app
from wave_mcp.server import build_server

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


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[tuple[str, SandboxState]]:
    """The sandbox served by uvicorn on a loopback port: its URL and its state."""
    app = create_app(api_key=API_KEY, time_scale=TIME_SCALE)
    with app_in_thread(app) as url:
        yield url, app.state.sandbox


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
