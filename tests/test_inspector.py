"""The MCP Inspector CLI (npm `@modelcontextprotocol/inspector`, a client no one here wrote) lists and calls our
tools: over stdio against the loopback sandbox, and over Streamable HTTP with a bearer token."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.external import TOOL_NAMES, Inspector, check_inspector_with_token
from tests.helpers import EXAMPLE_ID, server_env
from tests.servers import http_subprocess
from wave_mcp.sandbox import SandboxState

pytestmark = [pytest.mark.external, pytest.mark.stdio]

TOKEN = "tok_inspector_5e6f7a8b9c0d"


@pytest.fixture
def stdio_inspector(sandbox_server: tuple[str, SandboxState], tmp_path: Path) -> Inspector:
    api_url, _ = sandbox_server
    env = server_env(api_url)
    flags = [part for name, value in env.items() for part in ("-e", f"{name}={value}")]
    return Inspector([*flags, sys.executable, "-m", "wave_mcp"], tmp_path / "catalog.json")


def test_inspector_lists_tools_strictly(stdio_inspector: Inspector) -> None:
    """tools/list: the four tools with input and output schemas, and no portability error under --strict."""
    done = stdio_inspector.run("--method", "tools/list", "--strict")
    assert done.returncode == 0, done.stderr
    tools = json.loads(done.stdout)["tools"]
    assert sorted(tool["name"] for tool in tools) == TOOL_NAMES
    assert all(tool["inputSchema"]["type"] == "object" and "outputSchema" in tool for tool in tools)


def test_inspector_runs_a_workflow(stdio_inspector: Inspector) -> None:
    """execute_workflow, wait_for_run and get_run, each in a fresh Inspector session over stdio."""
    params = json.dumps({"param1": "from inspector"})
    started = stdio_inspector.call("execute_workflow", workflow_id=EXAMPLE_ID, params=params)
    run_id = started["structuredContent"]["id"]
    assert started["structuredContent"]["status"] == "running" and not started["isError"]
    waited = stdio_inspector.call("wait_for_run", run_id=run_id, timeout_seconds="10")
    assert waited["structuredContent"]["status"] == "completed"
    assert waited["structuredContent"]["result"] == {"key1": "from inspector", "key2": None}
    fetched = stdio_inspector.call("get_run", run_id=run_id)
    assert fetched["structuredContent"]["result"] == waited["structuredContent"]["result"]
    assert fetched["content"][0]["text"].startswith(f"Run {run_id}")


def test_inspector_sees_a_tool_error(stdio_inspector: Inspector) -> None:
    """An unknown run is a tool error (isError) with our message; the CLI exits non-zero for it."""
    done = stdio_inspector.run("--method", "tools/call", "--tool-name", "get_run", "--tool-arg", "run_id=no-such-run")
    assert done.returncode != 0
    assert "knows no run 'no-such-run'" in done.stdout


def test_inspector_over_http_with_token(sandbox_server: tuple[str, SandboxState], tmp_path: Path) -> None:
    """Over Streamable HTTP: the Inspector lists and calls the tools with the bearer token, and is refused
    without it."""
    api_url, _ = sandbox_server
    with http_subprocess(server_env(api_url, WAVE_MCP_HTTP_TOKEN=TOKEN)) as spawned:
        refused = check_inspector_with_token(f"{spawned.url}/mcp", TOKEN, tmp_path / "catalog.json")
    said = (refused.stdout + refused.stderr).lower()
    assert "auth" in said or "401" in said, said  # the CLI reads our 401 as "authorization needed"
