"""Big results: what reaches the model is bounded, says it was cut and how much is left, and the rest is reachable by
paging (`result_offset`, `result_pointer`). Structured content stays valid against each tool's output schema, also
for runs whose other fields are huge or odd."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import jsonschema
import pytest
from mcp import Client
from mcp.types import CallToolResult

from tests.helpers import ERAS, GuardedClient, make_settings, text_of
from wave_mcp.limits import SCALAR_CHARS, SMALL_FIELD_CHARS
from wave_mcp.sandbox import DEMO_WORKFLOWS, SandboxTransport
from wave_mcp.server import build_server

pytestmark = pytest.mark.anyio

DEFAULT_BOUND = 40_000
TEXT_OVERHEAD = 2_000
"""The summary line and the next step that come with a result in the text."""


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def export_result(rows: int = 5000) -> Any:
    """What the sandbox's export-orders workflow returns, from its own definition."""
    return DEMO_WORKFLOWS["export-orders"].outcome({"rows": rows})[1]


async def schema_check(client: GuardedClient, tool: str, result: CallToolResult) -> dict[str, Any]:
    """The structured content, checked against the tool's published output schema."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools[tool].output_schema
    assert schema is not None and result.structured_content is not None
    jsonschema.validate(result.structured_content, schema)
    content: dict[str, Any] = result.structured_content
    return content


@pytest.fixture(params=ERAS)
async def small_bound_client(
    request: pytest.FixtureRequest, transport: SandboxTransport
) -> AsyncIterator[GuardedClient]:
    """A server whose results are cut at the smallest allowed bound, 1,000 characters."""
    server = build_server(make_settings(max_result_chars=1_000), transport=transport)
    async with Client(server, mode=request.param) as session:
        yield GuardedClient(session)


async def finished_export(client: GuardedClient, rows: int | None = None) -> dict[str, Any]:
    params = {} if rows is None else {"rows": rows}
    started = await client.call_tool(
        "execute_workflow", {"workflow_id": "export-orders", "params": params, "wait_seconds": 10}
    )
    report = await schema_check(client, "execute_workflow", started)
    assert report["status"] == "completed", text_of(started)
    return report


async def test_a_large_result_is_cut_and_says_so(mcp_client: GuardedClient) -> None:
    """A result over the bound comes as its first page, and the text says how long it is and how to page on."""
    report = await finished_export(mcp_client)
    whole = compact(export_result())
    page = report["result_page"]
    assert report["result"] is None
    assert page["offset"] == 0 and page["total_chars"] == len(whole) > DEFAULT_BOUND
    assert page["text"] == whole[:DEFAULT_BOUND] and page["next_offset"] == DEFAULT_BOUND
    text = text_of(await mcp_client.call_tool("get_run", {"run_id": report["id"]}))
    assert f"The result is {len(whole):,} characters long and was cut" in text
    assert f"result_offset={DEFAULT_BOUND}" in text
    assert f"characters 0-{DEFAULT_BOUND} of {len(whole)}" in text
    assert len(text) <= DEFAULT_BOUND + TEXT_OVERHEAD


async def test_paging_returns_the_whole_result_exactly(mcp_client: GuardedClient) -> None:
    """Paging with result_offset to the end gives the whole result, each page within the bound."""
    run_id = (await finished_export(mcp_client))["id"]
    pieces: list[str] = []
    offset: int | None = 0
    while offset is not None:
        result = await mcp_client.call_tool("get_run", {"run_id": run_id, "result_offset": offset})
        page = (await schema_check(mcp_client, "get_run", result))["result_page"]
        assert page["offset"] == offset and len(page["text"]) <= DEFAULT_BOUND
        assert len(text_of(result)) <= DEFAULT_BOUND + TEXT_OVERHEAD
        pieces.append(page["text"])
        offset = page["next_offset"]
    assert json.loads("".join(pieces)) == export_result()
    assert "was cut" not in text_of(result), "the last page says nothing is left"


async def test_a_pointer_picks_one_part(mcp_client: GuardedClient) -> None:
    """`result_pointer` returns just the part it names."""
    run_id = (await finished_export(mcp_client))["id"]
    expected = export_result()
    first = await mcp_client.call_tool("get_run", {"run_id": run_id, "result_pointer": "/orders/0"})
    assert (await schema_check(mcp_client, "get_run", first))["result"] == expected["orders"][0]
    count = await mcp_client.call_tool("get_run", {"run_id": run_id, "result_pointer": "/count"})
    assert (count.structured_content or {})["result"] == 5000
    assert '"ord-000000"' in text_of(first) and "Result:" in text_of(first)


async def test_pointer_and_offset_together_page_through_a_part(mcp_client: GuardedClient) -> None:
    """`result_pointer` with `result_offset` pages through the part the pointer names."""
    run_id = (await finished_export(mcp_client))["id"]
    whole = compact(export_result()["orders"])
    result = await mcp_client.call_tool(
        "get_run", {"run_id": run_id, "result_pointer": "/orders", "result_offset": 50_000}
    )
    page = (await schema_check(mcp_client, "get_run", result))["result_page"]
    assert page["text"] == whole[50_000 : 50_000 + DEFAULT_BOUND] and page["total_chars"] == len(whole)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"result_pointer": "orders"}, "must be empty or start with '/'"),
        ({"result_pointer": "/nothing"}, "names nothing in the result (no 'nothing')"),
        ({"result_pointer": "/orders/01"}, "names nothing in the result (no '01')"),
        ({"result_pointer": "/orders/5000"}, "names nothing in the result (no '5000')"),
        ({"result_pointer": "/count/x"}, "names nothing in the result (no 'x')"),
        ({"result_offset": 10_000_000}, "is past the end of the result"),
    ],
)
async def test_paging_mistakes_are_clear_errors(
    mcp_client: GuardedClient, arguments: dict[str, Any], message: str
) -> None:
    """A wrong offset or pointer is a tool error that says what was wrong."""
    run_id = (await finished_export(mcp_client))["id"]
    result = await mcp_client.call_tool("get_run", {"run_id": run_id, **arguments})
    assert result.is_error and message in text_of(result), text_of(result)


async def test_the_bound_is_configurable(small_bound_client: GuardedClient) -> None:
    """WAVE_MAX_RESULT_CHARS sets the bound for get_run and wait_for_run alike."""
    report = await finished_export(small_bound_client, rows=20)
    whole = compact(export_result(20))
    assert report["result_page"]["text"] == whole[:1_000] and report["result_page"]["next_offset"] == 1_000
    waited = await small_bound_client.call_tool("wait_for_run", {"run_id": report["id"], "timeout_seconds": 1})
    assert (await schema_check(small_bound_client, "wait_for_run", waited))["result_page"]["total_chars"] == len(whole)
    assert len(text_of(waited)) <= 1_000 + TEXT_OVERHEAD


async def test_a_result_that_fits_comes_whole(small_bound_client: GuardedClient) -> None:
    """A result within the bound comes whole, without a page."""
    report = await finished_export(small_bound_client, rows=3)
    assert report["result"] == export_result(3) and report["result_page"] is None


# ---- odd runs from the API: huge params and attributes, long strings, deep nesting ---------------------------

RUN_ID = "odd-run"


def odd_api(run: Callable[[], Any]) -> httpx2.MockTransport:
    """An API whose every GET /runs/... answers `run()` (a JSON value, or bytes sent as they are)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = run()
        if isinstance(body, bytes):
            return httpx2.Response(200, content=body, headers={"content-type": "application/json"})
        return httpx2.Response(200, json=body)

    return httpx2.MockTransport(handler)


