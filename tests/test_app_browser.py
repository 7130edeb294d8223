"""The MCP Apps views in a real browser: Debian's chromium, driven by Playwright, loads a test host page whose host
side is ext-apps' own `AppBridge` (bundled from npm by esbuild); the view's tool calls go through a Python bridge to a
real wave-mcp server on the sandbox (real time: the monthly report takes 6 s). Checked as a person would: what the
card and the form show, what they refuse, and what they send.

Needs `make external-clients` (ext-apps and esbuild in .tools/node, chromium from apt); skips, saying why, without.
UPDATE_SCREENSHOTS=1 writes the screenshots to docs/screenshots/ (for the README); else they go to a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tests.helpers import API_KEY, EXAMPLE_ID, ROOT, make_settings
from tests.servers import app_in_thread
from wave_mcp.config import Settings
from wave_mcp.models import parse_timestamp
from wave_mcp.sandbox import SandboxTransport, create_app
from wave_mcp.server import build_server

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent / "apps"
NODE = ROOT / ".tools" / "node"
ESBUILD = NODE / "node_modules" / ".bin" / "esbuild"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def _defaults(name: str) -> Any:
    return Settings.model_fields[name].default


# ---- what the tests need, or a clear reason to skip -----------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium: Playwright cannot download a browser here."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed: run `make chromium` (apt-get install chromium) for the browser tests")
    return path


@pytest.fixture(scope="session")
def host_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ext-apps' AppBridge bundled by esbuild for the test host page."""
    if not ESBUILD.exists() or not (NODE / "node_modules" / "@modelcontextprotocol" / "ext-apps").exists():
        pytest.skip("ext-apps or esbuild is missing in .tools/node: run `make external-clients`")
    out = tmp_path_factory.mktemp("host") / "host.js"
    command = [
        str(ESBUILD),
        str(HERE / "host_entry.js"),
        "--bundle",
        "--format=iife",
        f"--outfile={out}",
        "--log-level=error",
    ]
    subprocess.run(command, check=True, env={**os.environ, "NODE_PATH": str(NODE / "node_modules")}, timeout=120)
    return out


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One headless chromium for the module."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: `make install-test`")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


class Host:
    """The test host: its URL, and the tool calls the server received through it."""

    def __init__(self) -> None:
        self.url = ""
        self.calls: list[str] = []


@pytest.fixture(scope="module")
def host(host_bundle: Path) -> Iterator[Host]:
    """The test host page and its Python bridge, in front of a real server on the sandbox in real time."""
    settings = make_settings(
        catalog=ROOT / "wave_mcp" / "examples" / "catalog.toml",
        poll_interval_min=_defaults("poll_interval_min"),
        poll_interval_max=_defaults("poll_interval_max"),
    )
    server = build_server(settings, transport=SandboxTransport(app=create_app(api_key=API_KEY)))
    state = Host()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
        async with Client(server, extensions=[apps]) as client:
            app.state.client = client
            yield

    async def rpc(request: Request) -> Response:
        body = await request.json()
        method, params = body["method"], body.get("params") or {}
        client: Client = request.app.state.client
        if method == "tools/list":
            tools = (await client.list_tools()).tools
            return JSONResponse([tool.model_dump(by_alias=True, mode="json", exclude_none=True) for tool in tools])
        if method == "resources/read":
            content = (await client.read_resource(params["uri"])).contents[0]
            return JSONResponse({"mimeType": content.mime_type, "text": getattr(content, "text", "")})
        if method == "tools/call":
            state.calls.append(params["name"])
            result = await client.call_tool(params["name"], params.get("arguments") or {})
            return JSONResponse(result.model_dump(by_alias=True, mode="json", exclude_none=True))
        return JSONResponse({"error": f"unknown method {method}"}, status_code=400)

    app = Starlette(
        routes=[
            Route("/", lambda _: FileResponse(HERE / "host.html")),
            Route("/host.js", lambda _: FileResponse(host_bundle, media_type="text/javascript")),
            Route("/rpc", rpc, methods=["POST"]),
            Route("/favicon.ico", lambda _: Response(status_code=204)),
        ],
        lifespan=lifespan,
    )
    with app_in_thread(app) as url:
        state.url = url
        yield state


