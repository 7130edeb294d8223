"""Guard rails at every entry point, in both protocol eras: the allow-list (WAVE_ALLOWED_WORKFLOWS) and read-only
mode (WAVE_READ_ONLY), through the generic tools, the typed tools, the resources and the prompt. Refusals send
nothing: the sandbox's request log says so."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.catalogs import EXAMPLE, serve
from tests.helpers import ERAS, make_settings, text_of
from wave_mcp.catalog import load_catalog
from wave_mcp.sandbox import DEMO_WORKFLOWS, SandboxState
from wave_mcp.server import build_server

pytestmark = pytest.mark.anyio

ALLOWED = ["monthly-report", "timer", "not-in-the-api"]
WITH_TOOLS: dict[str, Any] = {"catalog": EXAMPLE, "workflow_tools": True}


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


def posts(sandbox: SandboxState) -> int:
    return sandbox.count("POST", "/workflows/")


# ---- the allow-list ----------------------------------------------------------------------------------------------


async def test_allow_list_filters_the_listing(transport: httpx2.ASGITransport, era: str) -> None:
    """Only allowed workflows are listed, from the API and the catalog alike; unknown allowed ids are not made up."""
    async with serve(transport, era, allowed_workflows=ALLOWED, **WITH_TOOLS) as client:
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
    assert [item["id"] for item in listing["workflows"]] == ["monthly-report", "timer"]


async def test_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """WAVE_ALLOWED_WORKFLOWS is read as a comma-separated list, blanks dropped."""
    monkeypatch.setenv("WAVE_ALLOWED_WORKFLOWS", " monthly-report, ,timer ")
    assert make_settings().allowed_workflows == ["monthly-report", "timer"]


@pytest.mark.parametrize("workflow_id", ["nightly-import", "8988f685-2b8c-4a09-9955-150426265d32", "unknown"])
async def test_generic_tool_refuses_other_workflows(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str, workflow_id: str
) -> None:
    """execute_workflow refuses a workflow outside the allow-list, sends nothing, and still starts allowed ones."""
    async with serve(transport, era, allowed_workflows=ALLOWED, **WITH_TOOLS) as client:
        refused = await client.call_tool("execute_workflow", {"workflow_id": workflow_id, "params": {}})
        allowed = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 1}})
    assert refused.is_error
    assert f"Workflow '{workflow_id}' is not allowed on this server" in text_of(refused)
    assert "nothing was sent" in text_of(refused) and "list_workflows" in text_of(refused)
    assert not allowed.is_error
    assert sandbox.requests == [("POST", "/workflows/timer/execute")]


async def test_allow_list_is_checked_before_params(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """A disallowed workflow is refused as such, whatever its params: the model learns nothing about them."""
    async with serve(transport, era, allowed_workflows=["timer"], catalog=EXAMPLE) as client:
        refused = await client.call_tool(
            "execute_workflow", {"workflow_id": "monthly-report", "params": {"month": "Marhc"}}
        )
    assert "not allowed" in text_of(refused) and "Marhc" not in text_of(refused)
    assert posts(sandbox) == 0


async def test_typed_tools_exist_only_for_allowed_workflows(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """Only allowed workflows get typed tools; calling another is a tool error."""
    async with serve(transport, era, allowed_workflows=ALLOWED, **WITH_TOOLS) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("run_nightly_import", {})
        allowed = await client.call_tool("run_timer", {"seconds": 1, "wait_seconds": 0})
    assert names == {"list_workflows", "execute_workflow", "get_run", "wait_for_run", "run_monthly_report", "run_timer"}
    assert refused.is_error and "run_nightly_import" in text_of(refused)
    assert not allowed.is_error
    assert sandbox.requests == [("POST", "/workflows/timer/execute")]


async def test_resources_and_prompt_show_only_allowed_workflows(transport: httpx2.ASGITransport, era: str) -> None:
    """Resources and the prompt show only the allowed workflows; reading another is refused."""
    async with serve(transport, era, allowed_workflows=ALLOWED, **WITH_TOOLS) as client:
        listed = [str(resource.uri) for resource in (await client.list_resources()).resources]
        with pytest.raises(MCPError, match="not allowed on this server"):
            await client.read_resource("wave://workflows/nightly-import")
        allowed = (await client.read_resource("wave://workflows/timer")).contents
        prompt = await client.get_prompt("run_workflow", {})
    assert listed == ["wave://workflows/monthly-report", "wave://workflows/timer"]
    assert "# Timer" in getattr(allowed[0], "text", "")
    text = getattr(prompt.messages[0].content, "text", "")
    assert "- timer, Timer" in text and "nightly-import" not in text


async def test_runs_of_other_workflows_cannot_be_read(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """A run of a workflow outside the allow-list (started elsewhere) is refused by get_run, wait_for_run and
    wave://runs/{id}; waiting stops at the first read."""
    open_server = build_server(make_settings(), transport=transport)
    async with Client(open_server, mode=era) as client:
        started = await client.call_tool("execute_workflow", {"workflow_id": "nightly-import", "params": {}})
    run_id = (started.structured_content or {})["id"]
    sandbox.requests.clear()
    async with serve(transport, era, allowed_workflows=ALLOWED, catalog=EXAMPLE) as client:
        got = await client.call_tool("get_run", {"run_id": run_id})
        waited = await client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 5})
        with pytest.raises(MCPError, match="not allowed on this server"):
            await client.read_resource(f"wave://runs/{run_id}")
    for refused in (got, waited):
        assert refused.is_error
        assert f"Run '{run_id}' belongs to workflow 'nightly-import', which is not allowed" in text_of(refused)
    assert sandbox.requests == [("GET", f"/runs/{run_id}")] * 3


# ---- read-only mode -------------------------------------------------------------------------------------------------


async def test_read_only_offers_no_tool_that_executes(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """No execute_workflow and no typed tool exist; listing, reading and waiting remain; nothing is sent."""
    async with serve(transport, era, read_only=True, **WITH_TOOLS) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        instructions = client.instructions or ""
        refused = [
            await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {}}),
            await client.call_tool("run_timer", {"seconds": 1}),
        ]
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
        resources = (await client.list_resources()).resources
        prompts = (await client.list_prompts()).prompts
    assert set(tools) == {"list_workflows", "get_run", "wait_for_run"}
    assert all(tool.annotations is not None and tool.annotations.read_only_hint for tool in tools.values())
    assert "read-only" in instructions
    assert all(result.is_error for result in refused)
    assert posts(sandbox) == 0
    assert [item["id"] for item in listing["workflows"]] == list(DEMO_WORKFLOWS)
    assert all(item["tool"] is None for item in listing["workflows"])
    assert len(resources) == len(load_catalog(EXAMPLE).entries)
    assert prompts == []


async def test_read_only_still_reads_runs(transport: httpx2.ASGITransport, sandbox: SandboxState, era: str) -> None:
    """In read-only mode runs started elsewhere can still be waited for and read."""
    open_server = build_server(make_settings(), transport=transport)
    async with Client(open_server, mode=era) as client:
        started = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 1}})
    run_id = (started.structured_content or {})["id"]
    async with serve(transport, era, read_only=True, catalog=EXAMPLE) as client:
        done = await client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 10})
        contents = (await client.read_resource(f"wave://runs/{run_id}")).contents
    assert (done.structured_content or {})["status"] == "completed"
    assert '"status": "completed"' in getattr(contents[0], "text", "")
    assert posts(sandbox) == 1
