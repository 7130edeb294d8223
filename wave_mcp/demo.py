"""`wave-mcp demo`: drive the server as a real MCP client over stdio, with live progress (a clock, not a bar).

Against the built-in sandbox (and its example catalog) unless an API key is configured; with a key it only starts
a workflow named with `--workflow`, so nothing runs by surprise.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from rich.console import Console
from rich.json import JSON
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

from wave_mcp.catalog import load_catalog
from wave_mcp.config import load_settings

__all__ = ["RunClock", "progress_fields", "run_demo"]

SANDBOX_WORKFLOW = "monthly-report"
SANDBOX_PARAMS: dict[str, Any] = {"month": "March", "year": 2026}
SANDBOX_TYPO: dict[str, Any] = {"month": "Marhc", "year": 2026}
WAIT_PER_CALL = 20.0


def run_demo(overrides: dict[str, Any], workflow: str | None = None, params: dict[str, Any] | None = None) -> int:
    """Run the walkthrough; 0 when the run finished, 1 otherwise."""
    console = Console()
    use_sandbox = not load_settings(overrides, require_key=False).key or bool(overrides.get("sandbox"))
    settings = load_settings({**overrides, "sandbox": True} if use_sandbox else overrides)
    if settings.catalog is not None:
        load_catalog(settings.catalog)  # a bad catalog stops the demo as it stops `serve`: one line, exit 2
    if use_sandbox:
        workflow, params = workflow or SANDBOX_WORKFLOW, params if params is not None else SANDBOX_PARAMS
    quiet = [] if "log_level" in overrides else ["--log-level", "WARNING"]  # the server's stderr shares the terminal
    args = ["-m", "wave_mcp", *_flags(overrides), *quiet, *(["--sandbox"] if use_sandbox else [])]
    server = StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))
    try:
        return anyio.run(_walkthrough, console, server, use_sandbox, workflow, params or {})
    except Exception as exc:  # the server did not start or went away: its own message is on stderr above
        console.print(f"[red]The demo lost the server ({type(exc).__name__}): see the server's message above.")
        return 1


def _flags(overrides: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for name, value in overrides.items():
        if name in ("sandbox", "api_key"):
            continue  # the key travels in the environment, never on a command line
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    if "api_key" in overrides:
        os.environ["WAVE_API_KEY"] = str(overrides["api_key"])
    return flags


async def _walkthrough(
    console: Console, server: StdioServerParameters, sandbox: bool, workflow: str | None, params: dict[str, Any]
) -> int:
    where = "the built-in sandbox (no key, no network)" if sandbox else "the Wave API"
    console.rule("[bold]wave-mcp demo")
    console.print(f"Starting [bold]{' '.join(['python', *server.args])}[/] as an MCP client would, against {where}.")
    async with Client(server, read_timeout_seconds=120) as client:
        console.print(f"Connected: protocol {client.protocol_version}.\n")
        tools = (await client.list_tools()).tools
        table = Table("tool", "what the model reads first", title="Tools")
        for tool in tools:
            table.add_row(tool.name, (tool.description or "").split("\n")[0])
        console.print(table)

        listing = await client.call_tool("list_workflows", {})
        table = Table("id", "name", "params", "source", title="list_workflows")
        for item in (listing.structured_content or {}).get("workflows", []):
            table.add_row(item["id"], item.get("name") or "", _param_names(item.get("params_schema")), item["source"])
        console.print(table)
        if workflow is None:
            console.print("A key is configured, so the demo starts nothing by itself: run it again with a workflow.")
            return 0
        if sandbox and workflow == SANDBOX_WORKFLOW:
            console.print(f"\n[bold]execute_workflow[/] {workflow} with params {json.dumps(SANDBOX_TYPO)} (a typo)")
            refused = await client.call_tool("execute_workflow", {"workflow_id": workflow, "params": SANDBOX_TYPO})
            console.print(f"[yellow]{_text(refused.content)}")
            console.print("[dim]The catalog (WAVE_CATALOG) declares the params: nothing was sent to the API.")

        console.print(f"\n[bold]execute_workflow[/] {workflow} with params {json.dumps(params)}")
        begun = time.monotonic()  # the run starts during this call: its clock starts here
        started = await client.call_tool("execute_workflow", {"workflow_id": workflow, "params": params})
        if started.is_error:
            console.print(f"[red]{_text(started.content)}")
            return 1
        run = started.structured_content or {}
        console.print(f"Run [bold]{run['id']}[/] is {run['status']}.\n")
        final = await _follow(console, client, run["id"], begun)
        console.print(f"\n[bold]{_text(final.content).splitlines()[0]}")
        report = final.structured_content or {}
        if report.get("result") is not None:
            console.print(JSON.from_data(report["result"]))
        console.print(f"[dim]next_step for the model: {report.get('next_step')}")
        return 0 if report.get("status") == "completed" else 1


class RunClock(ProgressColumn):
    """`running for N s, poll P`: the run's age by one clock that starts with the run and is never reset, floored
    as the server floors it, with the status and poll count of the last progress message. No percentage: the
    wait's budget says nothing about how long the run will take."""

    def __init__(self, started: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.started = started
        self.clock = clock
        self.stopped: float | None = None

    def seconds(self) -> int:
        """Whole seconds since the run started (until `stop`)."""
        return int((self.stopped if self.stopped is not None else self.clock()) - self.started)

    def stop(self) -> None:
        """Freeze the clock: the run has finished."""
        self.stopped = self.clock()

    def render(self, task: Task) -> Text:
        state, polls = task.fields.get("state", "running"), task.fields.get("polls", 0)
        word = "for" if state == "running" else "after"
        return Text(f"{state} {word} {self.seconds()} s, poll {polls}")


def progress_fields(message: str | None) -> dict[str, Any]:
    """The status and poll count in a progress message ("Run …: running for 14 s, poll 6"); {} if it has none."""
    found = re.search(r": (?P<state>[^:]+?) (?:for|after) \d+ s, poll (?P<polls>\d+)$", message or "")
    return {"state": found["state"], "polls": int(found["polls"])} if found else {}


async def _follow(console: Console, client: Client, run_id: str, started: float) -> Any:
    clock = RunClock(started)
    with Progress(SpinnerColumn(finished_text="-"), TextColumn("wait_for_run"), clock, console=console) as bar:
        task = bar.add_task("", total=None, state="running", polls=0)

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            bar.update(task, **progress_fields(message))

        while True:
            result = await client.call_tool(
                "wait_for_run", {"run_id": run_id, "timeout_seconds": WAIT_PER_CALL}, progress_callback=on_progress
            )
            content = result.structured_content or {}
            if result.is_error or not content.get("timed_out"):
                clock.stop()
                bar.update(task, total=1, completed=1, state=content.get("status", "stopped"))
                return result
            console.print(f"[dim]wait_for_run timed out after {WAIT_PER_CALL:.0f} s: calling it again")


def _param_names(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "(not documented)"
    properties = schema.get("properties")
    return ", ".join(properties) if isinstance(properties, dict) and properties else "(none)"


def _text(content: list[Any]) -> str:
    return "\n".join(getattr(block, "text", "") for block in content)
