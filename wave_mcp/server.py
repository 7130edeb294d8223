"""The MCP server: `build_server(settings)` -> MCPServer with the four tools, the catalog's typed tools, resources and
prompt. The only module that imports mcp.

Tools are thin: they take the WaveClient from the lifespan, call `client`, `waiting` and `reports`, and turn
every WaveError into a ToolError at one place, so the model reads the message. Every tool that starts a run goes
through one path (`start_run`): the guard rails, the catalog's params check, then one POST.
"""

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict, Field

from wave_mcp import __version__, guide, waiting
from wave_mcp.caller import current_caller_key
from wave_mcp.catalog import WAIT_ARGUMENT, Catalog, CatalogEntry, load_catalog, workflow_uri
from wave_mcp.client import MAX_ID_LENGTH, WaveClient
from wave_mcp.config import Settings
from wave_mcp.errors import WaveError
from wave_mcp.guard import Guard
from wave_mcp.models import Run, RunReport, WaitReport, WorkflowList
from wave_mcp.redact import redact_json, redact_text
from wave_mcp.reports import bounded_listing, render_text, run_report, wait_report

__all__ = ["AppState", "build_server"]

log = logging.getLogger(__name__)

ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])

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


@dataclass
class AppState:
    """What the lifespan shares with every tool call."""

    client: WaveClient
    settings: Settings


@contextmanager
def _as_tool_error(secrets: Sequence[str]) -> Iterator[None]:
    """Every WaveError becomes a ToolError, whose message the model reads (other exceptions are masked)."""
    try:
        yield
    except WaveError as exc:
        raise ToolError(redact_text(str(exc), secrets)) from None


def _described(fn: ToolFn) -> ToolFn:
    """Make the docstring one paragraph: the tool's description as the model reads it, free of source layout."""
    fn.__doc__ = " ".join((fn.__doc__ or "").split())
    return fn


def _result(report: RunReport, secrets: Sequence[str]) -> CallToolResult:
    """The tool result: the text for the model and the structured content, with every secret masked."""
    return CallToolResult(
        content=[TextContent(type="text", text=redact_text(render_text(report), secrets))],
        structured_content=redact_json(report.model_dump(mode="json"), secrets),
    )


StartRun = Callable[[Context[AppState, Any], str, dict[str, Any], float, str], Awaitable[CallToolResult]]
"""The one path that starts a run: context, workflow id, params, seconds to wait, name of the calling tool."""


