"""Runs as MCP tasks: a tool call that starts a run answers at once with a task, and the client follows it.

2026-07-28: the SDK's client with a claim for `resultType: "task"` (in memory, and over Streamable HTTP across two
instances). 2025-11-25: raw JSON-RPC lines to the real server over stdio (the SDK's client refuses task results on
that era).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Request, Result
from pydantic import ConfigDict, Field

from bench.tasks import AnyResult, GetTask, TaskParams
from tests.helpers import API_KEY, make_settings
from tests.servers import app_in_thread, stdio_lines
from wave_mcp.config import example_catalog_path
from wave_mcp.http import create_http_app
from wave_mcp.sandbox import Fault, SandboxState
from wave_mcp.server import build_server
from wave_mcp.tasks import TASKS_EXTENSION

pytestmark = pytest.mark.anyio

MONTHLY = {"workflow_id": "monthly-report", "params": {"month": "March", "year": 2026}}
"""A 6 s run (0.6 s in tests)."""
THIRTY_SECONDS = {"workflow_id": "timer", "params": {"seconds": 30}}
"""A run still running when a test's next call comes, however loaded the machine (3 s in tests)."""


class TaskCreated(Result):
    """`CreateTaskResult` of the 2026-07-28 extension."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")


class CancelTask(Request[TaskParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskParams
    name_param = "taskId"


@dataclass
class FollowTasks(ClientExtension):
    """A tasks-aware client: follows each task with `tasks/get` at the pace the server asks, until it ends.

    Records what it saw; with `follower` set, polls through that session (another server instance) instead.
    """

    identifier = TASKS_EXTENSION
    created: list[dict[str, Any]] = field(default_factory=list)
    looks: list[dict[str, Any]] = field(default_factory=list)
    follower: ClientSession | None = None
    before_first_look: Any = None

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskCreated, resolve=self._follow)]

    async def _follow(self, task: TaskCreated, ctx: ClaimContext) -> CallToolResult:
        self.created.append(task.model_dump(by_alias=True))
        if self.before_first_look is not None:
            await self.before_first_look(task)
        session = self.follower or ctx.session
        while True:
            answer = await session.send_request(GetTask(params=TaskParams(taskId=task.task_id)), AnyResult)
            look: dict[str, Any] = answer.model_dump(by_alias=True)
            self.looks.append(look)
            if look["status"] != "working":
                return CallToolResult.model_validate(look["result"])
            await anyio.sleep(look["pollIntervalMs"] / 1000)


@asynccontextmanager
async def tasks_client(transport: httpx2.ASGITransport, **settings: Any) -> AsyncIterator[tuple[Client, FollowTasks]]:
    tasks = FollowTasks()
    server = build_server(make_settings(**settings), transport=transport)
    async with Client(server, mode="auto", extensions=[tasks]) as client:
        yield client, tasks


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


# ---- 2026-07-28 ----------------------------------------------------------------------------------------------


async def test_execute_returns_a_task_at_once_that_ends_with_the_blocking_result(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """The task comes as soon as the POST returned (no read yet), is readable at once, and ends `completed` with
    the result the blocking tool gives for the same run."""
    reads_at_creation: list[int] = []

    async def count_reads(task: TaskCreated) -> None:
        reads_at_creation.append(sandbox.count("GET", "/runs/"))

    async with tasks_client(transport) as (client, tasks):
        tasks.before_first_look = count_reads
        result = structured(await client.call_tool("execute_workflow", MONTHLY))
        blocking = structured(await client.call_tool("get_run", {"run_id": result["id"]}))
    created = tasks.created[0]
    assert created["status"] == "working" and created["ttlMs"] is None and created["pollIntervalMs"] >= 1
    assert created["taskId"].startswith(result["id"]) and reads_at_creation == [0]
    assert tasks.looks[0]["status"] == "working" and "running for" in tasks.looks[0]["statusMessage"]
    assert tasks.looks[-1]["status"] == "completed"
    assert result["status"] == "completed" and result["timed_out"] is False
    assert {key: result[key] for key in blocking} | {"next_step": ""} == blocking | {"next_step": ""}
    assert result["result"]["summary"] == "Monthly report for March 2026 is ready."


async def test_a_failed_run_is_a_completed_task_whose_result_says_failed(transport: httpx2.ASGITransport) -> None:
    """A Wave run that failed is a normal answer: the task is `completed`, its result's status `failed`."""
    async with tasks_client(transport) as (client, tasks):
        result = await client.call_tool("execute_workflow", {"workflow_id": "nightly-import"})
    assert tasks.looks[-1]["status"] == "completed"
    assert not result.is_error and structured(result)["status"] == "failed"


