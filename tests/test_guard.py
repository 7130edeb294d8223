"""The guard on its own and through the run service: read-only, the allow-list and the caller's grant, each refusal
naming what the model must do next, and each allowed read or start let through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from tests.helpers import make_settings
from wave_mcp.errors import AccessDeniedError
from wave_mcp.grant import Grant, granted
from wave_mcp.guard import Guard
from wave_mcp.models import Run
from wave_mcp.runs import RunService

pytestmark = pytest.mark.anyio

ALLOWED = Guard.of(["wf-1", "wf-2"], read_only=False)
READER = Grant(subject="ann", may_run=False)
ONLY_WF1 = Grant(subject="bob", may_run=True, workflows=frozenset({"wf-1"}), workflows_claim="wave_workflows")


def run_of(workflow_id: str | None) -> Run:
    return Run(id="run-7", status="running", workflow_id=workflow_id)


def test_guard_of_keeps_the_allow_list_and_read_only() -> None:
    """`Guard.of` builds the guard the settings ask for."""
    assert Guard.of(["a", "b", "a"], read_only=True) == Guard(allowed=frozenset({"a", "b"}), read_only=True)


def test_an_empty_allow_list_allows_every_workflow() -> None:
    """Without an allow-list every workflow may be listed, started and read."""
    guard = Guard()
    assert guard.allows("anything")
    guard.check_execute("anything")
    assert guard.check_run(run_of("anything")).id == "run-7"


def test_the_allow_list_allows_only_its_workflows() -> None:
    """Listed ids pass, others do not."""
    assert ALLOWED.allows("wf-1") and ALLOWED.allows("wf-2")
    assert not ALLOWED.allows("wf-3")


def test_read_only_refuses_every_start_and_says_reads_still_work() -> None:
    """Read-only refuses even an allowed workflow, names the setting and says nothing was sent."""
    guard = Guard.of(["wf-1"], read_only=True)
    with pytest.raises(AccessDeniedError) as refusal:
        guard.check_execute("wf-1")
    message = str(refusal.value)
    assert "WAVE_READ_ONLY" in message and "nothing was sent" in message and "read runs" in message
    assert guard.check_run(run_of("wf-1")).workflow_id == "wf-1"
    assert guard.allows("wf-1")


def test_a_workflow_outside_the_allow_list_is_refused_with_the_next_call() -> None:
    """The refusal names the workflow, the setting and list_workflows."""
    with pytest.raises(AccessDeniedError) as refusal:
        ALLOWED.check_execute("wf-3")
    message = str(refusal.value)
    assert "'wf-3'" in message and "WAVE_ALLOWED_WORKFLOWS" in message and "list_workflows" in message
    assert "nothing was sent" in message


def test_an_allowed_workflow_may_start() -> None:
    """An allowed workflow passes the check (no exception)."""
    ALLOWED.check_execute("wf-2")


def test_an_allowed_run_is_returned_unchanged() -> None:
    """A run of an allowed workflow is read as it is."""
    run = run_of("wf-2")
    assert ALLOWED.check_run(run) is run


def test_a_run_without_a_workflow_id_is_shown_under_an_allow_list() -> None:
    """When the API does not say the run's workflow, the guard cannot refuse it."""
    run = run_of(None)
    assert ALLOWED.check_run(run) is run


def test_a_run_of_another_workflow_is_refused_naming_run_and_workflow() -> None:
    """The refusal names the run, its workflow and where to find readable runs."""
    with pytest.raises(AccessDeniedError) as refusal:
        ALLOWED.check_run(run_of("wf-9"))
    message = str(refusal.value)
    assert "'run-7'" in message and "'wf-9'" in message and "list_workflows" in message
    assert "WAVE_ALLOWED_WORKFLOWS" in message


def test_a_token_without_the_run_scope_may_read_but_not_start() -> None:
    """Without `wave:run` the caller is read-only: the refusal names the scope; reads pass."""
    with granted(READER):
        with pytest.raises(AccessDeniedError) as refusal:
            Guard().check_execute("wf-1")
        assert Guard().check_run(run_of("wf-1")).id == "run-7"
        assert Guard().allows("wf-1")
    message = str(refusal.value)
    assert "'wave:run'" in message and "nothing was sent" in message


def test_the_grant_narrows_the_allow_list() -> None:
    """A caller granted only wf-1 may list, start and read wf-1 alone, within the operator's list."""
    with granted(ONLY_WF1):
        assert ALLOWED.allows("wf-1")
        assert not ALLOWED.allows("wf-2")
        assert not Guard().allows("wf-3")
        ALLOWED.check_execute("wf-1")
        assert ALLOWED.check_run(run_of("wf-1")).id == "run-7"


def test_a_workflow_not_granted_is_refused_naming_the_claim() -> None:
    """Starting a workflow outside the token's list names the workflow, the claim and list_workflows."""
    with granted(ONLY_WF1), pytest.raises(AccessDeniedError) as refusal:
        ALLOWED.check_execute("wf-2")
    message = str(refusal.value)
    assert "'wf-2'" in message and "'wave_workflows' claim" in message and "list_workflows" in message


def test_a_run_of_a_workflow_not_granted_is_refused_naming_the_run() -> None:
    """Reading a run of a workflow outside the token's list names the run, its workflow and the token."""
    grant = Grant(subject="eve", may_run=True, workflows=frozenset({"wf-1"}))
    with granted(grant), pytest.raises(AccessDeniedError) as refusal:
        Guard().check_run(run_of("wf-2"))
    message = str(refusal.value)
    assert "'run-7'" in message and "'wf-2'" in message and "your access token" in message
    assert "claim" not in message


def test_the_operator_refusal_comes_before_the_grant() -> None:
    """A workflow neither allowed nor granted is refused for the operator's list."""
    with granted(ONLY_WF1), pytest.raises(AccessDeniedError, match="WAVE_ALLOWED_WORKFLOWS"):
        ALLOWED.check_run(run_of("wf-9"))


# ---- through the run service -----------------------------------------------------------------------------------

RUN: dict[str, Any] = {"id": "run-1", "status": "completed", "workflow": {"id": "wf-1", "name": "One"}, "result": 7}


def api(respond: Callable[[httpx2.Request], httpx2.Response]) -> tuple[httpx2.MockTransport, list[str]]:
    log: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        log.append(f"{request.method} {request.url.path}")
        return respond(request)

    return httpx2.MockTransport(handler), log


async def test_an_allowed_run_can_be_read_and_waited_for_under_an_allow_list() -> None:
    """With an allow-list set, a run of an allowed workflow is read and waited for like any other."""
    transport, _ = api(lambda request: httpx2.Response(200, json=RUN))
    settings = make_settings(allowed_workflows=["wf-1"])
    async with RunService.open(settings, transport=transport) as service:
        read = await service.get("run-1")
        waited = await service.wait("run-1", 1.0)
    assert (read.id, read.status, read.result) == ("run-1", "completed", 7)
    assert (waited.status, waited.timed_out) == ("completed", False)


async def test_read_only_service_sends_no_execute() -> None:
    """A read-only service refuses to start and sends nothing."""
    transport, log = api(lambda request: httpx2.Response(200, json=RUN))
    async with RunService.open(make_settings(read_only=True), transport=transport) as service:
        with pytest.raises(AccessDeniedError, match="WAVE_READ_ONLY"):
            await service.start("wf-1", {})
    assert not [entry for entry in log if entry.startswith("POST")]