@pytest.fixture
def page(browser: Any, host: Host) -> Iterator[Any]:
    """A fresh page of the test host, narrow like a chat column."""
    host.calls.clear()
    context = browser.new_context(viewport={"width": 480, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.goto(host.url)
    yield opened
    context.close()
    assert not errors, errors


def open_tool(page: Any, name: str, arguments: dict[str, Any], theme: str = "light") -> dict[str, Any]:
    """The host calls the tool and shows its view with the result; returns the tool's result."""
    result: dict[str, Any] = page.evaluate(
        "([name, args, theme]) => openTool(name, args, {theme})", [name, arguments, theme]
    )
    return result


def view(page: Any) -> Any:
    return page.frame_locator("#frame")


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """A picture of the view as the host shows it (docs/screenshots with UPDATE_SCREENSHOTS=1)."""
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.locator("#frame").screenshot(path=str(path))
    return path


# ---- the run card ------------------------------------------------------------------------------------------


def test_the_card_shows_a_completed_run_s_status_and_result_table(page: Any, host: Host, tmp_path: Path) -> None:
    """A run that completed within the call: the status as text, the workflow, the id, and the result as a table."""
    arguments = {"workflow_id": EXAMPLE_ID, "params": {"param1": "value 1", "param2": "value 2"}, "wait_seconds": 10}
    result = open_tool(page, "execute_workflow", arguments)
    card = view(page)
    status = card.locator("#run-status")
    status.wait_for()
    assert status.inner_text() == "Completed"
    assert card.locator("#run-title").inner_text() == "My workflow"
    assert card.locator("#run-id").input_value() == result["structuredContent"]["id"]
    assert card.locator("table.kv th", has_text="key1").count() == 1
    assert card.locator("table.kv td", has_text="value 2").count() == 1
    assert page.evaluate("host.mimeType") == APP_MIME_TYPE
    screenshot(page, "run-card-completed", tmp_path)


def test_a_running_run_turns_completed_by_itself(page: Any, host: Host, tmp_path: Path) -> None:
    """Started without waiting, the card shows it running, follows it through look_at_run and tells the model."""
    open_tool(page, "execute_workflow", {"workflow_id": "timer", "params": {"seconds": 2}})
    card = view(page)
    card.locator("#run-status", has_text="Running").wait_for()
    screenshot(page, "run-card-running", tmp_path)
    card.locator("#run-status", has_text="Completed").wait_for(timeout=10_000)
    assert card.locator("table.kv th", has_text="waited_seconds").count() == 1
    assert "look_at_run" in host.calls
    page.wait_for_function("host.modelContext.length > 0")
    told = page.evaluate("host.modelContext[0].params.content[0].text")
    assert "completed" in told and "'Timer'" in told and "waited_seconds" in told


def test_a_failed_run_says_so_plainly(page: Any, host: Host, tmp_path: Path) -> None:
    """A failed run: the status 'Failed' in words and the API's error as a sentence, the rest as details."""
    open_tool(page, "execute_workflow", {"workflow_id": "nightly-import", "wait_seconds": 10})
    card = view(page)
    card.locator("#run-status", has_text="Failed").wait_for()
    alert = card.locator("[role=alert]")
    assert "The run failed." in alert.inner_text()
    assert "Source database unreachable: connection refused" in alert.inner_text()
    assert card.locator("table.kv td", has_text="extract").count() == 1
    screenshot(page, "run-card-failed", tmp_path)


def test_a_big_result_is_paged_with_get_run_s_slices(page: Any, host: Host) -> None:
    """A result past the bound shows its first slice; 'Next part' reads the next one through get_run."""
    open_tool(page, "execute_workflow", {"workflow_id": "export-orders", "params": {"rows": 3000}, "wait_seconds": 10})
    card = view(page)
    card.locator("#page-note").wait_for()
    first = card.locator("#page-note").inner_text()
    assert "Characters 0 to" in first
    text = card.locator("#page-text").inner_text()
    assert text.startswith('{"count":3000,"orders":[')
    card.get_by_role("button", name="Next part").click()
    card.locator("#page-note", has_text="Characters 40,000 to").wait_for()
    assert host.calls[-1] == "get_run"
    card.get_by_role("button", name="Previous part").click()
    card.locator("#page-note", has_text="Characters 0 to").wait_for()


def test_values_from_the_api_are_shown_as_text_never_as_html(page: Any, host: Host) -> None:
    """A result holding markup shows those characters; no element is made from it and no script runs."""
    markup = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b>"
    open_tool(page, "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": {"param1": markup}, "wait_seconds": 10})
    card = view(page)
    card.locator("#run-status", has_text="Completed").wait_for()
    assert card.locator("table.kv td", has_text=markup).count() == 1
    assert card.locator("img").count() == 0 and card.locator("b").count() == 0
    assert page.frames[1].title() == "Wave run"


def test_the_card_follows_the_host_s_dark_theme(page: Any, host: Host, tmp_path: Path) -> None:
    """With the host's dark theme and variables, the card's background and text are the host's."""
    arguments = {"workflow_id": "monthly-report", "params": {"month": "March", "year": 2026}, "wait_seconds": 15}
    open_tool(page, "execute_workflow", arguments, theme="dark")
    card = view(page)
    card.locator("#run-status", has_text="Completed").wait_for()
    colours = card.locator("body").evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]")
    assert colours == ["rgb(31, 33, 37)", "rgb(236, 238, 241)"]
    screenshot(page, "run-card-dark", tmp_path)


# ---- the workflow form -------------------------------------------------------------------------------------


def test_the_form_renders_the_monthly_report_s_fields(page: Any, host: Host, tmp_path: Path) -> None:
    """Month as a required select of the twelve months, year as a number with the schema's bounds, help texts."""
    open_tool(page, "show_workflow_form", {"workflow_id": "monthly-report"})
    form = view(page)
    month = form.get_by_role("combobox", name="Month")
    month.wait_for()
    assert month.evaluate("e => e.tagName") == "SELECT"
    assert month.get_attribute("aria-required") == "true"
    assert month.locator("option").count() == 13  # "Choose…" and the months
    year = form.get_by_role("spinbutton", name="Year")
    assert (year.get_attribute("type"), year.get_attribute("min"), year.get_attribute("max")) == (
        "number",
        "2000",
        "2100",
    )
    assert form.get_by_text("The month, as its English name.").count() == 1
    screenshot(page, "workflow-form", tmp_path)


