"""The MCP server: `build_server(settings)` -> MCPServer with the four tools. The only module that imports mcp.

Tools are thin: they take the WaveClient from the lifespan, call `client`, `waiting` and `reports`, and turn
every WaveError into a ToolError at one place, so the model reads the message.
"""

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from wave_mcp import __version__, waiting
from wave_mcp.client import MAX_ID_LENGTH, WaveClient
from wave_mcp.config import Settings
from wave_mcp.errors import WaveError
from wave_mcp.models import Run, RunReport, WaitReport, WorkflowInfo, WorkflowList
from wave_mcp.redact import redact_json, redact_text
from wave_mcp.reports import bounded_listing, render_text, run_report, wait_report

__all__ = ["AppState", "build_server"]

INSTRUCTIONS = """\
Run Wave workflows and report their results. Usual flow: list_workflows to find the workflow and its
parameters; execute_workflow to start a run (each call starts a new run); wait_for_run with the run's id until
its status is no longer 'running' (call it again when it times out); then tell the user the result. A 'failed'
status is a normal answer to report, not an error of the tools."""


@dataclass
class AppState:
    """What the lifespan shares with every tool call."""

    client: WaveClient
    settings: Settings


@contextmanager
def _as_tool_error(*secrets: str) -> Iterator[None]:
    """Every WaveError becomes a ToolError, whose message the model reads (other exceptions are masked)."""
    try:
        yield
    except WaveError as exc:
        raise ToolError(redact_text(str(exc), secrets)) from None


def _result(report: RunReport, secrets: Sequence[str] = ()) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=redact_text(render_text(report), secrets))],
        structured_content=redact_json(report.model_dump(mode="json"), secrets),
    )


def build_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> MCPServer[AppState]:
    """Build the server for `settings`; `transport` replaces the network (tests, the in-process sandbox)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with WaveClient.open(settings, transport=transport) as client:
            yield AppState(client=client, settings=settings)

    server: MCPServer[AppState] = MCPServer(
        "wave",
        title="Wave workflows",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
    )
    schedule = waiting.PollSchedule(min_interval=settings.poll_interval_min, max_interval=settings.poll_interval_max)
    max_chars = settings.max_result_chars
    secret = settings.key

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

    async def waited(
        ctx: Context[AppState, Any], run_id: str, seconds: float, last_seen: Run | None = None
    ) -> WaitReport:
        state = ctx.request_context.lifespan_context
        run_name = ""

        async def progress(value: float, total: float | None, message: str) -> None:
            await ctx.report_progress(value, total, redact_text(f"Run {run_id}{run_name}: {message}", [secret]))

        if last_seen is not None and last_seen.workflow_name:
            run_name = f" of '{last_seen.workflow_name}'"
        outcome = await waiting.wait_for_run(
            lambda deadline: state.client.get_run(run_id, deadline=deadline),
            budget=seconds,
            schedule=schedule,
            last_seen=last_seen,
            initial_age=waiting.run_age(last_seen) if last_seen is not None else 0.0,
            on_progress=progress,
        )
        return wait_report(outcome, max_chars=max_chars)

    @server.tool(
        title="List workflows",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
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
        with _as_tool_error(secret):
            workflows, note = await state.client.list_workflows()
        infos = [WorkflowInfo(id=w.id, name=w.name, description=w.description) for w in workflows or []]
        if query:
            needle = query.lower()
            infos = [w for w in infos if any(needle in (text or "").lower() for text in (w.id, w.name, w.description))]
        listing = bounded_listing(WorkflowList(workflows=infos, note=note), max_chars=max_chars)
        return WorkflowList.model_validate(redact_json(listing.model_dump(), [secret]))

    @server.tool(
        title="Execute workflow",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
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
        state = ctx.request_context.lifespan_context
        with _as_tool_error(secret):
            run = await state.client.execute(workflow_id, params)
            if wait_seconds > 0 and run.is_running:
                return _result(await waited(ctx, run.id, wait_seconds, last_seen=run), [secret])
        report = run_report(run, max_chars=max_chars)
        return _result(WaitReport(**report.model_dump(), timed_out=False, elapsed_seconds=0.0, polls=0), [secret])

    @server.tool(
        title="Get run",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
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
        with _as_tool_error(secret):
            run = await state.client.get_run(run_id)
            report = run_report(run, max_chars=max_chars, offset=result_offset, pointer=result_pointer)
            return _result(report, [secret])

    @server.tool(
        title="Wait for run",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
    )
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
        with _as_tool_error(secret):
            return _result(await waited(ctx, run_id, timeout_seconds), [secret])

    return server
