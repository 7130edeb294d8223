"""The MCP server: `build_server(settings)` -> MCPServer with the four tools, the catalog's typed tools, resources and
prompt.

Everything here translates: MCP arguments to RunService calls, its reports to tool results, WaveError to ToolError
(`results`), and progress to `ctx.report_progress`. The behaviour lives in the run service.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any, TypeVar

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict, Field

from wave_mcp import __version__, app, guide
from wave_mcp.catalog import WAIT_ARGUMENT, Catalog, CatalogEntry, load_catalog, workflow_uri
from wave_mcp.config import Settings
from wave_mcp.errors import WaveError
from wave_mcp.guard import Guard
from wave_mcp.limits import MAX_ID_LENGTH
from wave_mcp.models import RunReport, WaitReport, WorkflowList
from wave_mcp.results import tool_errors, tool_result
from wave_mcp.runs import RunService
from wave_mcp.tasks import RunTasks
from wave_mcp.waiting import OnProgress

__all__ = ["build_server"]

log = logging.getLogger(__name__)

ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])
Ctx = Context[RunService, Any]

INSTRUCTIONS = """\
Run Wave workflows and report their results. Usual flow: list_workflows to find the workflow and its
parameters; execute_workflow to start a run (each call starts a new run); wait_for_run with the run's id until
its status is no longer 'running' (call it again when it times out); then tell the user the result. A 'failed'
status is a normal answer to report, not an error of the tools."""

READ_ONLY_NOTE = """
This server is read-only: it cannot start workflows. It can list them and read or wait for existing runs."""

TYPED_TOOLS_NOTE = """
Some workflows also have a tool of their own (see `tool` in list_workflows): it takes the workflow's parameters
as its arguments and starts a run like execute_workflow."""

WorkflowId = Annotated[
    str,
    Field(description="The workflow's id, exactly as list_workflows gives it.", min_length=1, max_length=MAX_ID_LENGTH),
]
RunId = Annotated[
    str,
    Field(description="The run's id, exactly as execute_workflow returned it.", min_length=1, max_length=MAX_ID_LENGTH),
]
ResultOffset = Annotated[
    int,
    Field(
        description="Start of the slice of a large result to return, in characters of its JSON text "
        "(from result_page.next_offset).",
        ge=0,
        le=1_000_000_000,
    ),
]
ResultPointer = Annotated[
    str | None,
    Field(
        description="JSON Pointer to return only one part of the result, e.g. '/items/0' or '/summary'.",
        max_length=1000,
    ),
]
Query = Annotated[
    str | None,
    Field(description="Only workflows whose id, name or description contains this text (any case).", max_length=200),
]
Params = Annotated[
    dict[str, Any], Field(description="The workflow's input parameters, as one JSON object (see list_workflows).")
]

_NOT_ALLOWED = (
    "Workflow '{}' is not allowed on this server (WAVE_ALLOWED_WORKFLOWS) or not granted to you: call list_workflows."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True)
"""Tools that only read: listing workflows, reading and waiting for runs."""


def _starts_runs(safe: bool | None = None) -> ToolAnnotations:
    """A tool that starts a run: read-only only when the operator says the workflow changes nothing."""
    if safe:
        return ToolAnnotations(read_only_hint=True, open_world_hint=True)
    return ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


def _described(fn: ToolFn) -> ToolFn:
    """Make the docstring one paragraph: the tool's description as the model reads it, free of source layout."""
    fn.__doc__ = " ".join((fn.__doc__ or "").split())
    return fn


def _service(ctx: Ctx) -> RunService:
    return ctx.request_context.lifespan_context


def _progress(ctx: Ctx) -> OnProgress:
    return ctx.report_progress


class _WholeArguments(ArgModelBase):
    """A typed tool's arguments, passed on whole: the catalog's JSON Schema checks them, not a pydantic model."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _typed_tool(entry: CatalogEntry, *, wait_max: float) -> Tool:
    """The workflow's own tool: its input schema is exactly the catalog's params schema plus `wait_seconds`."""
    default_wait = guide.wait_default(entry, wait_max)

    async def run_typed(ctx: Ctx, arguments: dict[str, Any]) -> Annotated[CallToolResult, WaitReport]:
        params = dict(arguments)
        wait = _wait_seconds(params.pop(WAIT_ARGUMENT, default_wait), wait_max)
        with tool_errors():
            report = await _service(ctx).start(
                entry.id, params, wait_seconds=wait, tool=entry.tool, on_progress=_progress(ctx)
            )
        return tool_result(report)

    tool = Tool.from_function(
        run_typed,
        name=entry.tool,
        title=entry.name or entry.id,
        description=guide.tool_description(entry, wait_max=wait_max),
        annotations=_starts_runs(entry.safe),
        meta=app.RUN_CARD_META,
    )
    metadata = tool.fn_metadata.model_copy(update={"arg_model": _WholeArguments})
    return tool.model_copy(update={"parameters": guide.tool_schema(entry, wait_max=wait_max), "fn_metadata": metadata})


def _wait_seconds(value: Any, wait_max: float) -> float:
    """A typed tool's `wait_seconds` (its schema is the catalog's, so it is checked here): a number, or its text."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= wait_max:
        raise ToolError(f"{WAIT_ARGUMENT} must be a number from 0 to {wait_max:g}; nothing was sent.")
    return float(value)