async def test_a_client_without_the_extension_gets_the_blocking_result(transport: httpx2.ASGITransport) -> None:
    """Never a task to a client that did not declare the extension: the tools answer as they always did."""
    server = build_server(make_settings(), transport=transport)
    async with Client(server, mode="auto") as client:
        started = structured(await client.call_tool("execute_workflow", MONTHLY))
        waited = structured(await client.call_tool("wait_for_run", {"run_id": started["id"], "timeout_seconds": 5}))
    assert started["status"] == "running" and waited["status"] == "completed"


async def test_wait_for_run_is_a_task_while_the_run_runs_and_a_result_after(transport: httpx2.ASGITransport) -> None:
    """wait_for_run of a running run becomes a task; of a finished one, it answers at once as before."""
    server = build_server(make_settings(), transport=transport)
    async with Client(server, mode="auto") as plain:
        run_id = structured(await plain.call_tool("execute_workflow", THIRTY_SECONDS))["id"]
    async with tasks_client(transport) as (client, tasks):
        first = structured(await client.call_tool("wait_for_run", {"run_id": run_id}))
        again = structured(await client.call_tool("wait_for_run", {"run_id": run_id}))
    assert len(tasks.created) == 1 and first["status"] == again["status"] == "completed"


async def test_a_typed_tool_returns_a_task(transport: httpx2.ASGITransport) -> None:
    """The catalog's typed tools start runs as tasks too."""
    async with tasks_client(transport, catalog=example_catalog_path(), workflow_tools=True) as (client, tasks):
        result = structured(await client.call_tool("run_monthly_report", {"month": "March", "year": 2026}))
    assert len(tasks.created) == 1 and result["status"] == "completed"


async def test_unknown_and_forged_task_ids_are_invalid_params(transport: httpx2.ASGITransport) -> None:
    """A task id that no run answers to, or a run of a workflow outside the allow-list, is JSON-RPC -32602."""
    async with tasks_client(transport) as (client, _):
        other_run = structured(await client.call_tool("execute_workflow", {"workflow_id": "timer"}))["id"]
    async with tasks_client(transport, allowed_workflows=["monthly-report"]) as (client, _):
        for task in ("nonsense", "no-such-run@1700000000000", f"{other_run}@1700000000000"):
            with pytest.raises(MCPError) as caught:
                await client.session.send_request(GetTask(params=TaskParams(taskId=task)), AnyResult)
            assert caught.value.error.code == -32602, task


async def test_cancel_is_acknowledged_and_the_run_goes_on(transport: httpx2.ASGITransport) -> None:
    """The Wave API cannot stop a run: cancel is acknowledged, the task says so, and the run still completes."""

    async def cancel_first(task: TaskCreated) -> None:
        ack = await client.session.send_request(CancelTask(params=TaskParams(taskId=task.task_id)), AnyResult)
        said = {
            key: value for key, value in ack.model_dump(by_alias=True).items() if key not in ("_meta", "resultType")
        }
        assert said == {}, "an empty acknowledgement"

    async with tasks_client(transport) as (client, tasks):
        tasks.before_first_look = cancel_first
        result = structured(await client.call_tool("execute_workflow", MONTHLY))
    assert "cannot be stopped" in tasks.looks[0]["statusMessage"]
    assert result["status"] == "completed"


