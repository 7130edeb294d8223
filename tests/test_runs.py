"""The run service on its own, without MCP: listing, starting, reading and waiting, with its rules and memories.

Against the in-process sandbox (runs at a tenth of their nominal time) or a scripted API (`MockTransport`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, EXAMPLE_ID, EXAMPLE_PARAMS, make_settings
from wave_mcp import runs as runs_module
from wave_mcp.caller import caller_key
from wave_mcp.catalog import Catalog, load_catalog
from wave_mcp.config import example_catalog_path
from wave_mcp.errors import AccessDeniedError, InvalidInputError, NotFoundError
from wave_mcp.runs import RunService
from wave_mcp.sandbox import Fault, SandboxState

pytestmark = pytest.mark.anyio

RUN = {
    "id": "run-1",
    "status": "running",
    "startedAt": "2026-01-01T00:00:00.000000000Z",
    "workflow": {"id": "wf-1", "name": "Workflow one"},
}


@asynccontextmanager
async def service_over(
    transport: httpx2.AsyncBaseTransport, catalog: Catalog | None = None, **settings: Any
) -> AsyncIterator[RunService]:
    async with RunService.open(make_settings(**settings), catalog=catalog, transport=transport) as service:
        yield service


def scripted(respond: Callable[[httpx2.Request], dict[str, Any]]) -> tuple[httpx2.MockTransport, list[str]]:
    """A scripted API answering 200 with `respond(request)`, and the log of `METHOD path` it received."""
    log: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        log.append(f"{request.method} {request.url.path}")
        return httpx2.Response(200, json=respond(request))

    return httpx2.MockTransport(handler), log


# ---- the four operations -------------------------------------------------------------------------------------


async def test_list_workflows_lists_the_api_s_workflows_and_narrows_by_query(transport: httpx2.ASGITransport) -> None:
    """The listing holds the API's workflows; a query keeps those whose id, name or description contain it."""
    async with service_over(transport) as service:
        everything = await service.list_workflows()
        narrowed = await service.list_workflows("MONTHLY")
    assert EXAMPLE_ID in [workflow.id for workflow in everything.workflows]
    assert [workflow.id for workflow in narrowed.workflows] == ["monthly-report"]


