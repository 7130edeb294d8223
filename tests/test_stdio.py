"""`python -m wave_mcp` as a real subprocess over stdio, against the sandbox on a loopback port, in both eras."""

from __future__ import annotations

import itertools

import anyio
import pytest
from inline_snapshot import external_file
from mcp import MCPError

from tests.helpers import EXAMPLE_ID, EXAMPLE_PARAMS, GuardedClient, ProgressLog, data_of, listing_of, text_of
from wave_mcp.sandbox import SandboxState

pytestmark = [pytest.mark.anyio, pytest.mark.stdio]

Sandbox = tuple[str, SandboxState]


async def test_a_session_over_stdio(stdio_client: GuardedClient, sandbox_server: Sandbox) -> None:
    """One session as a real client has it: the pinned listing, clear errors, then the API document's example
    started with its params, waited for with progress, and its result read."""
    _, state = sandbox_server
    tools = (await stdio_client.list_tools()).tools
    assert listing_of(tools) == external_file("snapshots/tools.json")

    bad = await stdio_client.call_tool("wait_for_run", {"run_id": "", "timeout_seconds": -5})
    assert bad.is_error and "run_id" in text_of(bad) and "timeout_seconds" in text_of(bad)
    unknown = await stdio_client.call_tool("execute_workflow", {"workflow_id": "no-such-workflow"})
    assert unknown.is_error and "list_workflows" in text_of(unknown)
    assert "Traceback" not in text_of(bad) + text_of(unknown)
    listing = data_of(await stdio_client.call_tool("list_workflows", {}))
    assert EXAMPLE_ID in [workflow["id"] for workflow in listing["workflows"]]

    run = data_of(
        await stdio_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS})
    )
    assert run["status"] == "running" and run["workflow_name"] == "My workflow"
    assert state.runs[run["id"]].params == EXAMPLE_PARAMS
    progress = ProgressLog()
    waited = data_of(
        await stdio_client.call_tool(
            "wait_for_run", {"run_id": run["id"], "timeout_seconds": 15}, progress_callback=progress
        )
    )
    assert waited["status"] == "completed" and waited["timed_out"] is False
    seen = await progress.settled(waited["polls"])
    values = progress.values
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert all(total == 15 for _, total, _ in seen)
    assert all(message and message.startswith(f"Run {run['id']}: ") for _, _, message in seen)
    result = await stdio_client.call_tool("get_run", {"run_id": run["id"]})
    report = data_of(result)
    assert report["result"] == {"key1": "value 1", "key2": "value 2"}
    assert text_of(result).splitlines()[0] == f"Run {run['id']} of 'My workflow' completed."


async def test_a_cancelled_wait_over_stdio_stops_polling(stdio_client: GuardedClient, sandbox_server: Sandbox) -> None:
    """A client timeout cancels wait_for_run in the subprocess: once the cancel has arrived, no more polls."""
    _, state = sandbox_server
    run = data_of(
        await stdio_client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 1000}})
    )
    path = f"/runs/{run['id']}"
    with pytest.raises(MCPError):
        await stdio_client.call_tool(
            "wait_for_run", {"run_id": run["id"], "timeout_seconds": 60}, read_timeout_seconds=1
        )
    at_cancel = state.count("GET", path)
    assert at_cancel >= 3
    await anyio.sleep(0.2)  # the cancel notification crosses the pipe: at most the poll in flight may still land
    settled = state.count("GET", path)
    assert settled <= at_cancel + 1
    await anyio.sleep(1.0)  # twice the longest pause between polls in these settings
    assert state.count("GET", path) == settled
    assert data_of(await stdio_client.call_tool("get_run", {"run_id": run["id"]}))["status"] == "running"