class _WholeArguments(ArgModelBase):
    """A typed tool's arguments, passed on whole: the catalog's JSON Schema checks them, not a pydantic model."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _execute_annotations(safe: bool | None) -> ToolAnnotations:
    """A tool that starts a run: read-only only when the operator says the workflow changes nothing."""
    if safe:
        return ToolAnnotations(read_only_hint=True, open_world_hint=True)
    return ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


def _typed_tool(entry: CatalogEntry, *, wait_max: float, start: StartRun) -> Tool:
    """The workflow's own tool: its input schema is exactly the catalog's params schema plus `wait_seconds`."""
    default_wait = guide.wait_default(entry, wait_max)

    async def run_typed(
        ctx: Context[AppState, Any], arguments: dict[str, Any]
    ) -> Annotated[CallToolResult, WaitReport]:
        params = dict(arguments)
        wait = params.pop(WAIT_ARGUMENT, default_wait)
        if isinstance(wait, str):
            wait = _number(wait)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= wait_max:
            raise ToolError(f"{WAIT_ARGUMENT} must be a number from 0 to {wait_max:g}; nothing was sent.")
        return await start(ctx, entry.id, params, float(wait), entry.tool)

    tool = Tool.from_function(
        run_typed,
        name=entry.tool,
        title=entry.name or entry.id,
        description=guide.tool_description(entry, wait_max=wait_max),
        annotations=_execute_annotations(entry.safe),
    )
    metadata = tool.fn_metadata.model_copy(update={"arg_model": _WholeArguments})
    return tool.model_copy(update={"parameters": guide.tool_schema(entry, wait_max=wait_max), "fn_metadata": metadata})


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def build_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> MCPServer[AppState]:
    """Build the server for `settings`; `transport` replaces the network (tests, the in-process sandbox).

    Loads the catalog (`WAVE_CATALOG`) first: an invalid one raises ConfigError before anything is served.
    """
    catalog = load_catalog(settings.catalog) if settings.catalog is not None else Catalog()
    guard = Guard.of(settings.allowed_workflows, settings.read_only)
    schedule = waiting.PollSchedule(min_interval=settings.poll_interval_min, max_interval=settings.poll_interval_max)
    max_chars = settings.max_result_chars

    def secrets() -> list[str]:
        """The keys in play for this request, to mask in what the model reads: the server's and the caller's."""
        return [key for key in (settings.key, current_caller_key()) if key]

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with WaveClient.open(settings, transport=transport) as client:
            yield AppState(client=client, settings=settings)

    async def waited(
        ctx: Context[AppState, Any], run_id: str, seconds: float, last_seen: Run | None = None
    ) -> WaitReport:
        """Wait for the run; `last_seen` is the run just started here (its age is then ~0, whatever the clocks say)."""
        state = ctx.request_context.lifespan_context
        if seconds <= 0:  # no time to wait: one read, with a plain read's own deadline
            began = time.monotonic()
            run = guard.check_run(await state.client.get_run(run_id))
            outcome = waiting.WaitOutcome(run=run, timed_out=run.is_running, elapsed=time.monotonic() - began, polls=1)
            return wait_report(outcome, max_chars=max_chars)
        started_here = last_seen is not None
        run_name = ""

        async def progress(value: float, total: float | None, message: str) -> None:
            await ctx.report_progress(value, total, redact_text(f"Run {run_id}{run_name}: {message}", secrets()))

        if last_seen is not None and last_seen.workflow_name:
            run_name = f" of '{last_seen.workflow_name}'"
        seen_at = None
        recent = state.client.last_read(run_id) if last_seen is None and seconds > 0 else None
        if recent is not None and (recent[0].workflow_id is None or guard.allows(recent[0].workflow_id)):
            last_seen, seen_at = recent  # read lately (execute, get_run, an earlier wait): keep the run's pace

        async def read(deadline: float) -> Run:
            return guard.check_run(await state.client.get_run(run_id, deadline=deadline))

        outcome = await waiting.wait_for_run(
            read,
            budget=seconds,
            schedule=schedule,
            last_seen=last_seen,
            initial_age=waiting.run_age(last_seen) if last_seen is not None and not started_here else 0.0,
            on_progress=progress,
            age_of=waiting.run_age,
            seen_at=seen_at,
        )
        return wait_report(outcome, max_chars=max_chars)

    async def start_run(
        ctx: Context[AppState, Any], workflow_id: str, params: dict[str, Any], wait_seconds: float, tool: str
    ) -> CallToolResult:
        """Guard rails, then the catalog's params check, then one POST; nothing is sent when a check fails."""
        state = ctx.request_context.lifespan_context
        began = time.monotonic()
        with _as_tool_error(secrets()):
            guard.check_execute(workflow_id)
            catalog.check_params(workflow_id, params, tool=tool)
            run = await state.client.execute(workflow_id, params)
        remaining = wait_seconds - (time.monotonic() - began)  # the call as a whole keeps to wait_seconds
        if remaining > 0 and run.is_running:
            try:
                return _result(await waited(ctx, run.id, remaining, last_seen=run), secrets())
            except WaveError as exc:  # the run exists: a failed wait must not read as a failed start
                step = (
                    f"The run was started, but waiting for it failed: {exc} Do not start the workflow again: call "
                    f"wait_for_run or get_run with run_id '{run.id}'."
                )
                outcome = waiting.WaitOutcome(run=run, timed_out=True, elapsed=time.monotonic() - began, polls=0)
                failed = wait_report(outcome, max_chars=max_chars).model_copy(update={"next_step": step})
                return _result(failed, secrets())
        started = waiting.WaitOutcome(run=run, timed_out=False, elapsed=0.0, polls=0)
        report = wait_report(started, max_chars=max_chars)
        if wait_seconds > 0 and run.is_running:  # the POST alone used up the wait
            report = report.model_copy(update={"timed_out": True})
        return _result(report, secrets())

    offered = [entry for entry in catalog.entries if guard.allows(entry.id)]
    if settings.workflow_tools and not catalog.entries:
        log.warning("WAVE_WORKFLOW_TOOLS is on but no catalog (WAVE_CATALOG) describes any workflow: no typed tools")
    typed_tools = (
        [_typed_tool(entry, wait_max=settings.wait_max, start=start_run) for entry in offered]
        if settings.workflow_tools and not settings.read_only
        else []
    )
    server: MCPServer[AppState] = MCPServer(
        "wave",
        title="Wave workflows",
        version=__version__,
        instructions=INSTRUCTIONS + (READ_ONLY_NOTE if settings.read_only else TYPED_TOOLS_NOTE if typed_tools else ""),
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=typed_tools,
    )

    WorkflowId = Annotated[
        str,
        Field(
            description="The workflow's id, exactly as list_workflows gives it.",
            min_length=1,
            max_length=MAX_ID_LENGTH,
        ),
    ]
    RunId = Annotated[
        str,
        Field(
            description="The run's id, exactly as execute_workflow returned it.",
            min_length=1,
            max_length=MAX_ID_LENGTH,
        ),
    ]
    WaitSeconds = Annotated[
        float,
        Field(
            description=f"How long to wait for the run to finish, in seconds (0 to {settings.wait_max:g}). Keep it "
            "under about 50 s: many clients cut a tool call at 60 s.",
            ge=0,
            le=settings.wait_max,
        ),
    ]

    @server.tool(
        title="List workflows",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    @_described
    async def list_workflows(
        ctx: Context[AppState, Any],
        query: Annotated[
            str | None,
            Field(
                description="Only workflows whose id, name or description contains this text (any case).",
                max_length=200,
            ),
        ] = None,
    ) -> WorkflowList:
        """List the Wave workflows you can run: each one's id, name and description, and where documented the
        parameters it expects and what its result holds. Call this first to find the `workflow_id` (and the
        `params`) for execute_workflow."""
        state = ctx.request_context.lifespan_context
        with _as_tool_error(secrets()):
            try:
                workflows, note = await state.client.list_workflows()
            except WaveError as exc:
                if not (catalog.entries and exc.transient):
                    raise
                workflows, note = None, "The Wave API's workflow listing failed just now."
        if workflows is None and catalog.entries:
            note = f"{note or ''} Listed from the local catalog only.".strip()
        infos = catalog.listing(workflows, allowed=guard.allows, tools=[tool.name for tool in typed_tools])
        if query:
            needle = query.lower()
            infos = [w for w in infos if any(needle in (text or "").lower() for text in (w.id, w.name, w.description))]
        listing = bounded_listing(WorkflowList(workflows=infos, note=note), max_chars=max_chars)
        return WorkflowList.model_validate(redact_json(listing.model_dump(), secrets()))

    @server.tool(
        title="Execute workflow",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @_described
    async def execute_workflow(
        ctx: Context[AppState, Any],
        workflow_id: WorkflowId,
        params: Annotated[
            dict[str, Any],
            Field(description="The workflow's input parameters, as one JSON object (see list_workflows)."),
        ] = {},  # noqa: B006 - the SDK copies defaults into each call's validated arguments
        wait_seconds: WaitSeconds = 0,
    ) -> Annotated[CallToolResult, WaitReport]:
        """Start a new run of a Wave workflow with the given parameters and return the run: its `id` and
        `status`. Every call starts another run, so never call it to check on a run: use wait_for_run or get_run
        with the returned id. Set `wait_seconds` (e.g. 20) to wait for the result in the same call; if the run is
        still `running` after that, call wait_for_run."""
        return await start_run(ctx, workflow_id, params, wait_seconds, "execute_workflow")

    @server.tool(
        title="Get run",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    @_described
    async def get_run(
        ctx: Context[AppState, Any],
        run_id: RunId,
        result_offset: Annotated[
            int,
            Field(
                description="Start of the slice of a large result to return, in characters of its JSON text "
                "(from result_page.next_offset).",
                ge=0,
                le=1_000_000_000,
            ),
        ] = 0,
        result_pointer: Annotated[
            str | None,
            Field(
                description="JSON Pointer to return only one part of the result, e.g. '/items/0' or '/summary'.",
                max_length=1000,
            ),
        ] = None,
    ) -> Annotated[CallToolResult, RunReport]:
        """Read a run's status now and, once it has finished, its result. Returns at once: to wait until the run
        finishes use wait_for_run. A large result comes in slices: pass `result_offset` (from
        `result_page.next_offset`) for the next one, or `result_pointer` to pick one part."""
        state = ctx.request_context.lifespan_context
        with _as_tool_error(secrets()):
            run = guard.check_run(await state.client.get_run(run_id))
            report = run_report(run, max_chars=max_chars, offset=result_offset, pointer=result_pointer)
            return _result(report, secrets())

    @server.tool(
        title="Wait for run",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
    @_described
    async def wait_for_run(
        ctx: Context[AppState, Any],
        run_id: RunId,
        timeout_seconds: Annotated[
            float,
            Field(
                description=f"Longest time to wait, in seconds (default {settings.wait_default:g}, at most "
                f"{settings.wait_max:g}). Keep it under about 50 s: many clients cut a tool call at 60 s.",
                ge=0,
                le=settings.wait_max,
            ),
        ] = settings.wait_default,
    ) -> Annotated[CallToolResult, WaitReport]:
        """Wait until a run finishes (its status is no longer `running`) or `timeout_seconds` pass, reporting
        progress meanwhile, and return the run with its result. If `timed_out` is true the run is still working:
        call wait_for_run again (it starts nothing new). A `failed` status is a normal answer: report it."""
        with _as_tool_error(secrets()):
            return _result(await waited(ctx, run_id, timeout_seconds), secrets())

    if settings.read_only:
        server.remove_tool("execute_workflow")
    tools_by_id = {entry.id: entry.tool for entry in offered} if typed_tools else {}
    _add_resources(server, offered, tools_by_id, guard, max_chars, secrets)
    if not settings.read_only:
        _add_prompt(server, offered, tools_by_id)
    return server


def _add_resources(
    server: MCPServer[AppState],
    entries: list[CatalogEntry],
    tools: dict[str, str],
    guard: Guard,
    max_chars: int,
    secrets: Callable[[], list[str]],
) -> None:
    """`wave://workflows/{id}` for each allowed catalogued workflow, and the `wave://runs/{run_id}` template."""
    by_id = {entry.id: entry for entry in entries}

    def doc_of(entry: CatalogEntry) -> Callable[[], str]:
        return lambda: guide.documentation(entry, tool=tools.get(entry.id))

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
            raise ResourceError(f"Workflow '{workflow_id}' is not allowed on this server (WAVE_ALLOWED_WORKFLOWS).")
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
    async def run_resource(run_id: str, ctx: Context[AppState, Any]) -> str:
        state = ctx.request_context.lifespan_context
        try:
            run = guard.check_run(await state.client.get_run(run_id))
        except WaveError as exc:
            raise ResourceError(redact_text(str(exc), secrets())) from None
        report = redact_json(run_report(run, max_chars=max_chars).model_dump(mode="json"), secrets())
        return json.dumps(report, ensure_ascii=False, indent=2)


def _add_prompt(server: MCPServer[AppState], entries: list[CatalogEntry], tools: dict[str, str]) -> None:
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