async def test_start_sends_one_post_and_reports_the_running_run(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """Without a wait, start returns the run as the POST answered it: running, with its workflow's name."""
    async with service_over(transport) as service:
        report = await service.start(EXAMPLE_ID, EXAMPLE_PARAMS)
    assert (report.status, report.workflow_name, report.polls, report.timed_out) == ("running", "My workflow", 0, False)
    assert sandbox.count("POST") == 1 and sandbox.count("GET") == 0
    assert f"wait_for_run with run_id '{report.id}'" in report.next_step


async def test_start_with_a_wait_returns_the_finished_run(transport: httpx2.ASGITransport) -> None:
    """A wait long enough for the run gives its result in the same call."""
    async with service_over(transport) as service:
        report = await service.start(EXAMPLE_ID, EXAMPLE_PARAMS, wait_seconds=10)
    assert report.status == "completed" and not report.timed_out
    assert report.result == {"key1": "value 1", "key2": "value 2"}


async def test_get_pages_a_large_result(transport: httpx2.ASGITransport) -> None:
    """A result over the bound comes as slices whose offsets chain to the end."""
    async with service_over(transport, max_result_chars=1_000) as service:
        started = await service.start("export-orders", {}, wait_seconds=10)
        first = await service.get(started.id)
        assert first.result is None and first.result_page is not None
        second = await service.get(started.id, offset=first.result_page.next_offset or 0)
    assert second.result_page is not None
    assert second.result_page.offset == first.result_page.offset + len(first.result_page.text)
    assert f"result_offset={first.result_page.next_offset}" in first.next_step


async def test_a_wait_that_times_out_is_a_report_that_says_how_to_go_on(transport: httpx2.ASGITransport) -> None:
    """The run as last seen, `timed_out`, and the next call to make."""
    async with service_over(transport) as service:
        started = await service.start("timer", {"seconds": 600})
        report = await service.wait(started.id, 0.3)
    assert report.timed_out and report.status == "running" and report.polls >= 1
    assert f"Call wait_for_run with run_id '{started.id}' again" in report.next_step


async def test_progress_names_the_run_and_its_workflow_and_only_increases(transport: httpx2.ASGITransport) -> None:
    """Each progress message starts with the run's id and workflow; values strictly increase up to the budget."""
    seen: list[tuple[float, float | None, str]] = []

    async def on_progress(value: float, total: float | None, message: str) -> None:
        seen.append((value, total, message))

    async with service_over(transport) as service:
        report = await service.start("timer", {"seconds": 3}, wait_seconds=5, on_progress=on_progress)
    assert report.status == "completed" and len(seen) == report.polls
    assert all(message.startswith(f"Run {report.id} of 'Timer': ") for _, _, message in seen)
    values = [value for value, _, _ in seen]
    assert values == sorted(set(values))
    assert len({total for _, total, _ in seen}) == 1 and 4 < (seen[0][1] or 0) <= 5, (
        "the wait's budget: what the POST left"
    )


async def test_a_wait_that_fails_after_the_start_still_reports_the_run(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """The run exists: the report gives its id and says not to start it again, instead of raising."""
    async with service_over(transport) as service:
        sandbox.faults.append(Fault("500", "get", times=100))
        report = await service.start("timer", {"seconds": 600}, wait_seconds=0.5)
    assert report.status == "running" and report.timed_out
    assert "Do not start the workflow again" in report.next_step and report.id in report.next_step
    assert sandbox.count("POST") == 1


# ---- the rules -----------------------------------------------------------------------------------------------


async def test_read_only_refuses_to_start_and_sends_nothing(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """WAVE_READ_ONLY: start raises AccessDeniedError and no request leaves."""
    async with service_over(transport, read_only=True) as service:
        with pytest.raises(AccessDeniedError, match="read-only"):
            await service.start(EXAMPLE_ID, EXAMPLE_PARAMS)
    assert sandbox.requests == []


async def test_an_allow_list_lets_allowed_runs_be_read_and_refuses_the_others(transport: httpx2.ASGITransport) -> None:
    """Under an allow-list, a run of an allowed workflow reads as usual; a run of another one is refused."""
    async with service_over(transport) as service:
        other = await service.start("timer", {"seconds": 600})
    async with service_over(transport, allowed_workflows=[EXAMPLE_ID]) as service:
        allowed = await service.start(EXAMPLE_ID, EXAMPLE_PARAMS)
        assert (await service.get(allowed.id)).id == allowed.id
        assert (await service.wait(allowed.id, 0)).id == allowed.id
        with pytest.raises(AccessDeniedError, match="not allowed"):
            await service.get(other.id)
        with pytest.raises(AccessDeniedError, match="not allowed"):
            await service.start("timer", {})


async def test_params_that_break_the_catalog_s_schema_are_refused_before_sending(
    transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """The catalog's check runs before the POST: nothing is sent."""
    catalog = load_catalog(example_catalog_path())
    async with service_over(transport, catalog=catalog) as service:
        with pytest.raises(InvalidInputError, match="param1"):
            await service.start(EXAMPLE_ID, {"param2": "x"})
    assert sandbox.count("POST") == 0


async def test_secrets_never_leave_the_service(transport: httpx2.ASGITransport) -> None:
    """The key, echoed by the API in params and result or passed as an id, is masked in reports and errors."""
    async with service_over(transport) as service:
        report = await service.start(EXAMPLE_ID, {"param1": API_KEY, "param2": f"x{API_KEY}x"}, wait_seconds=10)
        with pytest.raises(NotFoundError) as caught:
            await service.get(API_KEY)
    assert API_KEY not in report.model_dump_json() and "***" in json.dumps(report.result)
    assert API_KEY not in str(caught.value) and "***" in str(caught.value)


# ---- what the service remembers ------------------------------------------------------------------------------


async def test_a_read_fills_in_the_workflow_of_a_run_started_here() -> None:
    """When `GET /runs/{id}` leaves the workflow out, the name seen at the start is filled in."""
    transport, _ = scripted(lambda r: RUN if r.method == "POST" else {"id": "run-1", "status": "completed"})
    async with service_over(transport) as service:
        await service.start("wf-1", {})
        report = await service.get("run-1")
    assert (report.workflow_id, report.workflow_name) == ("wf-1", "Workflow one")


async def test_a_run_started_elsewhere_gets_no_invented_name() -> None:
    """A run this service did not start keeps what the API said, and the API's own name wins over the memory."""
    transport, _ = scripted(lambda r: {**RUN, "workflow": {"id": "wf-1", "name": "Renamed"}})
    async with service_over(transport) as service:
        assert (await service.get("run-1")).workflow_name == "Renamed"
    transport, _ = scripted(lambda r: {"id": "other", "status": "running"})
    async with service_over(transport) as service:
        report = await service.get("other")
    assert report.workflow_id is None and report.workflow_name is None


async def test_a_wait_right_after_a_read_goes_on_at_the_run_s_pace() -> None:
    """A run read moments ago is not read again at once: with a 5 s interval, a 0.2 s wait reads it once, at its
    end; another caller (its own key) has seen nothing and reads at once."""
    transport, log = scripted(lambda r: RUN)
    async with service_over(transport, poll_interval_min=5.0, poll_interval_max=10.0) as service:
        await service.start("wf-1", {})
        report = await service.wait("run-1", 0.2)
        assert (report.polls, log.count("GET /runs/run-1")) == (1, 1)
        with caller_key("wk_caller_one_1234567890"):
            assert (await service.wait("run-1", 0.2)).polls == 2


async def test_a_finished_run_is_forgotten_and_read_at_once() -> None:
    """Only running runs are remembered: once one is seen finished, a wait reads it immediately."""
    answers = iter([RUN, {**RUN, "status": "completed"}, {**RUN, "status": "completed"}])
    transport, _ = scripted(lambda r: next(answers))
    async with service_over(transport, poll_interval_min=5.0, poll_interval_max=10.0) as service:
        await service.start("wf-1", {})
        await service.get("run-1")
        report = await service.wait("run-1", 30)
    assert report.status == "completed" and report.polls == 1 and report.elapsed_seconds < 5


async def test_the_memories_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the most recent runs are remembered: the oldest is forgotten first."""
    monkeypatch.setattr(runs_module, "REMEMBERED_RUNS", 2)
    ids = iter(["r1", "r2", "r3"])

    def respond(request: httpx2.Request) -> dict[str, Any]:
        if request.method == "POST":
            return {**RUN, "id": next(ids)}
        return {"id": request.url.path.rsplit("/", 1)[1], "status": "completed"}

    transport, _ = scripted(respond)
    async with service_over(transport) as service:
        for _ in range(3):
            await service.start("wf-1", {})
        names = [(await service.get(run_id)).workflow_name for run_id in ("r1", "r2", "r3")]
    assert names == [None, "Workflow one", "Workflow one"]