async def test_a_transient_api_failure_keeps_the_task_working(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """While the API fails with 503s, the task stays `working` (saying so) and ends normally afterwards."""

    async def fail_reads(task: TaskCreated) -> None:
        sandbox.faults.append(Fault("503", "get", times=3))

    async with tasks_client(transport) as (client, tasks):
        tasks.before_first_look = fail_reads
        result = structured(await client.call_tool("execute_workflow", MONTHLY))
    assert "not answering" in tasks.looks[0]["statusMessage"] and tasks.looks[0]["status"] == "working"
    assert result["status"] == "completed"


async def test_a_permanent_api_failure_ends_the_task_with_a_clear_tool_error(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """A failure that retrying cannot mend ends the task `completed` with the tool error the blocking call gives."""

    async def redirect_reads(task: TaskCreated) -> None:
        sandbox.faults.append(Fault("redirect", "get", times=1))

    async with tasks_client(transport) as (client, tasks):
        tasks.before_first_look = redirect_reads
        result = await client.call_tool("execute_workflow", MONTHLY)
    assert tasks.looks[-1]["status"] == "completed"
    assert result.is_error and "redirect" in str(result.content[0])


async def test_tasks_methods_need_the_extension_declared() -> None:
    """A 2026-07-28 `tasks/get` from a client that did not declare the extension is -32021."""
    server = build_server(make_settings())
    async with Client(server, mode="auto") as client:
        with pytest.raises(MCPError) as caught:
            await client.session.send_request(GetTask(params=TaskParams(taskId="r@1")), AnyResult)
    assert caught.value.error.code == -32021


async def test_a_task_made_through_one_instance_is_finished_through_another(sandbox_app: Any) -> None:
    """Stateless tasks: two HTTP instances over one API, the task created by one and followed through the other."""
    timeout = httpx2.Timeout(30, read=60)
    apps = [create_http_app(make_settings(), transport=httpx2.ASGITransport(app=sandbox_app)) for _ in range(2)]
    with app_in_thread(apps[0]) as first, app_in_thread(apps[1]) as second:
        tasks = FollowTasks()
        async with (
            httpx2.AsyncClient(timeout=timeout) as http_a,
            httpx2.AsyncClient(timeout=timeout) as http_b,
            Client(streamable_http_client(f"{second}/mcp", http_client=http_b), extensions=[FollowTasks()]) as other,
            Client(streamable_http_client(f"{first}/mcp", http_client=http_a), extensions=[tasks]) as client,
        ):
            tasks.follower = other.session
            result = structured(await client.call_tool("execute_workflow", MONTHLY))
    assert tasks.looks and tasks.looks[-1]["status"] == "completed"
    assert result["status"] == "completed"


# ---- 2025-11-25, raw lines over stdio ------------------------------------------------------------------------


@pytest.mark.stdio
def test_the_2025_11_25_task_flow_over_stdio(sandbox_server: tuple[str, SandboxState]) -> None:
    """Declared support, `taskSupport` on the tools that start or wait, a task for `params.task`, `tasks/get`
    while running, `tasks/result` with the blocking result, -32602 for unknown ids and for cancelling an ended
    task; a call without `params.task` is answered as before."""
    url, _ = sandbox_server
    with stdio_lines(url) as lines:
        tasks = lines.initialized["result"]["capabilities"]["tasks"]
        assert tasks == {"requests": {"tools": {"call": {}}}, "cancel": {}}
        listed = lines.request("tools/list")["result"]["tools"]
        supports = {tool["name"]: tool.get("execution") for tool in listed}
        assert supports["execute_workflow"] == supports["wait_for_run"] == {"taskSupport": "optional"}
        assert supports["get_run"] is None and supports["list_workflows"] is None
        call = {"name": "execute_workflow", "arguments": MONTHLY}
        task = lines.request("tools/call", {**call, "task": {"ttl": 60000}})["result"]["task"]
        assert task["status"] == "working" and task["ttl"] is None and task["pollInterval"] >= 1
        looked = lines.request("tasks/get", {"taskId": task["taskId"]})["result"]
        assert looked["taskId"] == task["taskId"] and looked["status"] in ("working", "completed")
        final = lines.request("tasks/result", {"taskId": task["taskId"]})["result"]
        assert final["structuredContent"]["status"] == "completed"
        assert final["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
        assert lines.request("tasks/get", {"taskId": task["taskId"]})["result"]["status"] == "completed"
        assert lines.request("tasks/cancel", {"taskId": task["taskId"]})["error"]["code"] == -32602
        assert lines.request("tasks/get", {"taskId": "no-such-run@1"})["error"]["code"] == -32602
        plain = lines.request("tools/call", call)["result"]
        assert plain["structuredContent"]["status"] == "running" and "task" not in plain
        assert API_KEY not in json.dumps(final)