async def call_odd(run: Callable[[], Any], tool: str = "get_run", **settings: Any) -> tuple[CallToolResult, Any]:
    server = build_server(make_settings(**settings), transport=odd_api(run))
    async with Client(server, mode="legacy") as session:
        client = GuardedClient(session)
        arguments: dict[str, Any] = {"run_id": RUN_ID}
        if tool == "wait_for_run":
            arguments["timeout_seconds"] = 1
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            return result, None
        return result, await schema_check(client, tool, result)


def base_run(**fields: Any) -> dict[str, Any]:
    return {"id": RUN_ID, "status": "completed", "result": {"ok": True}, **fields}


def bounded(report: dict[str, Any], text: str, max_chars: int = DEFAULT_BOUND) -> None:
    """Every part of a report within its bound, and the text within about the result bound."""
    for name in ("id", "status", "workflow_id", "workflow_name", "started_at"):
        assert report[name] is None or len(report[name]) <= SCALAR_CHARS, name
    for name in ("params", "other"):
        assert report[name] is None or len(compact(report[name])) <= SMALL_FIELD_CHARS + 200, name
    if report["result_page"] is not None:
        assert len(report["result_page"]["text"]) <= max_chars
    assert len(compact(report["result"])) <= max_chars
    assert len(text) <= max_chars + TEXT_OVERHEAD


