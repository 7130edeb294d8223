"""The MCP Apps views (`io.modelcontextprotocol/ui`): the run card and the workflow form, over the run service.

- `ui://wave/run`, the run card: bound to the tools that return a run (execute_workflow, the typed tools, get_run,
  wait_for_run). While the run is running it follows it by itself through `look_at_run`, a tool only the view
  calls (`visibility: ["app"]`), at the pace the run service's schedule asks.
- `ui://wave/workflow-form`, the workflow form: bound to `show_workflow_form(workflow_id)`, which hands the view the
  catalogued workflow (its params schema); the view builds the form, checks it, starts the run with
  execute_workflow and turns into the run card.

Everything here translates: reading, pacing and bounding live in `RunService`. The pages are plain HTML, CSS and
JavaScript shipped in `wave_mcp/apps/`, put together here (inlined, nothing fetched) and served as
`text/html;profile=mcp-app`. A client that does not negotiate Apps sees the tools exactly as before: `middleware`
leaves the two view tools out of its tool listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Annotated, Any

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from wave_mcp import __version__
from wave_mcp.limits import MAX_ID_LENGTH
from wave_mcp.models import WaitReport, WorkflowInfo
from wave_mcp.results import tool_errors
from wave_mcp.runs import RunService

__all__ = [
    "FORM_TOOL",
    "LOOK_TOOL",
    "NEXT_LOOK_META",
    "RUN_CARD",
    "RUN_CARD_META",
    "WORKFLOW_FORM",
    "RunLook",
    "page",
    "run_apps",
]

RUN_CARD = "ui://wave/run"
WORKFLOW_FORM = "ui://wave/workflow-form"
LOOK_TOOL = "look_at_run"
FORM_TOOL = "show_workflow_form"
RUN_CARD_META: dict[str, Any] = {"ui": {"resourceUri": RUN_CARD}}
"""The `_meta` of every tool that returns a run: hosts with Apps show the run card with its result."""
NEXT_LOOK_META = "wave-mcp/nextLookSeconds"
"""In a running run's tool result, for Apps clients only: when the card should look at it first."""

_VIEW_TOOLS = frozenset({LOOK_TOOL, FORM_TOOL})
"""Tools that only make sense with a view: left out of the listing of clients without Apps."""

Ctx = Context[RunService, Any]


class RunLook(BaseModel):
    """One look at a run for the run card: the run as a wait would report it, and when to look again."""

    report: WaitReport | None = Field(description="The run now; null when the Wave API did not answer (look again).")
    message: str = Field(description="How the run looks, in words, e.g. 'running for 14 s'.")
    running: bool = Field(description="True while the run may still change: look again after next_look_seconds.")
    next_look_seconds: float = Field(description="The pause the adaptive schedule asks before the next look.")
    age_seconds: float = Field(description="How long the run has been going, as far as is known.")


def run_apps(*, can_start: bool) -> Apps:
    """The Apps extension: the run card with its look tool, and (when the server may start runs) the form."""
    apps = Apps()
    apps.add_html_resource(
        RUN_CARD,
        page("run"),
        name="run-card",
        title="Run card",
        description="A run of a Wave workflow: its status, progress and result; it follows a running run.",
        prefers_border=True,
    )

    @apps.tool(
        resource_uri=RUN_CARD,
        visibility=["app"],
        name=LOOK_TOOL,
        title="Look at run (run card)",
        description="Used by the run card only: one look at a run and how long to pause before the next one.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    async def look_at_run(
        ctx: Ctx,
        run_id: Annotated[str, Field(description="The run's id.", min_length=1, max_length=MAX_ID_LENGTH)],
    ) -> RunLook:
        with tool_errors():
            look = await ctx.request_context.lifespan_context.look(run_id)
        return RunLook(
            report=look.report,
            message=look.message,
            running=look.running,
            next_look_seconds=look.next_look,
            age_seconds=round(look.age, 2),
        )

    if can_start:
        _add_form(apps)
    return apps


def _add_form(apps: Apps) -> None:
    apps.add_html_resource(
        WORKFLOW_FORM,
        page("workflow-form"),
        name="workflow-form",
        title="Workflow form",
        description="A form built from a workflow's parameter schema that starts a run and shows its run card.",
        prefers_border=True,
    )

    @apps.tool(
        resource_uri=WORKFLOW_FORM,
        name=FORM_TOOL,
        title="Show workflow form",
        description=(
            "Show the user a form for one catalogued workflow (one with a params_schema in list_workflows), built "
            "from its parameters: the user fills it in and presses Run, and the run card then follows the run. Use "
            "it when the user wants to run a workflow themselves or to choose its parameters; it starts nothing."
        ),
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
    )
    async def show_workflow_form(
        ctx: Ctx,
        workflow_id: Annotated[
            str,
            Field(description="The workflow's id, exactly as list_workflows gives it.", min_length=1, max_length=256),
        ],
    ) -> Annotated[CallToolResult, WorkflowInfo]:
        with tool_errors():
            info = ctx.request_context.lifespan_context.workflow(workflow_id)
        named = f"'{info.name}'" if info.name else f"'{info.id}'"
        text = (
            f"The form of workflow {named} is shown to the user: they fill in its parameters and press Run, and the "
            "run card then follows the run. Do not start the workflow yourself unless the user asks."
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=info.model_dump(mode="json")
        )


async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Keeps the view tools and pages out of the listings of clients without Apps, and tells an Apps client's run
    card when to look first at a run a tool returned running."""
    if ctx.method in ("tools/list", "resources/list"):
        result = await call_next(ctx)
        key = "tools" if ctx.method == "tools/list" else "resources"
        if isinstance(result, dict) and isinstance(result.get(key), list) and not client_supports_apps(ctx):
            result[key] = [item for item in result[key] if not _for_views(item)]
        return result
    if ctx.method != "tools/call" or not isinstance(ctx.params, Mapping):
        return await call_next(ctx)
    result = await call_next(ctx)
    if isinstance(result, dict) and not result.get("isError") and client_supports_apps(ctx):
        report = result.get("structuredContent")
        if isinstance(report, dict) and report.get("status") == "running" and isinstance(report.get("id"), str):
            service: RunService = ctx.lifespan_context
            meta = result.setdefault("_meta", {})
            if isinstance(meta, dict):
                meta[NEXT_LOOK_META] = service.next_look(report["id"])
    return result


def _for_views(item: object) -> bool:
    """A view tool or a `ui://` page in a listing: only clients with Apps can use them."""
    if not isinstance(item, dict):
        return False
    return item.get("name") in _VIEW_TOOLS or str(item.get("uri", "")).startswith("ui://")


@cache
def page(name: str) -> str:
    """The page `name` (`run` or `workflow-form`) put together from its files in wave_mcp/apps: the shared style
    and script inlined, so the view loads nothing."""
    folder = resources.files("wave_mcp") / "apps"
    html = (folder / f"{name}.html").read_text(encoding="utf-8")
    parts = {
        "/*STYLE*/": (folder / "style.css").read_text(encoding="utf-8"),
        "/*CARD*/": (folder / "card.js").read_text(encoding="utf-8").replace("@VERSION@", __version__),
    }
    if name == "workflow-form":
        parts["/*FORM*/"] = (folder / "form.js").read_text(encoding="utf-8")
    for marker, text in parts.items():
        html = html.replace(marker, text)
    return html
