"""Agent frameworks' own MCP adapters (clients no one here wrote) load our tools over stdio and call them against
the loopback sandbox, with no LLM: the OpenAI Agents SDK and pydantic-ai in process (the `frameworks` extra), and
each example script in client-configs/ as its users would run it, LangChain's from its own venv (its adapter
needs mcp < 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.external import langchain_python
from tests.helpers import API_KEY, EXAMPLE_ID, ROOT, server_env
from wave_mcp.sandbox import SandboxState

pytestmark = [pytest.mark.anyio, pytest.mark.external, pytest.mark.stdio]

TOOLS = ["execute_workflow", "get_run", "list_workflows", "wait_for_run"]
SERVER = [sys.executable, "-m", "wave_mcp"]


async def test_openai_agents_sdk(sandbox_server: tuple[str, SandboxState]) -> None:
    """The Agents SDK turns our tools into its FunctionTools; calling them as its runner does gives the run, its
    wait and its result, and a tool error comes back as text for the model."""
    pytest.importorskip("agents", reason="the OpenAI Agents SDK is not installed: uv pip sync requirements.lock")
    from agents import Agent, RunContextWrapper
    from agents.mcp import MCPServerStdio
    from agents.tool import FunctionTool
    from agents.tool_context import ToolContext

    api_url, sandbox = sandbox_server

    async def call(tools: dict[str, FunctionTool], name: str, arguments: dict[str, Any]) -> Any:
        text = json.dumps(arguments)
        context = ToolContext(context=None, tool_name=name, tool_call_id=f"t-{name}", tool_arguments=text)
        output = await tools[name].on_invoke_tool(context, text)
        assert API_KEY not in str(output)
        return output

    async with MCPServerStdio(
        params={"command": SERVER[0], "args": SERVER[1:], "env": server_env(api_url), "cwd": str(ROOT)},
        client_session_timeout_seconds=30,
        use_structured_content=True,
    ) as server:
        agent = Agent(name="test", mcp_servers=[server])
        every = await agent.get_all_tools(RunContextWrapper(context=None))
        tools = {tool.name: tool for tool in every if isinstance(tool, FunctionTool)}
        assert sorted(tools) == TOOLS and len(every) == len(tools)
        assert "run_id" in tools["wait_for_run"].params_json_schema["properties"]
        started = json.loads(
            await call(tools, "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": {"param1": "agents"}})
        )
        run_id = started["id"]
        early = json.loads(await call(tools, "get_run", {"run_id": run_id}))
        waited = json.loads(await call(tools, "wait_for_run", {"run_id": run_id, "timeout_seconds": 10}))
        failed = await call(tools, "get_run", {"run_id": "no-such-run"})
    assert started["status"] == "running" and early["id"] == run_id
    assert waited["status"] == "completed" and waited["timed_out"] is False
    assert waited["result"] == {"key1": "agents", "key2": None}
    assert "knows no run" in str(failed) and "no-such-run" in str(failed)
    assert sandbox.count("GET", f"/runs/{run_id}") >= 2


async def test_pydantic_ai(sandbox_server: tuple[str, SandboxState]) -> None:
    """pydantic-ai's MCPToolset (FastMCP's client, 2026-07-28 era) lists and calls the tools; a tool error is
    raised with our message."""
    pytest.importorskip("pydantic_ai.mcp", reason="pydantic-ai is not installed: uv pip sync requirements.lock")
    from fastmcp.client.transports import StdioTransport
    from fastmcp.exceptions import ToolError
    from pydantic_ai.mcp import MCPToolset

    api_url, sandbox = sandbox_server
    transport = StdioTransport(command=SERVER[0], args=SERVER[1:], env=server_env(api_url), cwd=str(ROOT))
    toolset: MCPToolset[None] = MCPToolset(transport, read_timeout=30, tool_error_behavior="error")
    async with toolset:
        assert sorted(tool.name for tool in await toolset.list_tools()) == TOOLS
        started = await toolset.direct_call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": {}})
        run_id = started["id"]
        early = await toolset.direct_call_tool("get_run", {"run_id": run_id})
        waited = await toolset.direct_call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 10})
        with pytest.raises(ToolError, match="knows no run 'no-such-run'") as failed:
            await toolset.direct_call_tool("get_run", {"run_id": "no-such-run"})
    assert started["status"] == "running" and early["id"] == run_id
    assert waited["status"] == "completed" and waited["result"] == {"key1": None, "key2": None}
    assert API_KEY not in json.dumps([started, early, waited]) + str(failed.value)
    assert sandbox.count("GET", f"/runs/{run_id}") >= 2


EXAMPLES = {
    "openai_agents_example.py": "agents",
    "pydantic_ai_example.py": "pydantic_ai",
    "langchain_example.py": "langchain_mcp_adapters",
    "llamaindex_example.py": "llama_index.tools.mcp",
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_script_runs(example: str, sandbox_server: tuple[str, SandboxState]) -> None:
    """Each example, as its users run it (no LLM: --workflow without --ask), starts a run, waits for it and prints
    the result. LangChain's runs from its own venv, starting this installation's server."""
    api_url, _ = sandbox_server
    python = sys.executable
    if example == "langchain_example.py":
        python = str(langchain_python())
    else:
        reason = f"{EXAMPLES[example]} is not installed here: uv pip sync requirements.lock"
        if example == "llamaindex_example.py":
            reason = (
                f"{EXAMPLES[example]} is not installed here: pip install llama-index-tools-mcp (make test leaves it "
                "out: llama-index-core brings numpy, nltk and SQLAlchemy, ~300 MB)"
            )
        pytest.importorskip(EXAMPLES[example], reason=reason)
    command = [
        python,
        str(ROOT / "client-configs" / example),
        "--workflow",
        EXAMPLE_ID,
        "--params",
        json.dumps({"param1": example}),
        "--server-command",
        f"{sys.executable} -m wave_mcp",
    ]
    done = subprocess.run(
        command,
        env={**os.environ, **server_env(api_url)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "tools: execute_workflow, get_run, list_workflows, wait_for_run" in done.stdout
    assert ": completed" in done.stdout
    assert f'"key1": "{example}"' in done.stdout
    assert API_KEY not in done.stdout + done.stderr