def build_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> MCPServer[RunService]:
    """Build the server for `settings`; `transport` replaces the network (tests, the in-process sandbox).

    Loads the catalog (`WAVE_CATALOG`) first: an invalid one raises ConfigError before anything is served.
    """
    catalog = load_catalog(settings.catalog) if settings.catalog is not None else Catalog()
    guard = Guard.of(settings.allowed_workflows, settings.read_only)
    offered = [entry for entry in catalog.entries if guard.allows(entry.id)]
    if settings.workflow_tools and not catalog.entries:
        log.warning("WAVE_WORKFLOW_TOOLS is on but no catalog (WAVE_CATALOG) describes any workflow: no typed tools")
    typed = offered if settings.workflow_tools and not settings.read_only else []
    tools = {entry.id: entry.tool for entry in typed}

    @asynccontextmanager
    async def lifespan(_: MCPServer[RunService]) -> AsyncIterator[RunService]:
        async with RunService.open(settings, catalog=catalog, tools=tools, transport=transport) as service:
            yield service

    note = READ_ONLY_NOTE if settings.read_only else TYPED_TOOLS_NOTE if typed else ""
    starters = [] if settings.read_only else ["execute_workflow", *tools.values()]
    tasks = RunTasks({"wait_for_run": "timeout_seconds"} | dict.fromkeys(starters, WAIT_ARGUMENT))
    server: MCPServer[RunService] = MCPServer(
        "wave",
        title="Wave workflows",
        version=__version__,
        instructions=INSTRUCTIONS + note,
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=[_typed_tool(entry, wait_max=settings.wait_max) for entry in typed],
        extensions=[tasks, app.run_apps(can_start=not settings.read_only)],
        middleware=[tasks.middleware, app.middleware],
    )
    _add_tools(server, settings)
    _add_resources(server, offered, tools, guard)
    if not settings.read_only:
        _add_prompt(server, offered, tools)
    return server


def _add_tools(server: MCPServer[RunService], settings: Settings) -> None:
    """The four tools, `execute_workflow` only when the server may start runs; their bounds depend on settings."""
    _add_list_workflows(server)
    if not settings.read_only:
        _add_execute_workflow(server, settings)
    _add_run_readers(server, settings)


def _add_list_workflows(server: MCPServer[RunService]) -> None:
    @server.tool(title="List workflows", annotations=READ_ONLY)
    @_described
    async def list_workflows(ctx: Ctx, query: Query = None) -> WorkflowList:
        """List the Wave workflows you can run: each one's id, name and description, and where documented the
        parameters it expects and what its result holds. Call this first to find the `workflow_id` (and the
        `params`) for execute_workflow."""
        with tool_errors():
            return await _service(ctx).list_workflows(query)


def _add_execute_workflow(server: MCPServer[RunService], settings: Settings) -> None:
    WaitSeconds = Annotated[
        float,
        Field(
            description=f"How long to wait for the run to finish, in seconds (0 to {settings.wait_max:g}). Keep it "
            "under about 50 s: many clients cut a tool call at 60 s.",
            ge=0,
            le=settings.wait_max,
        ),
    ]

    @server.tool(title="Execute workflow", annotations=_starts_runs(), meta=app.RUN_CARD_META)
    @_described
    async def execute_workflow(
        ctx: Ctx,
        workflow_id: WorkflowId,
        params: Params = {},  # noqa: B006 - the SDK copies defaults into each call's validated arguments
        wait_seconds: WaitSeconds = 0,
    ) -> Annotated[CallToolResult, WaitReport]:
        """Start a new run of a Wave workflow with the given parameters and return the run: its `id` and
        `status`. Every call starts another run, so never call it to check on a run: use wait_for_run or get_run
        with the returned id. Set `wait_seconds` (e.g. 20) to wait for the result in the same call; if the run is
        still `running` after that, call wait_for_run."""
        with tool_errors():
            started = _service(ctx).start(workflow_id, params, wait_seconds=wait_seconds, on_progress=_progress(ctx))
            return tool_result(await started)


