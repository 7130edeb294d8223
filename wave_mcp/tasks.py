"""Wave runs as MCP tasks: a tool call that starts a run (or waits for one still running) answers at once with a
task, and the client, not the model, follows it until the run ends. Both protocol eras:

- 2026-07-28, the extension `io.modelcontextprotocol/tasks`, for a client that declares it on the request:
  a `CreateTaskResult` (`resultType: "task"`), then `tasks/get` and `tasks/cancel`;
- 2025-11-25, the experimental tasks: `capabilities.tasks`, `execution.taskSupport` on the tools, `tools/call` with
  `params.task`, then `tasks/get`, `tasks/result` and `tasks/cancel`.

Stateless: a task id is the run's id and the task's creation time, so any instance behind a load balancer answers
any `tasks/get` and a restart loses nothing. A forged id widens nothing: every read goes through the run service
(the guard rails, the caller's own key). A Wave run cannot be stopped, so `tasks/cancel` is acknowledged and the run
goes on, readable as before.

The tools themselves stay as they are: the middleware here asks them not to wait (their wait argument set to 0) and
turns the result, a run still running, into a task.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, RequestParams
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field

from wave_mcp.errors import AccessDeniedError, InvalidInputError, NotFoundError, WaveError
from wave_mcp.models import RUNNING, WaitReport, status_key
from wave_mcp.results import error_result, tool_result
from wave_mcp.runs import Look, RunService

__all__ = ["TASKS_EXTENSION", "RunTasks", "task_id"]

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
RELATED_TASK = "io.modelcontextprotocol/related-task"
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
LEGACY = "2025-11-25"
RESULT_WAIT = 300.0
"""`tasks/result` (2025-11-25) blocks until the run ends, waiting this long at a time."""
CANCEL_NOTE = "cancel asked, but a Wave run cannot be stopped: it goes on and its result stays readable"
REMEMBERED_CANCELS = 1024

Service = ServerRequestContext[RunService, Any]


class TaskParams(RequestParams):
    """The params of `tasks/get`, `tasks/result` and `tasks/cancel`."""

    task_id: str = Field(alias="taskId")


def task_id(run_id: str, created: float) -> str:
    """The task of a run: its id (percent-encoded, so the id stays a plain header value) and when it was made."""
    return f"{quote(run_id, safe='')}@{int(created * 1000)}"


def _parse(task: str) -> tuple[str, float]:
    """The run id and creation time (a `time.time()` value) in a task id; -32602 for an id no task has."""
    encoded, at, millis = task.rpartition("@")
    if not (encoded and at and millis.isascii() and millis.isdigit() and len(millis) <= 15):
        raise MCPError(code=INVALID_PARAMS, message=f"Unknown task {task!r}: not a task id of this server.")
    return unquote(encoded), int(millis) / 1000


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunTasks(Extension):
    """The tasks extension: serves `tasks/*` for both eras; its `middleware` turns tool calls into tasks."""

    identifier = TASKS_EXTENSION

    def __init__(self, waits: Mapping[str, str]) -> None:
        """`waits` maps each tool that can become a task to its argument that sets how long it waits."""
        self._waits = dict(waits)
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("tasks/get", TaskParams, self._get),
            MethodBinding("tasks/cancel", TaskParams, self._cancel),
            MethodBinding("tasks/result", TaskParams, self._result, protocol_versions=frozenset({LEGACY})),
        )

    # ---- the middleware: tool calls become tasks -----------------------------------------------------------

    async def middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Turns a tool call into a task where the client asked for one; declares tasks to 2025-11-25 clients."""
        if ctx.method == "initialize":
            return _with_legacy_capability(await call_next(ctx))
        if ctx.method == "tools/list" and ctx.protocol_version == LEGACY:
            return self._with_task_support(await call_next(ctx))
        if ctx.method != "tools/call" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        wait_argument = self._waits.get(str(ctx.params.get("name")))
        legacy_task = ctx.protocol_version == LEGACY and isinstance(ctx.params.get("task"), Mapping)
        if wait_argument is None or not (legacy_task or _declares_tasks(ctx)):
            return await call_next(ctx)
        params = {key: value for key, value in ctx.params.items() if key != "task"}
        arguments = params.get("arguments")
        params["arguments"] = {**(arguments if isinstance(arguments, Mapping) else {}), wait_argument: 0}
        result = await call_next(replace(ctx, params=params))
        return self._as_task(ctx, result, legacy=legacy_task)

    def _as_task(self, ctx: Service, result: HandlerResult, *, legacy: bool) -> HandlerResult:
        """A tool's result about a run, as a task of that run: while it runs (2026-07-28), or always (2025-11-25,
        where the client asked for a task). A tool error stays as it is: there is no run to follow."""
        if not isinstance(result, dict) or result.get("isError"):
            return result
        report = result.get("structuredContent")
        if not isinstance(report, dict) or not isinstance(report.get("id"), str):
            return result
        running = status_key(str(report.get("status", ""))) == RUNNING
        if not (running or legacy):
            return result
        now = time.time()
        status = "working" if running else "completed"
        message = "running" if running else f"{report.get('status')}"
        task = _task(task_id(report["id"], now), status, message, now, _service(ctx).next_look(report["id"]))
        if legacy:
            return {"task": _legacy(task)}
        return {"resultType": "task", **task, **({"_meta": result["_meta"]} if "_meta" in result else {})}

    def _with_task_support(self, result: HandlerResult) -> HandlerResult:
        """A 2025-11-25 tool listing in which the tools that can become tasks say so."""
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            for tool in result["tools"]:
                if isinstance(tool, dict) and tool.get("name") in self._waits:
                    tool["execution"] = {"taskSupport": "optional"}
        return result

    # ---- tasks/get, tasks/result, tasks/cancel --------------------------------------------------------------

    async def _get(self, ctx: Service, params: TaskParams) -> dict[str, Any]:
        _require_tasks(ctx)
        run_id, created = _parse(params.task_id)
        look = await _look(ctx, params.task_id, run_id, created)
        if isinstance(look, WaveError):  # a permanent failure: the result the blocking tool would have given
            task = _task(params.task_id, "failed" if _legacy_era(ctx) else "completed", str(look), created, None)
            return _legacy(task) if _legacy_era(ctx) else {**task, "result": _dump(error_result(look))}
        status = "working" if look.running else "completed"
        message = look.message if params.task_id not in self._cancelled else f"{look.message}; {CANCEL_NOTE}"
        task = _task(params.task_id, status, message, created, look.next_look if look.running else None)
        if _legacy_era(ctx):
            return _legacy(task)
        return {**task, "result": _dump(tool_result(look.report))} if look.report and not look.running else task

    async def _result(self, ctx: Service, params: TaskParams) -> dict[str, Any]:
        """2025-11-25: block until the run ends, then answer what the tool would have answered."""
        run_id, _ = _parse(params.task_id)
        related = {"_meta": {RELATED_TASK: {"taskId": params.task_id}}}
        try:
            report: WaitReport = await _service(ctx).wait(run_id, RESULT_WAIT)
            while report.timed_out:
                report = await _service(ctx).wait(run_id, RESULT_WAIT)
        except (NotFoundError, InvalidInputError, AccessDeniedError) as exc:
            raise _unknown(params.task_id, exc) from None
        except WaveError as exc:
            return {**_dump(error_result(exc)), **related}
        return {**_dump(tool_result(report)), **related}

    async def _cancel(self, ctx: Service, params: TaskParams) -> dict[str, Any]:
        """Acknowledged; the run goes on (the Wave API cannot stop one), and later looks at the task say so."""
        _require_tasks(ctx)
        run_id, created = _parse(params.task_id)
        self._cancelled[params.task_id] = None
        while len(self._cancelled) > REMEMBERED_CANCELS:
            self._cancelled.popitem(last=False)
        if not _legacy_era(ctx):
            return {}
        look = await _look(ctx, params.task_id, run_id, created)
        if not (isinstance(look, Look) and look.running):  # 2025-11-25: a task that has ended cannot be cancelled
            raise MCPError(code=INVALID_PARAMS, message=f"Task {params.task_id!r} has already ended.")
        return _legacy(_task(params.task_id, "working", CANCEL_NOTE, created, look.next_look))


