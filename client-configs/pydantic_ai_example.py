"""Wave workflows from pydantic-ai, through wave-mcp over stdio.

    pip install "pydantic-ai-slim[mcp,openai]"   # where wave-mcp is installed, or see --server-command
    python pydantic_ai_example.py --sandbox                      # no Wave key, no LLM: calls the tools itself
    WAVE_API_KEY=... python pydantic_ai_example.py --workflow ID --params '{"month": "March"}'
    OPENAI_API_KEY=... python pydantic_ai_example.py --sandbox --ask "Run the monthly report for March 2026"

Without --ask no model is involved: the script calls the tools through the toolset the agent uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

try:
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
except ImportError as missing:  # the system Python, not the venv that has the frameworks
    sys.exit(
        f"{missing.name} is not installed for {sys.executable}: run this with wave-mcp's .venv/bin/python "
        '(`make install-test`, or `uv pip sync requirements.lock`), or `pip install "pydantic-ai-slim[mcp]"`'
    )

SANDBOX_WORKFLOW = "8988f685-2b8c-4a09-9955-150426265d32"
SANDBOX_PARAMS = {"param1": "value 1", "param2": "value 2"}


def server_command(args: argparse.Namespace) -> tuple[str, list[str]]:
    """wave-mcp beside this interpreter, else on PATH, else `python -m wave_mcp`; or what --server-command says."""
    if args.server_command:
        command, *rest = shlex.split(args.server_command)
    else:
        beside = Path(sys.executable).parent / "wave-mcp"
        found = str(beside) if beside.is_file() else shutil.which("wave-mcp")
        command, rest = (found, []) if found else (sys.executable, ["-m", "wave_mcp"])
    return command, rest + (["--sandbox"] if args.sandbox else [])


async def call(toolset: MCPToolset[None], name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool through the toolset and read its structured result."""
    result: dict[str, Any] = await toolset.direct_call_tool(name, arguments)
    return result


async def main(args: argparse.Namespace) -> int:
    command, command_args = server_command(args)
    env = {name: value for name, value in os.environ.items() if name.startswith("WAVE_")}
    toolset: MCPToolset[None] = MCPToolset(
        StdioTransport(command=command, args=command_args, env=env), read_timeout=120, tool_error_behavior="error"
    )
    async with toolset:
        if args.ask:
            agent = Agent(
                args.model,
                instructions="Run Wave workflows for the user with the wave tools and report their results.",
                toolsets=[toolset],
            )
            result = await agent.run(args.ask)
            print(result.output)
            return 0
        print("tools:", ", ".join(sorted(tool.name for tool in await toolset.list_tools())))
        listing = await call(toolset, "list_workflows", {})
        print("workflows:", ", ".join(w["id"] for w in listing["workflows"]))
        workflow = args.workflow or (SANDBOX_WORKFLOW if args.sandbox else None)
        if workflow is None:
            print("Pass --workflow ID (and --params) to start a run.")
            return 0
        params = args.params if args.params is not None else SANDBOX_PARAMS if args.sandbox else {}
        run = await call(toolset, "execute_workflow", {"workflow_id": workflow, "params": params})
        print(f"started run {run['id']}: {run['status']}")
        waited = await call(toolset, "wait_for_run", {"run_id": run["id"], "timeout_seconds": 30})
        while waited["timed_out"]:
            waited = await call(toolset, "wait_for_run", {"run_id": run["id"], "timeout_seconds": 30})
        final = await call(toolset, "get_run", {"run_id": run["id"]})
        print(f"run {final['id']}: {final['status']}")
        print(json.dumps(final["result"], indent=2))
        return 0 if final["status"] == "completed" else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandbox", action="store_true", help="use wave-mcp's built-in sandbox API")
    parser.add_argument("--workflow", help="workflow id to run")
    parser.add_argument("--params", type=json.loads, help="its parameters, as a JSON object")
    parser.add_argument("--ask", help="let a model do it (needs the model's key, e.g. OPENAI_API_KEY)")
    parser.add_argument("--model", default="openai:gpt-4.1-mini", help="pydantic-ai model name for --ask")
    parser.add_argument("--server-command", help="how to start wave-mcp, e.g. '/path/to/.venv/bin/wave-mcp'")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
