"""The happy path through each layer: in memory in both eras, and a real subprocess over stdio in both eras."""

from __future__ import annotations

import pytest

from tests.helpers import EXAMPLE_ID, EXAMPLE_PARAMS, GuardedClient, Notification, ProgressLog
from wave_mcp.sandbox import SandboxState

pytestmark = pytest.mark.anyio


async def _run_example(client: GuardedClient) -> list[Notification]:
    listing = await client.call_tool("list_workflows", {})
    assert EXAMPLE_ID in [w["id"] for w in (listing.structured_content or {})["workflows"]]
    started = await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS})
    assert not started.is_error, started.content
    run = started.structured_content or {}
    assert run["status"] == "running"
    assert run["workflow_name"] == "My workflow"
    progress = ProgressLog()
    done = await client.call_tool(
        "wait_for_run", {"run_id": run["id"], "timeout_seconds": 10}, progress_callback=progress
    )
    report = done.structured_content or {}
    assert report["status"] == "completed", done.content
    assert report["result"] == {"key1": "value 1", "key2": "value 2"}
    assert report["timed_out"] is False
    return await progress.settled(report["polls"], within=2)


async def test_example_workflow_in_memory(mcp_client: GuardedClient) -> None:
    """The API document's example workflow runs to completion with progress, in both eras."""
    seen = await _run_example(mcp_client)
    progress = [p for p, _, _ in seen]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)


@pytest.mark.stdio
async def test_example_workflow_over_stdio(
    stdio_client: GuardedClient, sandbox_server: tuple[str, SandboxState]
) -> None:
    """The same over a real subprocess and a real loopback API, in both eras."""
    seen = await _run_example(stdio_client)
    assert seen and all(message and "poll" in message for _, _, message in seen)
