"""Wave workflows from the OpenAI Agents SDK, through wave-mcp over stdio.

    pip install openai-agents              # in the environment where wave-mcp is installed, or see --server-command
    python openai_agents_example.py --sandbox                      # no Wave key, no LLM: calls the tools itself
    WAVE_API_KEY=... python openai_agents_example.py --workflow ID --params '{"month": "March"}'
    OPENAI_API_KEY=... python openai_agents_example.py --sandbox --ask "Run the monthly report for March 2026"

Without --ask no model is involved: the script calls the tools through the SDK's own tool objects, as an agent
would. Note `client_session_timeout_seconds`: the SDK's default of 5 s would cut every wait_for_run short.
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
    from agents import Agent, RunContextWrapper, Runner
    from agents.mcp import MCPServerStdio
    from agents.tool import FunctionTool
    from agents.tool_context import ToolContext
except ImportError as missing:  # the system Python, not the venv that has the frameworks
    sys.exit(
        f"{missing.name} is not installed for {sys.executable}: run this with wave-mcp's .venv/bin/python "
        "(`make install-test`, or `uv pip sync requirements.lock`), or `pip install openai-agents`"
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


async def call(tools: dict[str, FunctionTool], name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool the way the agent runner does, and read its structured result."""
    text = json.dumps(arguments)
    context = ToolContext(context=None, tool_name=name, tool_call_id=f"example-{name}", tool_arguments=text)
    output = await tools[name].on_invoke_tool(context, text)
    result: dict[str, Any] = json.loads(output)
    return result


async def main(args: argparse.Namespace) -> int:
    command, command_args = server_command(args)
    env = {name: value for name, value in os.environ.items() if name.startswith("WAVE_")}
    async with MCPServerStdio(
        params={"command": command, "args": command_args, "env": env},
        name="wave",
        client_session_timeout_seconds=60,
        use_structured_content=True,
    ) as server:
        agent = Agent(
            name="Wave assistant",
            instructions="Run Wave workflows for the user with the wave tools and report their results.",
            mcp_servers=[server],
        )
        if args.ask:
            result = await Runner.run(agent, args.ask)
            print(result.final_output)
            return 0
        tools = {tool.name: tool for tool in await agent.get_all_tools(RunContextWrapper(context=None))}
        print("tools:", ", ".join(sorted(tools)))
        listing = await call(tools, "list_workflows", {})
        print("workflows:", ", ".join(w["id"] for w in listing["workflows"]))
        workflow = args.workflow or (SANDBOX_WORKFLOW if args.sandbox else None)
        if workflow is None:
            print("Pass --workflow ID (and --params) to start a run.")
            return 0
        params = args.params if args.params is not None else SANDBOX_PARAMS if args.sandbox else {}
        run = await call(tools, "execute_workflow", {"workflow_id": workflow, "params": params})
        print(f"started run {run['id']}: {run['status']}")
        waited = await call(tools, "wait_for_run", {"run_id": run["id"], "timeout_seconds": 30})
        while waited["timed_out"]:
            waited = await call(tools, "wait_for_run", {"run_id": run["id"], "timeout_seconds": 30})
        final = await call(tools, "get_run", {"run_id": run["id"]})
        print(f"run {final['id']}: {final['status']}")
        print(json.dumps(final["result"], indent=2))
        return 0 if final["status"] == "completed" else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandbox", action="store_true", help="use wave-mcp's built-in sandbox API")
    parser.add_argument("--workflow", help="workflow id to run")
    parser.add_argument("--params", type=json.loads, help="its parameters, as a JSON object")
    parser.add_argument("--ask", help="let a model do it (needs OPENAI_API_KEY)")
    parser.add_argument("--server-command", help="how to start wave-mcp, e.g. '/path/to/.venv/bin/wave-mcp'")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
