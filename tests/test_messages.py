"""Every message the core writes for the model, pinned whole in tests/snapshots/messages.json: refusals, API
errors, next steps, summaries, progress and notes. The other tests assert the parts the model acts on (ids, calls,
numbers); this one shows any change of wording in review. After an intended change, `pytest
--inline-snapshot=fix tests/test_messages.py` rewrites the file."""

from __future__ import annotations

from typing import Any

import pytest
from inline_snapshot import external_file

from tests.helpers import FakeAPI, FakeClock, Progress, wait
from wave_mcp.client import status_error
from wave_mcp.errors import InvalidInputError, RateLimitedError, WaveError
from wave_mcp.grant import Grant, granted
from wave_mcp.guard import Guard
from wave_mcp.limits import check_id, encode_params
from wave_mcp.models import Run, WorkflowInfo, WorkflowList
from wave_mcp.reports import bounded_listing, render_text, resolve_pointer, run_report, summary_line, wait_report
from wave_mcp.waiting import Seen, WaitOutcome

pytestmark = pytest.mark.anyio


def refusal(action: Any, *args: Any) -> str:
    """The message of the error `action(*args)` raises."""
    try:
        action(*args)
    except (WaveError, InvalidInputError) as exc:
        return str(exc)
    raise AssertionError("no refusal")


def guard_messages() -> dict[str, str]:
    allowed = Guard.of(["wf-1"], read_only=False)
    run = Run(id="run-7", status="running", workflow_id="wf-2")
    messages = {
        "read-only": refusal(Guard(read_only=True).check_execute, "wf-1"),
        "not allowed": refusal(allowed.check_execute, "wf-2"),
        "run not allowed": refusal(allowed.check_run, run),
    }
    with granted(Grant(subject="ann", may_run=False)):
        messages["no run scope"] = refusal(Guard().check_execute, "wf-1")
    with granted(Grant(subject="bob", may_run=True, workflows=frozenset({"wf-1"}), workflows_claim="wf")):
        messages["not granted (claim)"] = refusal(Guard().check_execute, "wf-2")
        messages["run not granted (claim)"] = refusal(Guard().check_run, run)
    with granted(Grant(subject="eve", may_run=True, workflows=frozenset({"wf-1"}))):
        messages["not granted"] = refusal(Guard().check_execute, "wf-2")
    return messages


def api_messages() -> dict[str, str]:
    where: dict[str, Any] = {"method": "GET", "path": "/runs/r1", "what": "run 'r1'", "said": " The API said: x"}
    messages = {
        f"HTTP {status}": str(status_error(status, headers, **where))
        for status, headers in [
            (301, {"location": "https://elsewhere.example:8443/p"}),
            (302, {}),
            (307, {"location": "http://[::1"}),
            (401, {}),
            (404, {}),
            (422, {}),
            (429, {"retry-after": "12"}),
            (409, {}),
            (418, {}),
            (503, {}),
        ]
    }
    messages["HTTP 403 (caller's key)"] = str(status_error(403, {}, **where, callers_key=True))
    messages["HTTP 404 (workflow)"] = str(status_error(404, {}, **{**where, "what": "workflow 'w'"}))
    return messages


def limit_messages() -> dict[str, str]:
    return {
        "empty id": refusal(check_id, " ", "run"),
        "long id": refusal(check_id, "r" * 300, "workflow"),
        "dot id": refusal(check_id, "..", "run"),
        "control id": refusal(check_id, "a\nb", "run"),
        "deep params": refusal(encode_params, {"b": _deep(101)}),
        "large params": refusal(encode_params, {"a": "x" * 1_000_000}),
    }


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def report_messages() -> dict[str, str]:
    def run(status: str, **fields: Any) -> Run:
        return Run(id="run-1", status=status, workflow_id="wf-1", workflow_name="One", **fields)

    big = {"items": ["x" * 60] * 5}
    paged = run_report(run("completed", result=big), max_chars=100)
    pointed = run_report(run("completed", result=big), max_chars=20, pointer="/items/0")
    timed_out = wait_report(WaitOutcome(run=run("running"), timed_out=True, elapsed=30.4, polls=5), max_chars=100)
    listing = WorkflowList(workflows=[WorkflowInfo(id=f"wf-{i}") for i in range(4)], note="From the API.")
    params = {f"k{i}": "v" * 300 for i in range(10)}
    return {
        "running": run_report(run("running"), max_chars=100).next_step,
        "completed": run_report(run("completed"), max_chars=100).next_step,
        "failed": run_report(run("failed"), max_chars=100).next_step,
        "other status": run_report(run("cancelled"), max_chars=100).next_step,
        "paged": paged.next_step,
        "paged text": render_text(paged),
        "pointed": pointed.next_step,
        "timed out": timed_out.next_step,
        "timed out summary": summary_line(timed_out),
        "timed out text": render_text(timed_out),
        "clipped id": run_report(run("completed").model_copy(update={"id": "i" * 400}), max_chars=100).id,
        "params left out": str(run_report(run("completed", params=params), max_chars=100).params),
        "listing note": str(bounded_listing(listing, max_chars=60).note),
        "offset past the end": refusal(lambda: run_report(run("completed", result="abc"), max_chars=9, offset=5)),
        "bad pointer": refusal(resolve_pointer, {}, "x"),
        "missing pointer": refusal(resolve_pointer, {}, "/x"),
    }


async def wait_messages() -> dict[str, str]:
    clock = FakeClock()
    busy = RateLimitedError("busy", status_code=429, method="GET", path="/runs/run-1", retry_after=None)
    api = FakeAPI(clock, script=[Run(id="run-1", status="running"), busy, Run(id="run-1", status="completed")])
    progress: Progress = []
    await wait(api, budget=60, progress=progress, since=Seen(run=Run(id="run-1", status="running"), at=1000, age=9))

    return {f"progress {index}": message for index, (_, _, message) in enumerate(progress)}


async def test_the_messages_the_model_reads_match_the_snapshot() -> None:
    """Refusals, API errors, next steps, summaries, progress and notes, word for word."""
    messages = {
        "guard": guard_messages(),
        "api": api_messages(),
        "limits": limit_messages(),
        "reports": report_messages(),
        "waiting": await wait_messages(),
    }
    assert messages == external_file("snapshots/messages.json")
