"""The happy path through each layer: in memory in both eras, and a real subprocess over stdio in both eras."""

from __future__ import annotations

import anyio
import pytest

from tests.helpers import EXAMPLE_ID, EXAMPLE_PARAMS, GuardedClient
from wave_mcp.sandbox import SandboxState

pytestmark = pytest.mark.anyio


async def _run_example(client: GuardedClient) -> list[tuple[float, float | None, str | None]]:
    listing = await client.call_tool("list_workflows", {})
    assert EXAMPLE_ID in [w["id"] for w in (listing.structured_content or {})["workflows"]]
    started = await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS})
    assert not started.is_error, started.content
    run = started.structured_content or {}
    assert run["status"] == "running"
    assert run["workflow_name"] == "My workflow"
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    done = await client.call_tool(
        "wait_for_run", {"run_id": run["id"], "timeout_seconds": 10}, progress_callback=on_progress
    )
    report = done.structured_content or {}
    assert report["status"] == "completed", done.content
    assert report["result"] == {"key1": "value 1", "key2": "value 2"}
    assert report["timed_out"] is False
    with anyio.fail_after(2):
        while len(seen) < report["polls"]:
            await anyio.sleep(0.01)
    return seen


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