async def _look(ctx: Service, task: str, run_id: str, created: float) -> Look | WaveError:
    """One look at the task's run; -32602 when no run of this caller's answers to it, the error when it failed."""
    try:
        return await _service(ctx).look(run_id, started=created)
    except (NotFoundError, InvalidInputError, AccessDeniedError) as exc:
        raise _unknown(task, exc) from None
    except WaveError as exc:
        return exc


def _unknown(task: str, exc: WaveError) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=f"Unknown task {task!r}: {exc}")


def _task(task: str, status: str, message: str, created: float, next_look: float | None) -> dict[str, Any]:
    """A task as the 2026-07-28 extension writes it (plain dicts: `ttlMs: null` must stay on the wire)."""
    shape: dict[str, Any] = {
        "taskId": task,
        "status": status,
        "statusMessage": message,
        "createdAt": _iso(created),
        "lastUpdatedAt": _iso(time.time()),
        "ttlMs": None,
    }
    if next_look is not None:
        shape["pollIntervalMs"] = max(int(next_look * 1000), 1)
    return shape


def _legacy(task: dict[str, Any]) -> dict[str, Any]:
    """The same task as 2025-11-25 writes it: `ttl` and `pollInterval`."""
    shape = {key: value for key, value in task.items() if key not in ("ttlMs", "pollIntervalMs")}
    shape["ttl"] = None
    if "pollIntervalMs" in task:
        shape["pollInterval"] = task["pollIntervalMs"]
    return shape


def _dump(result: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


def _service(ctx: ServerRequestContext[Any, Any]) -> RunService:
    service: RunService = ctx.lifespan_context
    return service


def _legacy_era(ctx: ServerRequestContext[Any, Any]) -> bool:
    return ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS


def _declares_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request (2026-07-28) lists the tasks extension among its client capabilities."""
    if _legacy_era(ctx) or not isinstance(ctx.params, Mapping):
        return False
    meta = ctx.params.get("_meta")
    capabilities = meta.get(CLIENT_CAPABILITIES) if isinstance(meta, Mapping) else None
    extensions = capabilities.get("extensions") if isinstance(capabilities, Mapping) else None
    return isinstance(extensions, Mapping) and TASKS_EXTENSION in extensions


def _require_tasks(ctx: ServerRequestContext[Any, Any]) -> None:
    """`tasks/*` from a 2026-07-28 client that did not declare the extension on the request: -32021."""
    if not _legacy_era(ctx) and not _declares_tasks(ctx):
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message=f"Missing required client capability: declare the extension {TASKS_EXTENSION!r}",
            data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
        )


def _with_legacy_capability(result: HandlerResult) -> HandlerResult:
    """A 2025-11-25 `initialize` answer that declares task-augmented tool calls (and cancel; not list)."""
    if isinstance(result, dict) and result.get("protocolVersion") == LEGACY:
        capabilities = result.setdefault("capabilities", {})
        capabilities["tasks"] = {"requests": {"tools": {"call": {}}}, "cancel": {}}
    return result