def test_the_form_refuses_a_missing_required_field_and_sends_nothing(page: Any, host: Host) -> None:
    """Run with no month and a year out of bounds: both said at their fields, focus on the first, no call made."""
    open_tool(page, "show_workflow_form", {"workflow_id": "monthly-report"})
    form = view(page)
    form.get_by_role("spinbutton", name="Year").fill("1999")
    form.get_by_role("button", name="Run").click()
    form.locator("#form-errors").wait_for()
    assert "Month is required." in form.locator("#form-errors").inner_text()
    assert "Year must be at least 2000." in form.locator("#form-errors").inner_text()
    assert form.get_by_role("combobox", name="Month").get_attribute("aria-invalid") == "true"
    assert form.get_by_role("combobox", name="Month").evaluate("e => e === document.activeElement")
    assert host.calls == ["show_workflow_form"]


def test_the_form_runs_a_valid_report_and_the_card_follows_it_to_the_end(page: Any, host: Host) -> None:
    """A valid form starts the run with execute_workflow, turns into the card, and the card sees the 6 s run end
    (told to the model) within the run service's pause at that age (growth 0.25 with 10 % jitter: at most 1.65 s)
    plus the trip through the host. The lag is printed; its median is what the issue's 1 s bar is about."""
    open_tool(page, "show_workflow_form", {"workflow_id": "monthly-report"})
    form = view(page)
    form.get_by_role("combobox", name="Month").select_option(label="March")
    form.get_by_role("spinbutton", name="Year").fill("2026")
    form.get_by_role("button", name="Run").click()
    form.locator("#run-status", has_text="Running").wait_for()
    form.locator("#run-status", has_text="Completed").wait_for(timeout=20_000)
    assert host.calls[:2] == ["show_workflow_form", "execute_workflow"]
    assert form.locator("table.kv th", has_text="revenue_eur").count() == 1
    page.wait_for_function("host.modelContext.length > 0")
    told_at = page.evaluate("host.modelContext[0].at") / 1000
    run = call(page, "get_run", {"run_id": form.locator("#run-id").input_value()})
    started = parse_timestamp(run["structuredContent"]["started_at"])
    assert started is not None
    lag = told_at - (started.timestamp() + 6.0)
    print(f"run card detection lag for a 6 s run: {lag:.2f} s; looks: {host.calls.count('look_at_run')}")
    assert lag <= 0.25 * 6.0 * 1.1 + 0.35


def call(page: Any, method_or_tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call through the test's Python bridge, as the host makes it (not from the view)."""
    result: dict[str, Any] = page.evaluate(
        "([name, args]) => fetch('/rpc', {method: 'POST', body: JSON.stringify({method: 'tools/call', "
        "params: {name, arguments: args}})}).then(r => r.json())",
        [method_or_tool, arguments],
    )
    return result


def test_a_workflow_that_changes_data_asks_before_it_runs(page: Any, host: Host) -> None:
    """Not `safe`: Run asks first; Cancel sends nothing; 'Yes, run it' starts it and the card shows the failure."""
    open_tool(page, "show_workflow_form", {"workflow_id": "nightly-import"})
    form = view(page)
    form.get_by_text("This workflow takes no parameters.").wait_for()
    form.get_by_role("button", name="Run").click()
    form.get_by_role("button", name="Cancel").click()
    assert host.calls == ["show_workflow_form"]
    form.get_by_role("button", name="Run").click()
    form.get_by_role("button", name="Yes, run it").click()
    form.locator("#run-status", has_text="Failed").wait_for(timeout=10_000)
    assert "execute_workflow" in host.calls


def test_the_pages_are_small_and_paint_fast(page: Any, host: Host) -> None:
    """Each page is at most 60 KB, and the card paints within a second of the tool result reaching the view."""
    for uri in ("ui://wave/run", "ui://wave/workflow-form"):
        text: str = page.evaluate(
            "uri => fetch('/rpc', {method: 'POST', body: JSON.stringify({method: 'resources/read', params: {uri}})})"
            ".then(r => r.json()).then(r => r.text)",
            uri,
        )
        print(f"{uri}: {len(text.encode()):,} bytes")
        assert len(text.encode()) <= 60_000
    run_id = call(page, "execute_workflow", {"workflow_id": "timer", "params": {"seconds": 0}})["structuredContent"][
        "id"
    ]
    started = time.monotonic()
    open_tool(page, "get_run", {"run_id": run_id})
    view(page).locator("#run-status").wait_for()
    painted = page.evaluate("performance.now() - host.resultSentAt")
    print(f"tool result to painted card: {painted:.0f} ms (whole open: {time.monotonic() - started:.2f} s)")
    assert painted < 1000
