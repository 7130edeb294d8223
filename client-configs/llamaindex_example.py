"""Wave workflows from LlamaIndex (llama-index-tools-mcp), through wave-mcp over stdio.

    pip install llama-index-tools-mcp llama-index-llms-openai   # where wave-mcp is installed, or --server-command
    python llamaindex_example.py --sandbox                       # no Wave key, no LLM: calls the tools itself
    WAVE_API_KEY=... python llamaindex_example.py --workflow ID --params '{"month": "March"}'
    OPENAI_API_KEY=... python llamaindex_example.py --sandbox --ask "Run the monthly report for March 2026"

Without --ask no model is involved: the script calls the LlamaIndex tools itself, as an agent would.
LlamaIndex starts a new wave-mcp for every tool call, so with --sandbox this script runs the sandbox API once
(`wave-mcp sandbox`) for all of them: an in-process sandbox would forget each run as soon as it was started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llama_index.core.tools import FunctionTool
from llama_index.tools.mcp import BasicMCPClient, McpToolSpec

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
    return command, rest


@contextmanager
def sandbox_api(command: str, command_args: list[str]) -> Iterator[dict[str, str]]:
    """Run `wave-mcp sandbox` on a free loopback port; yield the settings that point wave-mcp at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([command, *command_args, "sandbox", "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the sandbox API did not start") from None
                time.sleep(0.05)
        yield {"WAVE_API_URL": f"http://127.0.0.1:{port}", "WAVE_API_KEY": "sandbox-key"}
    finally:
        process.terminate()
        process.wait()


async def call(tools: dict[str, FunctionTool], name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool as an agent does, and read the structured result of the MCP call it wraps."""
    output = await tools[name].acall(**arguments)
    result: dict[str, Any] = output.raw_output.structured_content
    return result


async def main(args: argparse.Namespace) -> int:
    command, command_args = server_command(args)
    env = {name: value for name, value in os.environ.items() if name.startswith("WAVE_")}
    if args.sandbox:
        with sandbox_api(command, command_args) as sandbox:
            return await converse(args, command, command_args, {**env, **sandbox})
    return await converse(args, command, command_args, env)


async def converse(args: argparse.Namespace, command: str, command_args: list[str], env: dict[str, str]) -> int:
    client = BasicMCPClient(command, args=command_args, env=env, timeout=120)
    tools = {tool.metadata.name: tool for tool in await McpToolSpec(client=client).to_tool_list_async()}
    if args.ask:
        from llama_index.core.agent.workflow import FunctionAgent
        from llama_index.llms.openai import OpenAI

        agent = FunctionAgent(tools=list(tools.values()), llm=OpenAI(model=args.model))
        print(await agent.run(args.ask))
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
    parser.add_argument("--model", default="gpt-4.1-mini", help="OpenAI model name for --ask")
    parser.add_argument("--server-command", help="how to start wave-mcp, e.g. '/path/to/.venv/bin/wave-mcp'")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
