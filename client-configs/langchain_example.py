"""Wave workflows from LangChain (langchain-mcp-adapters), through wave-mcp over stdio.

    pip install langchain-mcp-adapters langchain "langchain[openai]"
    python langchain_example.py --sandbox --server-command "/path/to/wave-mcp/.venv/bin/wave-mcp"
    WAVE_API_KEY=... python langchain_example.py --workflow ID --params '{"month": "March"}' --server-command ...
    OPENAI_API_KEY=... python langchain_example.py --sandbox --ask "Run the monthly report for March 2026" ...

langchain-mcp-adapters 0.3 requires mcp < 2 while wave-mcp needs mcp 2, so the two live in separate
environments: point --server-command at the wave-mcp of its own installation. Without --ask no model is
involved: the script calls the LangChain tools itself, as an agent would.
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

from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools

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


async def call(tools: dict[str, BaseTool], name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Invoke a tool as an agent does (a tool call), and read the structured result from its artifact."""
    message = await tools[name].ainvoke({"type": "tool_call", "id": f"example-{name}", "name": name, "args": arguments})
    result: dict[str, Any] = message.artifact["structured_content"]
    return result


async def main(args: argparse.Namespace) -> int:
    command, command_args = server_command(args)
    env = {name: value for name, value in os.environ.items() if name.startswith("WAVE_")}
    client = MultiServerMCPClient(
        {"wave": {"transport": "stdio", "command": command, "args": command_args, "env": env}}
    )
    # One session for the whole conversation: client.get_tools() would start a new server for every call.
    async with client.session("wave") as session:
        tools = {tool.name: tool for tool in await load_mcp_tools(session)}
        return await converse(args, tools)


async def converse(args: argparse.Namespace, tools: dict[str, BaseTool]) -> int:
    if args.ask:
        from langchain.agents import create_agent

        agent = create_agent(args.model, list(tools.values()))
        answer = await agent.ainvoke({"messages": [{"role": "user", "content": args.ask}]})
        print(answer["messages"][-1].content)
        return 0
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
    parser.add_argument("--ask", help="let a model do it (needs the model's key, e.g. OPENAI_API_KEY)")
    parser.add_argument("--model", default="openai:gpt-4.1-mini", help="LangChain model name for --ask")
    parser.add_argument("--server-command", help="how to start wave-mcp, e.g. '/path/to/.venv/bin/wave-mcp'")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