ODD_RUNS: dict[str, dict[str, Any]] = {
    "huge params": base_run(params={"data": "x" * 100_000, "month": "March"}),
    "many params": base_run(params={f"p{i}": i for i in range(20_000)}),
    "many other attributes": base_run(**{f"attr{i}": "v" * 50 for i in range(20_000)}),
    "one huge other attribute": base_run(log="y" * 500_000),
    "long attribute names": base_run(**{"k" * 5_000 + str(i): 1 for i in range(50)}),
    "long id and status": {"id": "r" * 50_000, "status": "s" * 50_000, "result": 1},
    "long workflow name": base_run(workflow={"id": "w" * 10_000, "name": "n" * 10_000}),
    "long timestamp": base_run(startedAt="2023-01-27T07:54:25." + "1" * 10_000 + "Z"),
    "deep result": base_run(result=json.loads("[" * 400 + "1" + "]" * 400)),
    "wide shallow result": base_run(result=[[i] for i in range(30_000)]),
    "string result": base_run(result="z" * 100_000),
    "quotes in the result": base_run(result='"' * 60_000),
}


@pytest.mark.parametrize("case", sorted(ODD_RUNS))
@pytest.mark.parametrize("tool", ["get_run", "wait_for_run"])
async def test_odd_runs_stay_bounded_and_valid(case: str, tool: str) -> None:
    """Runs of odd shapes (huge params, long ids, deep or wide results) give valid reports, every part in its bound."""
    result, report = await call_odd(lambda: ODD_RUNS[case], tool)
    assert not result.is_error, text_of(result)
    bounded(report, text_of(result))


async def test_params_too_large_to_show_are_summarised_not_dropped() -> None:
    """Params or attributes too large to show are summarised in place, not dropped."""
    _, report = await call_odd(lambda: ODD_RUNS["huge params"])
    assert report["params"] == {"data": "<100,002 characters left out>", "month": "March"}
    _, report = await call_odd(lambda: ODD_RUNS["many other attributes"])
    assert report["other"]["…"].endswith("more entries left out") and report["other"]["attr0"] == "v" * 50


async def test_a_result_nested_too_deeply_for_structure_comes_as_text() -> None:
    """A result nested too deeply for structured content comes as its JSON text."""
    deep = json.loads("[" * 400 + "1" + "]" * 400)
    _, report = await call_odd(lambda: base_run(result=deep))
    assert report["result"] is None and json.loads(report["result_page"]["text"]) == deep
    assert report["result_page"]["next_offset"] is None


async def test_a_pretty_result_that_would_grow_too_much_is_shown_compact() -> None:
    """A result whose indented text would exceed the bound is shown compact."""
    nested = json.loads("[" * 80 + "1" + "]" * 80)
    result, report = await call_odd(lambda: base_run(result=[nested] * 40), max_result_chars=30_000)
    assert report["result"] == [nested] * 40
    assert compact([nested] * 40) in text_of(result)


async def test_json_nested_beyond_reason_is_a_clear_error() -> None:
    """An answer nested beyond reason is a clear tool error, not a crash."""
    result, _ = await call_odd(
        lambda: b'{"id":"r","status":"completed","result":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    )
    assert result.is_error and "could not be read: nested too deep" in text_of(result), text_of(result)


async def test_a_listing_too_large_is_cut_with_a_note() -> None:
    """A workflow listing over the bound is cut, descriptions shortened, with a note saying so."""
    workflows = [{"id": f"wf-{i}", "name": f"Workflow {i}", "description": "d" * 5_000} for i in range(200)]
    server = build_server(
        make_settings(), transport=httpx2.MockTransport(lambda _: httpx2.Response(200, json=workflows))
    )
    async with Client(server, mode="auto") as session:
        result = await GuardedClient(session).call_tool("list_workflows", {})
        listing = await schema_check(GuardedClient(session), "list_workflows", result)
    shown = listing["workflows"]
    assert 0 < len(shown) < 200 and all(len(w["description"]) <= 1_000 for w in shown)
    assert f"{200 - len(shown)} more workflows are not shown" in listing["note"]
    assert len(compact(listing)) <= DEFAULT_BOUND + 2_000


async def test_the_text_stays_near_a_small_bound() -> None:
    """With a small bound (1,000 characters), every part of the report and its text stay within it."""
    nested = json.loads("[" * 60 + "1" + "]" * 60)
    result, report = await call_odd(lambda: base_run(result=[nested] * 7), max_result_chars=1_000)
    assert report["result"] == [nested] * 7
    bounded(report, text_of(result), max_chars=1_000)
