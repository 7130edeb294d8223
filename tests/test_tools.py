"""The four tools as the model sees them, in memory in both protocol eras, against the in-process sandbox."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import MCPError

from tests.conftest import API_KEY, EXAMPLE_ID, EXAMPLE_PARAMS, GuardedClient, data_of, text_of
from wave_mcp.sandbox import DEMO_WORKFLOWS, Fault, SandboxState

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
LISTED_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
LONG_RUN = {"workflow_id": "timer", "params": {"seconds": 1000}}
"""A run that outlasts every test (100 s at the tests' time scale)."""

Progress = list[tuple[float, float | None, str | None]]


async def start(client: GuardedClient, **arguments: Any) -> dict[str, Any]:
    """Start a run with execute_workflow and return the reported run."""
    return data_of(await client.call_tool("execute_workflow", arguments))


async def settle(seen: Progress, count: int) -> None:
    """Over JSON-RPC (legacy era) progress notifications may trail the result a little: wait for them."""
    with anyio.fail_after(5):
        while len(seen) < count:
            await anyio.sleep(0.01)


# ---- the listing the model reads ----------------------------------------------------------------------------


async def test_the_tool_listing_matches_the_snapshot(mcp_client: GuardedClient) -> None:
    """Names, titles, descriptions, schemas and annotations are pinned: any change shows in review.

    Run with UPDATE_SNAPSHOTS=1 to rewrite tests/snapshots/tools.json after an intended change.
    """
    tools = (await mcp_client.list_tools()).tools
    dumped = [tool.model_dump(by_alias=True, mode="json", exclude_none=True) for tool in tools]
    listing = sorted(({key: entry.get(key) for key in LISTED_FIELDS} for entry in dumped), key=lambda t: t["name"])
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(listing, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert listing == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


async def test_every_tool_and_argument_is_described_for_the_model(mcp_client: GuardedClient) -> None:
    """Each tool has a title, a description, an output schema and annotations; each argument a description."""
    tools = (await mcp_client.list_tools()).tools
    assert sorted(tool.name for tool in tools) == ["execute_workflow", "get_run", "list_workflows", "wait_for_run"]
    for tool in tools:
        assert tool.title and tool.description and tool.output_schema and tool.annotations
        assert "ctx" not in tool.input_schema.get("properties", {})
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
    by_name = {tool.name: tool for tool in tools}
    assert by_name["execute_workflow"].annotations is not None
    assert by_name["execute_workflow"].annotations.read_only_hint is False
    assert by_name["execute_workflow"].annotations.idempotent_hint is False
    for name in ("list_workflows", "get_run", "wait_for_run"):
        annotations = by_name[name].annotations
        assert annotations is not None and annotations.read_only_hint is True


# ---- each tool, end to end ----------------------------------------------------------------------------------


async def test_list_workflows_lists_the_sandbox_s_workflows(mcp_client: GuardedClient) -> None:
    """list_workflows gives every workflow of the API with id, name and description, and no note."""
    listing = data_of(await mcp_client.call_tool("list_workflows", {}))
    assert [(w["id"], w["name"], w["description"]) for w in listing["workflows"]] == [
        (w.id, w.name, w.description) for w in DEMO_WORKFLOWS.values()
    ]
    assert all(w["source"] == "api" for w in listing["workflows"])
    assert listing["note"] is None


async def test_list_workflows_filters_by_query(mcp_client: GuardedClient) -> None:
    """`query` keeps the workflows whose id, name or description contains it, in any case."""
    listing = data_of(await mcp_client.call_tool("list_workflows", {"query": "IMPORT"}))
    assert [w["id"] for w in listing["workflows"]] == ["nightly-import"]
    listing = data_of(await mcp_client.call_tool("list_workflows", {"query": "orders"}))
    assert [w["id"] for w in listing["workflows"]] == ["monthly-report", "nightly-import", "export-orders"]
    empty = data_of(await mcp_client.call_tool("list_workflows", {"query": "no such thing"}))
    assert empty["workflows"] == []


async def test_execute_starts_the_example_workflow_with_its_params(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """execute_workflow returns the running run with its workflow; the sandbox got the params as the body."""
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS})
    run = data_of(result)
    assert run["status"] == "running"
    assert (run["workflow_id"], run["workflow_name"]) == (EXAMPLE_ID, "My workflow")
    assert run["params"] == EXAMPLE_PARAMS
    assert run["timed_out"] is False and run["polls"] == 0
    assert sandbox.runs[run["id"]].params == EXAMPLE_PARAMS
    assert sandbox.count("POST") == 1
    first, second = text_of(result).splitlines()[:2]
    assert first == f"Run {run['id']} of 'My workflow' is still running."
    assert f"Call wait_for_run with run_id '{run['id']}'" in second


async def test_get_run_reads_a_finished_run(mcp_client: GuardedClient) -> None:
    """get_run reports the status and, once finished, the result; the text starts with the summary line."""
    run = await start(mcp_client, workflow_id=EXAMPLE_ID, params=EXAMPLE_PARAMS, wait_seconds=5)
    result = await mcp_client.call_tool("get_run", {"run_id": run["id"]})
    report = data_of(result)
    assert report["status"] == "completed"
    assert report["result"] == {"key1": "value 1", "key2": "value 2"}
    assert report["workflow_name"] == "My workflow"
    assert report["started_at"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", report["started_at"])
    lines = text_of(result).splitlines()
    assert lines[0] == f"Run {run['id']} of 'My workflow' completed."
    assert lines[1] == "The run completed: report its result to the user."
    assert lines[2] == "Result:"
    assert json.loads("\n".join(lines[3:])) == report["result"]


async def test_wait_for_run_returns_the_result_with_progress(mcp_client: GuardedClient) -> None:
    """wait_for_run waits for the end, reporting progress strictly increasing with readable messages."""
    run = await start(mcp_client, workflow_id="monthly-report", params={"month": "March", "year": 2026})
    seen: Progress = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await mcp_client.call_tool(
        "wait_for_run", {"run_id": run["id"], "timeout_seconds": 20}, progress_callback=on_progress
    )
    report = data_of(result)
    assert report["status"] == "completed" and report["timed_out"] is False
    assert report["result"]["summary"] == "Monthly report for March 2026 is ready."
    assert report["polls"] >= 2
    await settle(seen, report["polls"])
    values = [value for value, _, _ in seen]
    assert len(seen) == report["polls"]
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert {total for _, total, _ in seen} == {20}
    pattern = re.compile(rf"Run {re.escape(run['id'])}: (running for|completed after) \d+ s, poll \d+")
    assert all(message and pattern.fullmatch(message) for _, _, message in seen), seen
    assert (seen[-1][2] or "").startswith(f"Run {run['id']}: completed after")
    first = text_of(result).splitlines()[0]
    assert re.fullmatch(
        rf"Run {re.escape(run['id'])} of 'Monthly report' completed after waiting \d+ s \(\d+ polls\)\.", first
    )


async def test_execute_with_wait_seconds_waits_in_the_same_call(mcp_client: GuardedClient) -> None:
    """`wait_seconds` makes execute_workflow wait like wait_for_run, with progress naming the workflow."""
    seen: Progress = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await mcp_client.call_tool(
        "execute_workflow",
        {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS, "wait_seconds": 5},
        progress_callback=on_progress,
    )
    report = data_of(result)
    assert report["status"] == "completed"
    assert report["result"] == {"key1": "value 1", "key2": "value 2"}
    assert report["timed_out"] is False and report["polls"] >= 1
    await settle(seen, report["polls"])
    assert all(message and message.startswith(f"Run {report['id']} of 'My workflow': ") for _, _, message in seen)
    totals = {total for _, total, _ in seen}  # the wait's budget: what is left of wait_seconds after the POST
    assert len(totals) == 1 and all(total is not None and 4 < total <= 5 for total in totals)


async def test_a_failed_run_is_a_result_not_a_tool_error(mcp_client: GuardedClient) -> None:
    """A run that fails is reported as `status: failed` with what the API said; the tool call itself succeeds."""
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": "nightly-import", "wait_seconds": 5})
    assert not result.is_error
    report = data_of(result)
    assert report["status"] == "failed"
    assert report["result"]["error"] == "Source database unreachable: connection refused"
    assert report["next_step"].startswith("The run failed")
    assert text_of(result).splitlines()[0].startswith(f"Run {report['id']} of 'Nightly import' failed after waiting")


async def test_a_wait_that_times_out_returns_the_running_run_with_advice(mcp_client: GuardedClient) -> None:
    """At its timeout, wait_for_run returns `timed_out: true`, status running, and says to call it again."""
    run = await start(mcp_client, **LONG_RUN)
    result = await mcp_client.call_tool("wait_for_run", {"run_id": run["id"], "timeout_seconds": 0.3})
    report = data_of(result)
    assert report["timed_out"] is True
    assert report["status"] == "running"
    assert report["result"] is None
    assert 0.3 <= report["elapsed_seconds"] < 5
    assert f"Call wait_for_run with run_id '{run['id']}' again" in report["next_step"]
    assert "Do not start the workflow again" in report["next_step"]
    first = text_of(result).splitlines()[0]
    assert first.startswith(f"Run {run['id']} of 'Timer' is still running (the wait timed out) after waiting")


async def test_a_zero_timeout_looks_once(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """`timeout_seconds: 0` reads the run once and reports it."""
    run = await start(mcp_client, **LONG_RUN)
    report = data_of(await mcp_client.call_tool("wait_for_run", {"run_id": run["id"], "timeout_seconds": 0}))
    assert report["polls"] == 1 and report["timed_out"] is True
    assert sandbox.count("GET", f"/runs/{run['id']}") == 1


async def test_a_wait_for_a_finished_run_returns_at_once(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """Waiting for a run that has already finished costs one read."""
    run = await start(mcp_client, workflow_id=EXAMPLE_ID, wait_seconds=5)
    before = sandbox.count("GET")
    report = data_of(await mcp_client.call_tool("wait_for_run", {"run_id": run["id"]}))
    assert report["status"] == "completed" and report["polls"] == 1
    assert sandbox.count("GET") == before + 1


async def test_a_wait_for_an_old_run_polls_at_the_run_s_pace(
    mcp_client: GuardedClient, sandbox: SandboxState, transport: httpx2.ASGITransport
) -> None:
    """wait_for_run reads the age of a run it has not seen from `startedAt`: a run started elsewhere ten minutes ago
    is polled at the cap (0.5 s in these settings) from the start, not at the pace of a run just begun."""
    async with httpx2.AsyncClient(transport=transport, base_url="https://wave.test") as api:
        answer = await api.post("/workflows/timer/execute", json={"seconds": 1000}, headers={"x-api-key": API_KEY})
    run_id = answer.json()["id"]
    sandbox.runs[run_id].started_wall -= 600
    report = data_of(await mcp_client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 1}))
    assert report["timed_out"] is True
    assert report["polls"] <= 4


# ---- large results ------------------------------------------------------------------------------------------


def export_text() -> str:
    """The export workflow's whole result as compact JSON text, computed from the sandbox's definition."""
    _, result = DEMO_WORKFLOWS["export-orders"].outcome({})
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


async def test_a_large_result_is_bounded_and_pageable(mcp_client: GuardedClient) -> None:
    """A result larger than the bound comes in slices; paging with result_offset to the end gives it whole."""
    whole = export_text()
    first = await mcp_client.call_tool("execute_workflow", {"workflow_id": "export-orders", "wait_seconds": 5})
    report = data_of(first)
    assert report["status"] == "completed"
    assert report["result"] is None
    page = report["result_page"]
    assert page["offset"] == 0 and page["total_chars"] == len(whole) > 40_000
    assert len(page["text"]) == 40_000 and page["next_offset"] == 40_000
    assert f"result_offset={page['next_offset']}" in report["next_step"]
    assert len(text_of(first)) < 41_000
    pieces = [page["text"]]
    calls = 0
    while page["next_offset"] is not None:
        calls += 1
        assert calls < 20
        arguments = {"run_id": report["id"], "result_offset": page["next_offset"]}
        page = data_of(await mcp_client.call_tool("get_run", arguments))["result_page"]
        assert page["offset"] == sum(len(piece) for piece in pieces)
        pieces.append(page["text"])
    assert "".join(pieces) == whole
    assert json.loads("".join(pieces)) == DEMO_WORKFLOWS["export-orders"].outcome({})[1]


async def test_result_pointer_picks_one_part(mcp_client: GuardedClient) -> None:
    """`result_pointer` returns just the part it names, whole when it fits."""
    run = await start(mcp_client, workflow_id="export-orders", wait_seconds=5)
    orders = DEMO_WORKFLOWS["export-orders"].outcome({})[1]["orders"]
    last = data_of(await mcp_client.call_tool("get_run", {"run_id": run["id"], "result_pointer": "/orders/4999"}))
    assert last["result"] == orders[4999] and last["result_page"] is None
    count = data_of(await mcp_client.call_tool("get_run", {"run_id": run["id"], "result_pointer": "/count"}))
    assert count["result"] == 5000


@pytest.mark.parametrize("pointer", ["/nope", "/orders/5000", "/orders/x", "count"])
async def test_a_pointer_to_nothing_is_a_clear_error(mcp_client: GuardedClient, pointer: str) -> None:
    """A pointer that names nothing in the result is a tool error naming `result_pointer`."""
    run = await start(mcp_client, workflow_id="export-orders", wait_seconds=5)
    result = await mcp_client.call_tool("get_run", {"run_id": run["id"], "result_pointer": pointer})
    assert result.is_error and "result_pointer" in text_of(result)


async def test_an_offset_past_the_end_is_a_clear_error(mcp_client: GuardedClient) -> None:
    """A result_offset beyond the result's length is a tool error naming `result_offset`."""
    run = await start(mcp_client, workflow_id="export-orders", wait_seconds=5)
    result = await mcp_client.call_tool("get_run", {"run_id": run["id"], "result_offset": 10**8})
    assert result.is_error and "result_offset" in text_of(result) and "past the end" in text_of(result)


# ---- cancellation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["read_timeout", "cancel_scope"])
async def test_a_cancelled_wait_sends_no_more_requests(
    mcp_client: GuardedClient, sandbox: SandboxState, how: str
) -> None:
    """When the client gives up on wait_for_run, the polling stops: the API sees no request after the cancel."""
    run = await start(mcp_client, **LONG_RUN)
    path = f"/runs/{run['id']}"
    arguments = {"run_id": run["id"], "timeout_seconds": 60}
    if how == "read_timeout":
        with pytest.raises(MCPError) as caught:
            await mcp_client.call_tool("wait_for_run", arguments, read_timeout_seconds=0.4)
        assert caught.value.error.code == -32001
    else:
        with anyio.move_on_after(0.4) as scope:
            await mcp_client.call_tool("wait_for_run", arguments)
        assert scope.cancelled_caught
    await anyio.sleep(0.05)  # in the legacy era the cancel is a message that takes a moment to reach the server
    polls_at_cancel = sandbox.count("GET", path)
    assert polls_at_cancel >= 3
    await anyio.sleep(0.8)  # longer than the longest pause between polls (0.5 s in these settings)
    assert sandbox.count("GET", path) == polls_at_cancel
    after = data_of(await mcp_client.call_tool("get_run", {"run_id": run["id"]}))
    assert after["status"] == "running"


# ---- bad input ----------------------------------------------------------------------------------------------

LONG_ID = "x" * 300
BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("execute_workflow", {}, "workflow_id"),
    ("execute_workflow", {"workflow_id": ""}, "workflow_id"),
    ("execute_workflow", {"workflow_id": LONG_ID}, "workflow_id"),
    ("execute_workflow", {"workflow_id": 42}, "workflow_id"),
    ("execute_workflow", {"workflow_id": None}, "workflow_id"),
    ("execute_workflow", {"workflow_id": ["timer"]}, "workflow_id"),
    ("execute_workflow", {"workflow_id": {"id": "timer"}}, "workflow_id"),
    ("execute_workflow", {"workflow_id": "timer", "params": [1, 2]}, "params"),
    ("execute_workflow", {"workflow_id": "timer", "params": "seconds=5"}, "params"),
    ("execute_workflow", {"workflow_id": "timer", "params": 5}, "params"),
    ("execute_workflow", {"workflow_id": "timer", "params": None}, "params"),
    ("execute_workflow", {"workflow_id": "timer", "params": True}, "params"),
    ("execute_workflow", {"workflow_id": "timer", "wait_seconds": -1}, "wait_seconds"),
    ("execute_workflow", {"workflow_id": "timer", "wait_seconds": 1e9}, "wait_seconds"),
    ("execute_workflow", {"workflow_id": "timer", "wait_seconds": 301}, "wait_seconds"),
    ("execute_workflow", {"workflow_id": "timer", "wait_seconds": "soon"}, "wait_seconds"),
    ("get_run", {}, "run_id"),
    ("get_run", {"run_id": ""}, "run_id"),
    ("get_run", {"run_id": LONG_ID}, "run_id"),
    ("get_run", {"run_id": 42}, "run_id"),
    ("get_run", {"run_id": None}, "run_id"),
    ("get_run", {"run_id": ["r"]}, "run_id"),
    ("get_run", {"run_id": "r", "result_offset": -1}, "result_offset"),
    ("get_run", {"run_id": "r", "result_offset": 10**12}, "result_offset"),
    ("get_run", {"run_id": "r", "result_offset": 1.5}, "result_offset"),
    ("get_run", {"run_id": "r", "result_offset": "next"}, "result_offset"),
    ("get_run", {"run_id": "r", "result_pointer": 5}, "result_pointer"),
    ("get_run", {"run_id": "r", "result_pointer": "/" + "a" * 1001}, "result_pointer"),
    ("wait_for_run", {}, "run_id"),
    ("wait_for_run", {"run_id": ""}, "run_id"),
    ("wait_for_run", {"run_id": LONG_ID}, "run_id"),
    ("wait_for_run", {"run_id": 7}, "run_id"),
    ("wait_for_run", {"run_id": "r", "timeout_seconds": -1}, "timeout_seconds"),
    ("wait_for_run", {"run_id": "r", "timeout_seconds": -0.001}, "timeout_seconds"),
    ("wait_for_run", {"run_id": "r", "timeout_seconds": 301}, "timeout_seconds"),
    ("wait_for_run", {"run_id": "r", "timeout_seconds": 1e12}, "timeout_seconds"),
    ("wait_for_run", {"run_id": "r", "timeout_seconds": "a minute"}, "timeout_seconds"),
    ("wait_for_run", {"run_id": "r", "timeout_seconds": [30]}, "timeout_seconds"),
    ("list_workflows", {"query": 5}, "query"),
    ("list_workflows", {"query": "q" * 201}, "query"),
]


@pytest.mark.parametrize(("tool", "arguments", "argument"), BAD_INPUT)
async def test_bad_input_is_a_clear_tool_error_naming_the_argument(
    mcp_client: GuardedClient, sandbox: SandboxState, tool: str, arguments: dict[str, Any], argument: str
) -> None:
    """A malformed argument gives a tool error that names it, sends nothing, and the server keeps serving."""
    result = await mcp_client.call_tool(tool, arguments)
    assert result.is_error
    text = text_of(result)
    assert argument in text
    assert "Traceback" not in text
    assert sandbox.requests == []
    listing = await mcp_client.call_tool("list_workflows", {})
    assert not listing.is_error


@pytest.mark.parametrize("bad_id", ["   ", ".", "..", "a\nb", "a\x00b", "a\u202eb"])
@pytest.mark.parametrize(("tool", "argument"), [("execute_workflow", "workflow_id"), ("get_run", "run_id")])
async def test_ids_that_could_leave_their_path_segment_are_refused(
    mcp_client: GuardedClient, sandbox: SandboxState, bad_id: str, tool: str, argument: str
) -> None:
    """Blank, dot and control-character ids pass the schema but are refused with a clear error; nothing is sent."""
    result = await mcp_client.call_tool(tool, {argument: bad_id})
    assert result.is_error
    kind = argument.removesuffix("_id")
    assert f"{kind} id" in text_of(result)
    assert sandbox.requests == []


async def test_params_nested_too_deeply_are_refused_before_sending(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """Params nested beyond the bound are refused with an error naming `params`; no run is started."""
    nested: Any = "leaf"
    for _ in range(150):
        nested = {"a": nested}
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": "timer", "params": nested})
    assert result.is_error and "params" in text_of(result) and "nested" in text_of(result)
    assert sandbox.count("POST") == 0


async def test_an_unknown_workflow_points_to_list_workflows(mcp_client: GuardedClient) -> None:
    """Starting a workflow the API does not know is a tool error that tells the model to call list_workflows."""
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": "no-such-workflow"})
    assert result.is_error
    assert "no-such-workflow" in text_of(result) and "list_workflows" in text_of(result)


@pytest.mark.parametrize("tool", ["get_run", "wait_for_run"])
async def test_an_unknown_run_is_a_clear_error(mcp_client: GuardedClient, sandbox: SandboxState, tool: str) -> None:
    """Reading or waiting for a run the API does not know fails at once, saying to check the id."""
    result = await mcp_client.call_tool(tool, {"run_id": "no-such-run"})
    assert result.is_error and "check the run id" in text_of(result)
    assert sandbox.count("GET", "/runs/no-such-run") == 1


async def test_invalid_params_quote_the_api(mcp_client: GuardedClient) -> None:
    """Params the API refuses give a tool error with the API's own words."""
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": "monthly-report", "params": {}})
    assert result.is_error and "missing parameter: month" in text_of(result)


# ---- an API that answers something unexpected ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "words"),
    [("garbage", "could not be read"), ("html", "HTML page titled '502 Bad Gateway'"), ("503", "HTTP 503")],
)
async def test_a_broken_answer_to_get_run_is_a_clear_error(
    mcp_client: GuardedClient, sandbox: SandboxState, kind: str, words: str
) -> None:
    """A garbled, HTML or failing answer gives a tool error in plain words, no traceback; then service goes on."""
    run = await start(mcp_client, workflow_id=EXAMPLE_ID, wait_seconds=5)
    sandbox.faults.append(Fault(kind, "get", times=10))
    result = await mcp_client.call_tool("get_run", {"run_id": run["id"]})
    assert result.is_error
    assert words in text_of(result)
    assert "Traceback" not in text_of(result) and 'File "' not in text_of(result)
    sandbox.faults.clear()
    assert data_of(await mcp_client.call_tool("get_run", {"run_id": run["id"]}))["status"] == "completed"


async def test_a_garbled_answer_during_a_wait_is_retried(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """While waiting, a few garbled answers are retried and the wait still returns the finished run."""
    run = await start(mcp_client, workflow_id=EXAMPLE_ID)
    sandbox.faults.append(Fault("garbage", "get", times=4))
    report = data_of(await mcp_client.call_tool("wait_for_run", {"run_id": run["id"], "timeout_seconds": 10}))
    assert report["status"] == "completed"
    assert not sandbox.faults


async def test_a_garbled_answer_to_execute_says_the_run_may_have_started(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """An unreadable answer to execute: the error says the run may exist and must not be started blindly."""
    sandbox.faults.append(Fault("garbage", "execute"))
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID})
    assert result.is_error
    assert "may or may not have started" in text_of(result)
    assert sandbox.count("POST") == 1


async def test_a_garbled_listing_is_a_clear_error(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """A listing that cannot be read is a tool error with advice, not a crash."""
    sandbox.faults.append(Fault("garbage", "list", times=10))
    result = await mcp_client.call_tool("list_workflows", {})
    assert result.is_error and "could not be read" in text_of(result)


async def test_a_wait_that_fails_after_the_start_still_returns_the_started_run(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """execute_workflow with wait_seconds: when the wait fails, the run exists, so the answer is that run (not a
    tool error inviting a second start), with advice to follow it and not to start it again."""
    sandbox.faults.append(Fault("redirect", "get", times=50))
    result = await mcp_client.call_tool(
        "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS, "wait_seconds": 2}
    )
    assert not result.is_error, text_of(result)
    report = data_of(result)
    assert report["status"] == "running" and report["id"]
    assert "Do not start the workflow again" in report["next_step"] and "redirect" in report["next_step"]
    assert sandbox.count("POST") == 1


async def test_the_paging_hint_keeps_the_pointer(mcp_client: GuardedClient) -> None:
    """When a part chosen with result_pointer is cut, the advice for the next slice names the same pointer."""
    run = await start(mcp_client, workflow_id="export-orders", wait_seconds=10)
    assert run["status"] == "completed"
    result = await mcp_client.call_tool("get_run", {"run_id": run["id"], "result_pointer": "/orders"})
    report = data_of(result)
    page = report["result_page"]
    assert page is not None and page["next_offset"] is not None
    assert f"result_pointer='/orders' and result_offset={page['next_offset']}" in report["next_step"]
