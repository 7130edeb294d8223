"""The MCP Apps face (wave_mcp/app.py) as clients see it, in both protocol eras: the pages, the bound tools, the
app-only look tool, the form tool, and nothing new for clients without Apps."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import TextResourceContents

from tests.helpers import ERAS, ROOT, GuardedClient, data_of, make_settings, text_of
from wave_mcp.app import FORM_TOOL, LOOK_TOOL, NEXT_LOOK_META, RUN_CARD, WORKFLOW_FORM, page
from wave_mcp.server import build_server

CATALOG = ROOT / "wave_mcp" / "examples" / "catalog.toml"
pytestmark = pytest.mark.anyio

RUN_TOOLS = ("execute_workflow", "get_run", "wait_for_run", "run_monthly_report")


def apps_client(server: Any, era: str) -> Client:
    """A client that negotiates MCP Apps, as hosts that render views do."""
    return Client(server, mode=era, extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})])


@pytest.fixture(params=ERAS)
async def with_apps(request: pytest.FixtureRequest, transport: httpx2.ASGITransport) -> AsyncIterator[GuardedClient]:
    """An Apps client of a server with the example catalog and its typed tools."""
    server = build_server(make_settings(catalog=CATALOG, workflow_tools=True), transport=transport)
    async with apps_client(server, request.param) as client:
        yield GuardedClient(client)


@pytest.fixture(params=ERAS)
async def without_apps(request: pytest.FixtureRequest, transport: httpx2.ASGITransport) -> AsyncIterator[GuardedClient]:
    """A client that does not negotiate Apps, of the same server."""
    server = build_server(make_settings(catalog=CATALOG, workflow_tools=True), transport=transport)
    async with Client(server, mode=request.param) as client:
        yield GuardedClient(client)


async def test_the_pages_are_served_as_mcp_apps(with_apps: GuardedClient) -> None:
    """Both pages read back as `text/html;profile=mcp-app`, at most 60 KB, fetching nothing from the network."""
    for uri in (RUN_CARD, WORKFLOW_FORM):
        contents = (await with_apps.read_resource(uri)).contents
        assert len(contents) == 1 and isinstance(contents[0], TextResourceContents)
        assert contents[0].mime_type == APP_MIME_TYPE
        html = contents[0].text
        assert html.startswith("<!doctype html>") and len(html.encode()) <= 60_000
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "the page loads something from the network"
        assert "/*STYLE*/" not in html and "/*CARD*/" not in html and "@VERSION@" not in html
    listed = {str(resource.uri): resource for resource in (await with_apps.list_resources()).resources}
    assert listed[RUN_CARD].mime_type == APP_MIME_TYPE and listed[WORKFLOW_FORM].mime_type == APP_MIME_TYPE


async def test_the_run_tools_carry_the_run_card_and_the_form_tool_the_form(with_apps: GuardedClient) -> None:
    """Each tool returning a run names the run card; show_workflow_form names the form; look_at_run is app-only."""
    tools = {tool.name: tool for tool in (await with_apps.list_tools()).tools}
    for name in RUN_TOOLS:
        assert (tools[name].meta or {}).get("ui") == {"resourceUri": RUN_CARD}, name
    assert (tools[FORM_TOOL].meta or {}).get("ui") == {"resourceUri": WORKFLOW_FORM}
    assert (tools[LOOK_TOOL].meta or {}).get("ui") == {"resourceUri": RUN_CARD, "visibility": ["app"]}
    assert "ui" not in (tools["list_workflows"].meta or {})


async def test_a_client_without_apps_sees_no_view_tools_or_pages(without_apps: GuardedClient) -> None:
    """The SDK lists app-only tools to every client (it leaves hiding them to hosts), so the server leaves the view
    tools and ui:// pages out for clients that cannot show them; the run tools return what they did."""
    names = {tool.name for tool in (await without_apps.list_tools()).tools}
    assert not names & {LOOK_TOOL, FORM_TOOL}
    assert {"list_workflows", *RUN_TOOLS} <= names and all(
        name.startswith("run_") for name in names - set(RUN_TOOLS) - {"list_workflows"}
    )
    uris = [str(resource.uri) for resource in (await without_apps.list_resources()).resources]
    assert not [uri for uri in uris if uri.startswith("ui://")]
    started = await without_apps.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 100}})
    assert data_of(started)["status"] == "running"
    assert NEXT_LOOK_META not in (started.meta or {})


async def test_look_at_run_returns_the_look_until_the_run_ends(with_apps: GuardedClient) -> None:
    """The app-only tool: the run as a wait reports it, running with a pause to honour, then completed."""
    started = await with_apps.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 3}})
    run_id = data_of(started)["id"]
    assert 0 < (started.meta or {})[NEXT_LOOK_META] <= 0.5
    look = data_of(await with_apps.call_tool(LOOK_TOOL, {"run_id": run_id}))
    assert look["running"] is True and look["report"]["status"] == "running" and look["report"]["id"] == run_id
    assert 0 < look["next_look_seconds"] <= 0.5 and look["message"].startswith("running for")
    with anyio.fail_after(10):
        while look["running"]:
            await anyio.sleep(look["next_look_seconds"])
            look = data_of(await with_apps.call_tool(LOOK_TOOL, {"run_id": run_id}))
    assert look["report"]["status"] == "completed" and look["report"]["result"] == {"waited_seconds": 3}
    assert look["message"].startswith("completed after")


async def test_look_at_an_unknown_run_is_a_tool_error(with_apps: GuardedClient) -> None:
    """An id the API does not know: a tool error the card shows, not a look."""
    result = await with_apps.call_tool(LOOK_TOOL, {"run_id": "no-such-run"})
    assert result.is_error and "no-such-run" in text_of(result)


async def test_show_workflow_form_hands_the_view_the_catalogued_workflow(with_apps: GuardedClient) -> None:
    """The form tool returns the workflow with its params schema and tells the model, in words, not to run it."""
    result = await with_apps.call_tool(FORM_TOOL, {"workflow_id": "monthly-report"})
    info = data_of(result)
    assert info["id"] == "monthly-report" and info["safe"] is True
    assert info["params_schema"]["required"] == ["month"]
    assert "Monthly report" in text_of(result) and "Do not start the workflow yourself" in text_of(result)
    unknown = await with_apps.call_tool(FORM_TOOL, {"workflow_id": "not-catalogued"})
    assert unknown.is_error and "list_workflows" in text_of(unknown)


@pytest.mark.parametrize("era", ERAS)
async def test_a_read_only_server_offers_no_form(era: str, transport: httpx2.ASGITransport) -> None:
    """Read-only: the run card and its look tool stay, the form and its tool are not offered."""
    server = build_server(make_settings(catalog=CATALOG, read_only=True), transport=transport)
    async with apps_client(server, era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        uris = {str(resource.uri) for resource in (await client.list_resources()).resources}
    assert LOOK_TOOL in names and FORM_TOOL not in names
    assert RUN_CARD in uris and WORKFLOW_FORM not in uris


def test_the_pages_show_values_as_text_only() -> None:
    """No script of the views writes HTML: every value goes in through textContent or attributes."""
    folder = Path(__file__).resolve().parents[1] / "wave_mcp" / "apps"
    for script in ("card.js", "form.js"):
        code = (folder / script).read_text(encoding="utf-8")
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", code), script
    assert page("run") != page("workflow-form")