def _add_run_readers(server: MCPServer[RunService], settings: Settings) -> None:
    Timeout = Annotated[
        float,
        Field(
            description=f"Longest time to wait, in seconds (default {settings.wait_default:g}, at most "
            f"{settings.wait_max:g}). Keep it under about 50 s: many clients cut a tool call at 60 s.",
            ge=0,
            le=settings.wait_max,
        ),
    ]

    @server.tool(title="Get run", annotations=READ_ONLY, meta=app.RUN_CARD_META)
    @_described
    async def get_run(
        ctx: Ctx, run_id: RunId, result_offset: ResultOffset = 0, result_pointer: ResultPointer = None
    ) -> Annotated[CallToolResult, RunReport]:
        """Read a run's status now and, once it has finished, its result. Returns at once: to wait until the run
        finishes use wait_for_run. A large result comes in slices: pass `result_offset` (from
        `result_page.next_offset`) for the next one, or `result_pointer` to pick one part."""
        with tool_errors():
            return tool_result(await _service(ctx).get(run_id, offset=result_offset, pointer=result_pointer))

    @server.tool(title="Wait for run", annotations=READ_ONLY, meta=app.RUN_CARD_META)
    @_described
    async def wait_for_run(
        ctx: Ctx, run_id: RunId, timeout_seconds: Timeout = settings.wait_default
    ) -> Annotated[CallToolResult, WaitReport]:
        """Wait until a run finishes (its status is no longer `running`) or `timeout_seconds` pass, reporting
        progress meanwhile, and return the run with its result. If `timed_out` is true the run is still working:
        call wait_for_run again (it starts nothing new). A `failed` status is a normal answer: report it."""
        with tool_errors():
            return tool_result(await _service(ctx).wait(run_id, timeout_seconds, on_progress=_progress(ctx)))


def _add_resources(
    server: MCPServer[RunService], entries: list[CatalogEntry], tools: dict[str, str], guard: Guard
) -> None:
    """`wave://workflows/{id}` for each allowed catalogued workflow, and the `wave://runs/{run_id}` template."""
    by_id = {entry.id: entry for entry in entries}

    def doc_of(entry: CatalogEntry) -> Callable[[], str]:
        def read() -> str:
            if not guard.allows(entry.id):  # listed for every caller; readable only where granted
                raise ResourceError(_NOT_ALLOWED.format(entry.id))
            return guide.documentation(entry, tool=tools.get(entry.id))

        return read

    for entry in entries:
        server.resource(
            workflow_uri(entry.id),
            name=entry.id,
            title=entry.name or entry.id,
            description=f"How to run the Wave workflow {entry.label}: its parameters and what its result holds.",
            mime_type="text/markdown",
        )(doc_of(entry))

    @server.resource(
        "wave://workflows/{workflow_id}",
        name="workflow",
        title="Workflow documentation",
        description="A catalogued workflow's documentation: its parameters and what its result holds.",
        mime_type="text/markdown",
    )
    def workflow_doc(workflow_id: str) -> str:
        if not guard.allows(workflow_id):
            raise ResourceError(_NOT_ALLOWED.format(workflow_id))
        entry = by_id.get(workflow_id)
        if entry is None:
            raise ResourceError(f"The catalog does not describe workflow '{workflow_id}': call list_workflows.")
        return doc_of(entry)()

    @server.resource(
        "wave://runs/{run_id}",
        name="run",
        title="Run",
        description="A run of a Wave workflow, read now: its status and, once finished, its result (as get_run).",
        mime_type="application/json",
    )
    async def run_resource(run_id: str, ctx: Ctx) -> str:
        try:
            report = await _service(ctx).get(run_id)
        except WaveError as exc:
            raise ResourceError(str(exc)) from None
        return json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2)


def _add_prompt(server: MCPServer[RunService], entries: list[CatalogEntry], tools: dict[str, str]) -> None:
    """The `run_workflow` prompt: choosing, checking and running a workflow with the user."""

    @server.prompt(
        name="run_workflow",
        title="Run a Wave workflow",
        description="Choose a Wave workflow with the user, fill in its parameters, run it and report the result.",
    )
    def run_workflow(
        goal: Annotated[
            str | None, Field(description="What the user wants done, in their words (optional).", max_length=2000)
        ] = None,
    ) -> str:
        return guide.prompt_text(entries, tools, goal)
