"""The workflow catalog: loading and its errors, the merged listing, checked params, typed tools, resources and the
prompt. Server-level tests run in both protocol eras."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inline_snapshot import external_file
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.stdio import stdio_client as spawn_stdio
from mcp.types import CallToolResult

from tests.catalogs import EXAMPLE, serve, write_catalog, write_json_catalog
from tests.helpers import API_KEY, ERAS, ROOT, make_settings, server_env, text_of
from wave_mcp.catalog import Catalog, load_catalog
from wave_mcp.demo import SANDBOX_PARAMS, SANDBOX_WORKFLOW
from wave_mcp.errors import ConfigError, InvalidInputError
from wave_mcp.models import Workflow
from wave_mcp.sandbox import DEMO_WORKFLOWS, SandboxState, create_app
from wave_mcp.server import build_server

pytestmark = pytest.mark.anyio

GENERIC = {"list_workflows", "execute_workflow", "get_run", "wait_for_run"}

# A valid call of each example workflow, as a user would make it.
EXAMPLE_CALLS: dict[str, dict[str, Any]] = {
    "8988f685-2b8c-4a09-9955-150426265d32": {"param1": "value 1", "param2": "value 2"},
    "monthly-report": {"month": "March", "year": 2026},
    "nightly-import": {},
    "export-orders": {"rows": 3},
    "timer": {"seconds": 1},
}


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


def example_toml() -> dict[str, Any]:
    with EXAMPLE.open("rb") as handle:
        return tomllib.load(handle)


# ---- the example catalog -----------------------------------------------------------------------------------------


def test_example_catalog_describes_exactly_the_sandbox_workflows() -> None:
    """The shipped example catalog loads and describes each sandbox workflow, no more, no less."""
    catalog = load_catalog(EXAMPLE)
    assert [entry.id for entry in catalog.entries] == list(DEMO_WORKFLOWS)
    assert EXAMPLE.is_file() and EXAMPLE.parent.parent.name == "wave_mcp", "it must ship inside the package"
    for entry in catalog.entries:
        assert entry.params is not None and entry.result and entry.description, entry.id
        catalog.check_params(entry.id, EXAMPLE_CALLS[entry.id])
    catalog.check_params(SANDBOX_WORKFLOW, SANDBOX_PARAMS)


def test_sandbox_settings_default_to_the_example_catalog(tmp_path: Path) -> None:
    """In sandbox mode the example catalog is used unless another is set; outside it there is none."""
    assert make_settings(sandbox=True).catalog == EXAMPLE
    own = write_catalog(tmp_path, '[[workflow]]\nid = "timer"\n')
    assert make_settings(sandbox=True, catalog=own).catalog == own
    assert make_settings().catalog is None


async def test_example_results_match_their_declared_result_schema(transport: httpx2.ASGITransport, era: str) -> None:
    """What the catalog says about results is true of the sandbox: each completed run's result validates."""
    catalog = load_catalog(EXAMPLE)
    async with serve(transport, era, catalog=EXAMPLE) as client:
        for entry in catalog.entries:
            if entry.result_schema is None:
                continue
            done = await client.call_tool(
                "execute_workflow", {"workflow_id": entry.id, "params": EXAMPLE_CALLS[entry.id], "wait_seconds": 10}
            )
            report = done.structured_content or {}
            assert report["status"] == "completed", text_of(done)
            errors = list(Draft202012Validator(entry.result_schema).iter_errors(report["result"]))
            assert not errors, (entry.id, errors)


def test_json_catalog_is_the_same_as_toml(tmp_path: Path) -> None:
    """The JSON variant of a catalog (a top-level "workflow" array) loads to the same entries as the TOML one."""
    path = write_json_catalog(tmp_path, example_toml()["workflow"])
    assert load_catalog(path).entries == load_catalog(EXAMPLE).entries


@pytest.mark.parametrize(
    ("name", "workflow_id", "expected"),
    [
        ("Monthly report", "x", "run_monthly_report"),
        ("Rapport mensuel (été) 2.0", "x", "run_rapport_mensuel_ete_2_0"),
        (None, "8988f685-2b8c", "run_8988f685_2b8c"),
        ("月次レポート", "monthly", "run_monthly"),
        ("x" * 100, "x", "run_" + "x" * 60),
    ],
)
def test_tool_names_derive_from_the_name(tmp_path: Path, name: str | None, workflow_id: str, expected: str) -> None:
    """A typed tool's name comes from the workflow's name, or else its id."""
    entry: dict[str, Any] = {"id": workflow_id} | ({"name": name} if name else {})
    catalog = load_catalog(write_json_catalog(tmp_path, [entry]))
    assert catalog.entries[0].tool == expected


# ---- invalid catalogs: exit code 2 and one line naming the file, the workflow and the field -------------------------

GOOD = """
[[workflow]]
id = "first"
name = "First"
"""

BAD_CATALOGS: list[tuple[str, str, str, list[str]]] = [
    # (case, file name, content, parts the one line must name)
    ("toml syntax", "c.toml", "[[workflow]]\nid = \n", ["not valid TOML", "line 2"]),
    ("json syntax", "c.json", '{"workflow": [{"id": "a",}]}', ["not valid JSON", "line 1"]),
    ("unknown extension", "c.yaml", "workflow: []", ["unknown file type '.yaml'", ".toml or .json"]),
    ("no workflows", "c.toml", 'title = "x"\n', ["unknown top-level key 'title'"]),
    ("empty list", "c.json", '{"workflow": []}', ["no workflows"]),
    ("workflow as a table", "c.toml", '[workflow]\nid = "a"\n', ["no workflows", "[[workflow]]"]),
    ("top level not an object", "c.json", "[1, 2]", ["the top level must be"]),
    ("entry not a table", "c.json", '{"workflow": ["a"]}', ["workflow entry 1 must be a table"]),
    ("missing id", "c.toml", GOOD + '[[workflow]]\nname = "No id"\n', ["workflow entry 2", "field 'id'", "required"]),
    ("empty id", "c.toml", '[[workflow]]\nid = ""\n', ["workflow entry 1", "field 'id'"]),
    ("control character in id", "c.json", '{"workflow": [{"id": "a\\u0000b"}]}', ["field 'id'", "control"]),
    (
        "duplicate id",
        "c.toml",
        GOOD + '[[workflow]]\nid = "first"\ntool = "run_again"\n',
        ["workflow 'first' (entry 2)", "field 'id'", "duplicate id", "entry 1"],
    ),
    ("bad field type", "c.toml", '[[workflow]]\nid = "a"\nsafe = "yes"\n', ["workflow 'a'", "field 'safe'", "boolean"]),
    ("number as text", "c.toml", '[[workflow]]\nid = "a"\nname = 7\n', ["workflow 'a'", "field 'name'", "string"]),
    (
        "negative wait",
        "c.toml",
        '[[workflow]]\nid = "a"\ndefault_wait_seconds = -1\n',
        ["workflow 'a'", "field 'default_wait_seconds'", "greater than or equal to 0"],
    ),
    ("unknown field", "c.toml", '[[workflow]]\nid = "a"\nparam = {}\n', ["workflow 'a'", "field 'param'", "unknown"]),
    ("params not a table", "c.toml", '[[workflow]]\nid = "a"\nparams = "x"\n', ["field 'params'", "dictionary"]),
    (
        "invalid JSON Schema",
        "c.toml",
        '[[workflow]]\nid = "a"\n[workflow.params]\ntype = "object"\nproperties = { m = { type = "strin" } }\n',
        ["workflow 'a'", "field 'params'", "not a valid JSON Schema", "properties.m.type"],
    ),
    (
        "params not an object",
        "c.json",
        '{"workflow": [{"id": "a", "params": {"type": "array"}}]}',
        ["workflow 'a'", "field 'params'", '"type": "object"'],
    ),
    (
        "unknown $schema",
        "c.json",
        '{"workflow": [{"id": "a", "params": {"$schema": "https://example.invalid/s", "type": "object"}}]}',
        ["workflow 'a'", "field 'params'", "unknown $schema"],
    ),
    (
        "params declare wait_seconds",
        "c.json",
        '{"workflow": [{"id": "a", "params": {"type": "object", "properties": {"wait_seconds": {}}}}]}',
        ["workflow 'a'", "field 'params'", "wait_seconds"],
    ),
    (
        "invalid result_schema",
        "c.json",
        '{"workflow": [{"id": "a", "result_schema": {"type": 5}}]}',
        ["workflow 'a'", "field 'result_schema'", "not a valid JSON Schema"],
    ),
    (
        "bad tool name",
        "c.toml",
        '[[workflow]]\nid = "a"\ntool = "run monthly"\n',
        ["workflow 'a'", "field 'tool'", "not a valid tool name"],
    ),
    (
        "built-in tool name",
        "c.toml",
        '[[workflow]]\nid = "a"\ntool = "get_run"\n',
        ["workflow 'a'", "field 'tool'", "built-in"],
    ),
    (
        "duplicate tool name",
        "c.toml",
        GOOD + '[[workflow]]\nid = "second"\ntool = "run_first"\n',
        ["workflow 'second' (entry 2)", "field 'tool'", "already used by workflow 'first'"],
    ),
    (
        "duplicate derived tool name",
        "c.toml",
        GOOD + '[[workflow]]\nid = "second"\nname = "first"\n',
        ["workflow 'second'", "field 'tool'", "'run_first'", "set a distinct 'tool'"],
    ),
]


@pytest.mark.parametrize(("case", "file_name", "content", "parts"), BAD_CATALOGS, ids=[c[0] for c in BAD_CATALOGS])
def test_invalid_catalog_is_refused_in_one_line(
    tmp_path: Path, case: str, file_name: str, content: str, parts: list[str]
) -> None:
    """An invalid catalog stops the server with one line naming the file and each problem."""
    path = tmp_path / file_name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        build_server(make_settings(catalog=path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid catalog {path}: ")
    for part in parts:
        assert part in message, (part, message)


def test_missing_catalog_file(tmp_path: Path) -> None:
    """A catalog file that cannot be read is refused with a message naming it."""
    with pytest.raises(ConfigError, match=r"invalid catalog .*nowhere\.toml: cannot be read"):
        load_catalog(tmp_path / "nowhere.toml")


@pytest.mark.parametrize(
    ("variable", "content", "parts"),
    [
        ("flag", '[[workflow]]\nid = "a"\nsafe = "yes"\n', ["workflow 'a' (entry 1)", "field 'safe'"]),
        (
            "WAVE_CATALOG",
            '[[workflow]]\nid = "a"\n[workflow.params]\ntype = "object"\nrequired = "month"\n',
            ["workflow 'a' (entry 1)", "field 'params'", "not a valid JSON Schema", "(at required)"],
        ),
    ],
)
def test_cli_exits_2_with_one_line(tmp_path: Path, variable: str, content: str, parts: list[str]) -> None:
    """`wave-mcp` with an invalid catalog prints one line on stderr, nothing on stdout, and exits with code 2."""
    path = write_catalog(tmp_path, content)
    env = {**os.environ, **server_env("http://127.0.0.1:9"), "WAVE_CATALOG": str(path)}
    args = [sys.executable, "-m", "wave_mcp"]
    if variable == "flag":
        del env["WAVE_CATALOG"]
        args += ["--catalog", str(path)]
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"wave-mcp: invalid catalog {path}: ")
    for part in parts:
        assert part in lines[0]
    assert API_KEY not in done.stderr


# ---- the merged listing --------------------------------------------------------------------------------------------

MERGE = """
[[workflow]]
id = "catalog-only"
name = "Archive orders"
description = "Moves old orders to the archive."
params = { type = "object" }
result = "How many orders were archived."

[[workflow]]
id = "monthly-report"
description = "The catalog's words about the monthly report."
result = "The month's figures."
safe = true
default_wait_seconds = 20

[workflow.params]
type = "object"
properties = { month = { type = "string" } }
"""


async def test_listing_merges_the_api_and_the_catalog(
    tmp_path: Path, transport: httpx2.ASGITransport, era: str
) -> None:
    """API entries keep the API's order and are enriched; catalog-only entries follow; each says its source."""
    path = write_catalog(tmp_path, MERGE)
    async with serve(transport, era, catalog=path) as client:
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
    entries = {item["id"]: item for item in listing["workflows"]}
    assert [item["id"] for item in listing["workflows"]] == [*DEMO_WORKFLOWS, "catalog-only"]
    assert {item["id"]: item["source"] for item in listing["workflows"]} == {
        **dict.fromkeys(DEMO_WORKFLOWS, "api"),
        "monthly-report": "both",
        "catalog-only": "catalog",
    }
    both = entries["monthly-report"]
    assert both["name"] == DEMO_WORKFLOWS["monthly-report"].name  # the catalog gives none: the API's
    assert both["description"] == "The catalog's words about the monthly report."  # the catalog's wins
    assert both["params_schema"] == {"type": "object", "properties": {"month": {"type": "string"}}}
    assert both["result_description"] == "The month's figures."
    assert (both["safe"], both["default_wait_seconds"]) == (True, 20)
    assert both["tool"] is None  # typed tools are off
    api_only = entries["timer"]
    assert api_only["description"] == DEMO_WORKFLOWS["timer"].description
    assert api_only["params_schema"] is None and api_only["result_description"] is None
    assert entries["catalog-only"]["name"] == "Archive orders"
    assert listing["note"] is None


async def test_listing_filters_merged_entries(tmp_path: Path, transport: httpx2.ASGITransport, era: str) -> None:
    """`query` also filters the workflows that only the catalog knows."""
    path = write_catalog(tmp_path, MERGE)
    async with serve(transport, era, catalog=path) as client:
        found = await client.call_tool("list_workflows", {"query": "ARCHIVE"})
    assert [item["id"] for item in (found.structured_content or {})["workflows"]] == ["catalog-only"]


async def test_listing_falls_back_to_the_catalog_when_the_api_fails(
    tmp_path: Path, transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """When the API cannot list workflows, the listing comes from the catalog, marked as such."""
    from wave_mcp.sandbox import Fault

    sandbox.faults.append(Fault("503", route="list", times=50))
    async with serve(transport, era, catalog=write_catalog(tmp_path, MERGE)) as client:
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
    assert [item["id"] for item in listing["workflows"]] == ["catalog-only", "monthly-report"]
    assert all(item["source"] == "catalog" for item in listing["workflows"])
    assert "local catalog only" in listing["note"]


async def test_listing_without_the_api_listing() -> None:
    """A 404 on GET /workflows: the catalog still lists its workflows, with a note."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(404, json={"message": "Not found"})

    server = build_server(make_settings(catalog=EXAMPLE), transport=httpx2.MockTransport(handler))
    async with Client(server) as client:
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
    assert [item["id"] for item in listing["workflows"]] == list(DEMO_WORKFLOWS)
    assert "HTTP 404" in listing["note"] and "local catalog only" in listing["note"]


def test_listing_keeps_the_api_order_and_skips_duplicates() -> None:
    """The merged listing keeps the API's order, lists each id once, then adds the catalog's others."""
    catalog = load_catalog(EXAMPLE)
    api = [Workflow(id="timer"), Workflow(id="other", name="Other"), Workflow(id="timer")]
    infos = catalog.listing(api, allowed=lambda _: True)
    assert [info.id for info in infos] == ["timer", "other", *[i for i in DEMO_WORKFLOWS if i != "timer"]]
    assert Catalog().listing(api, allowed=lambda _: True)[1].source == "api"


# ---- checked params --------------------------------------------------------------------------------------------------

NESTED = """
[[workflow]]
id = "monthly-report"
name = "Orders"

[workflow.params]
type = "object"
required = ["month", "items"]
additionalProperties = false

[workflow.params.properties.month]
type = "string"
format = "date"

[workflow.params.properties.items]
type = "array"
items = { type = "object", required = ["qty"], properties = { qty = { type = "integer", minimum = 1 } } }
"""


async def test_invalid_params_list_every_violation_and_send_nothing(
    tmp_path: Path, transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """Params that break the declared schema are refused with every problem listed; nothing is sent."""
    path = write_catalog(tmp_path, NESTED)
    params = {"month": "2026-13-45", "items": [{"qty": 2}, {"qty": 0}, {}], "extra": True}
    async with serve(transport, era, catalog=path) as client:
        refused = await client.call_tool("execute_workflow", {"workflow_id": "monthly-report", "params": params})
    assert refused.is_error
    text = text_of(refused)
    assert "nothing was sent" in text and "4 problems" in text
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines == [
        "- params: Additional properties are not allowed ('extra' was unexpected)",
        "- params.items[1].qty: 0 is less than the minimum of 1",
        "- params.items[2]: 'qty' is a required property",
        "- params.month: '2026-13-45' is not a 'date'",
    ]
    assert "call execute_workflow again" in text
    assert sandbox.count("POST") == 0


async def test_many_violations_are_bounded(tmp_path: Path, transport: httpx2.ASGITransport, era: str) -> None:
    """A refusal lists at most 20 problems and says how many more there are."""
    path = write_catalog(tmp_path, NESTED)
    params = {"month": "2026-03-01", "items": [{"qty": 0} for _ in range(30)]}
    async with serve(transport, era, catalog=path) as client:
        refused = await client.call_tool("execute_workflow", {"workflow_id": "monthly-report", "params": params})
    text = text_of(refused)
    assert "30 problems" in text and "… and 10 more" in text
    assert len([line for line in text.splitlines() if line.startswith("- params")]) == 20


async def test_valid_params_are_sent_once_as_given(
    tmp_path: Path, transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """Params that fit the declared schema are sent once, exactly as given."""
    path = write_catalog(tmp_path, NESTED)
    params = {"month": "2026-03-01", "items": [{"qty": 1}]}
    async with serve(transport, era, catalog=path) as client:
        started = await client.call_tool("execute_workflow", {"workflow_id": "monthly-report", "params": params})
    assert not started.is_error, text_of(started)
    assert sandbox.count("POST") == 1
    assert [run.params for run in sandbox.runs.values()] == [params]


async def test_uncatalogued_workflows_are_not_checked(
    tmp_path: Path, transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """Only a declared schema is enforced: other workflows take any params, and the API judges them."""
    async with serve(transport, era, catalog=write_catalog(tmp_path, NESTED)) as client:
        started = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"anything": [1]}})
    assert not started.is_error
    assert sandbox.count("POST") == 1


def test_unresolvable_reference_sends_nothing(tmp_path: Path) -> None:
    """A schema whose `$ref` cannot be resolved refuses the params with a clear error."""
    path = write_json_catalog(
        tmp_path, [{"id": "a", "params": {"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}}}]
    )
    with pytest.raises(InvalidInputError, match="cannot resolve"):
        load_catalog(path).check_params("a", {"x": 1})


# ---- typed tools --------------------------------------------------------------------------------------------------


def _pinned(tools: list[Any]) -> list[dict[str, Any]]:
    return [
        tool.model_dump(mode="json", by_alias=True, exclude_none=True, include={"name", "title", "description"})
        | {
            "inputSchema": tool.input_schema,
            "annotations": tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
        for tool in tools
    ]


async def test_typed_tools_listing_is_pinned(transport: httpx2.ASGITransport, era: str) -> None:
    """The example catalog's typed tools, as the model sees them, are pinned.

    After an intended change, `pytest --inline-snapshot=fix` rewrites tests/snapshots/typed_tools.json.
    """
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        tools = (await client.list_tools()).tools
    typed = [tool for tool in tools if tool.name not in GENERIC]
    assert {tool.name for tool in tools} - GENERIC == {tool.name for tool in typed}
    assert _pinned(typed) == external_file("snapshots/typed_tools.json")


async def test_typed_tools_show_exactly_the_declared_schema(transport: httpx2.ASGITransport, era: str) -> None:
    """A typed tool shows exactly the declared params plus `wait_seconds`, and the catalog's name, text and safety."""
    declared = {item["id"]: item for item in example_toml()["workflow"]}
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True, wait_max=120) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    execute = tools["execute_workflow"]
    catalog = load_catalog(EXAMPLE)
    assert {entry.tool for entry in catalog.entries} <= set(tools)
    for entry in catalog.entries:
        tool = tools[entry.tool]
        schema = json.loads(json.dumps(tool.input_schema))
        wait = schema["properties"].pop("wait_seconds")
        assert schema == declared[entry.id]["params"] | {"properties": schema["properties"]}
        assert schema["properties"] == declared[entry.id]["params"].get("properties", {})
        assert (wait["type"], wait["minimum"], wait["maximum"]) == ("number", 0, 120)
        assert wait["default"] == declared[entry.id]["default_wait_seconds"]
        assert "wait_seconds" not in schema.get("required", [])
        assert tool.output_schema == execute.output_schema
        assert (tool.description or "").splitlines()[0] == declared[entry.id]["description"]
        assert declared[entry.id]["result"] in (tool.description or "")
        assert tool.title == declared[entry.id]["name"]
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is declared[entry.id]["safe"]


async def test_no_typed_tools_unless_asked(transport: httpx2.ASGITransport, era: str) -> None:
    """Typed tools (and the instructions about them) appear only with WAVE_WORKFLOW_TOOLS."""
    async with serve(transport, era, catalog=EXAMPLE) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == GENERIC
        assert "tool of their own" not in (client.instructions or "")
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        assert "tool of their own" in (client.instructions or "")


async def test_typed_tool_runs_the_workflow(transport: httpx2.ASGITransport, sandbox: SandboxState, era: str) -> None:
    """A typed tool sends its arguments minus wait_seconds as the body, once, and waits like execute_workflow."""
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        done = await client.call_tool("run_monthly_report", {"month": "March", "year": 2026, "wait_seconds": 10})
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
    report = done.structured_content or {}
    assert report["status"] == "completed", text_of(done)
    assert report["workflow_id"] == "monthly-report" and report["polls"] >= 1
    assert report["result"]["month"] == "March"
    assert sandbox.count("POST") == 1
    assert [run.params for run in sandbox.runs.values()] == [{"month": "March", "year": 2026}]
    assert {item["id"]: item["tool"] for item in listing["workflows"]}["monthly-report"] == "run_monthly_report"


async def test_typed_tool_waits_by_the_catalog_default(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """Without wait_seconds, a typed tool waits `default_wait_seconds` (10 s for the timer): a short run is done."""
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        done = await client.call_tool("run_timer", {"seconds": 1})
        started = await client.call_tool("run_timer", {"seconds": 1, "wait_seconds": 0})
    assert (done.structured_content or {})["status"] == "completed"
    assert (started.structured_content or {})["status"] == "running"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"month": "Marhc"}, "- month: 'Marhc' is not one of"),
        ({"year": 2026}, "- (arguments): 'month' is a required property"),
        ({"month": "March", "colour": "red"}, "('colour' was unexpected)"),
        ({"month": "March", "wait_seconds": -1}, "wait_seconds must be a number from 0 to 300"),
        ({"month": "March", "wait_seconds": "soon"}, "wait_seconds must be a number"),
        ({"month": "March", "wait_seconds": True}, "wait_seconds must be a number"),
        ({"month": "March", "wait_seconds": 301}, "wait_seconds must be a number"),
    ],
)
async def test_typed_tool_refuses_invalid_arguments(
    transport: httpx2.ASGITransport, sandbox: SandboxState, era: str, arguments: dict[str, Any], expected: str
) -> None:
    """A typed tool refuses invalid arguments with the problem, says how to call it again, and sends nothing."""
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        refused = await client.call_tool("run_monthly_report", arguments)
    assert refused.is_error
    text = text_of(refused)
    assert expected in text and "nothing was sent" in text
    if "wait_seconds" not in expected:
        assert "call run_monthly_report again" in text
    assert sandbox.count("POST") == 0


async def test_typed_tool_arguments_may_take_any_name(
    tmp_path: Path, transport: httpx2.ASGITransport, sandbox: SandboxState, era: str
) -> None:
    """Parameters named like the SDK's own plumbing (`arguments`, `ctx`, `json`) reach the workflow intact; a
    workflow without declared params passes whatever it is given."""
    path = write_json_catalog(
        tmp_path,
        [
            {
                "id": "timer",
                "params": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in ("arguments", "ctx", "json", "model_config")},
                },
            },
            {"id": "8988f685-2b8c-4a09-9955-150426265d32", "name": "Free"},
        ],
    )
    odd = {"arguments": "a", "ctx": "b", "json": "c", "model_config": "d"}
    async with serve(transport, era, catalog=path, workflow_tools=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools["run_free"].input_schema) == {"type", "properties"}
        assert list(tools["run_free"].input_schema["properties"]) == ["wait_seconds"]
        first = await client.call_tool("run_timer", odd)
        second = await client.call_tool("run_free", {"param1": "x", "deep": {"a": [1]}})
    assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
    assert [run.params for run in sandbox.runs.values()] == [odd, {"param1": "x", "deep": {"a": [1]}}]


@pytest.mark.stdio
@pytest.mark.parametrize("mode", ERAS)
async def test_typed_tools_over_stdio(mode: str, sandbox_server: tuple[str, SandboxState]) -> None:
    """The typed tools through a real subprocess and the real wire, against the loopback sandbox."""
    url, _ = sandbox_server
    env = server_env(url, WAVE_CATALOG=str(EXAMPLE), WAVE_WORKFLOW_TOOLS="1")
    params = StdioServerParameters(command=sys.executable, args=["-m", "wave_mcp"], env=env, cwd=str(ROOT))
    async with Client(spawn_stdio(params), mode=mode, read_timeout_seconds=30) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["run_my_workflow"].input_schema["required"] == ["param1"]
        done = await client.call_tool("run_my_workflow", {"param1": "value 1", "param2": "value 2"})
        refused = await client.call_tool("run_my_workflow", {"param2": 5})
    assert (done.structured_content or {})["result"] == {"key1": "value 1", "key2": "value 2"}
    assert refused.is_error and "- param2: 5 is not of type 'string'" in text_of(refused)
    assert API_KEY not in done.model_dump_json()


# ---- resources and the prompt -----------------------------------------------------------------------------------


async def test_workflow_resources_document_each_workflow(transport: httpx2.ASGITransport, era: str) -> None:
    """Each catalog workflow is a resource documenting its params and result; runs are a resource template."""
    catalog = load_catalog(EXAMPLE)
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        listed = (await client.list_resources()).resources
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert [str(r.uri) for r in listed] == [f"wave://workflows/{entry.id}" for entry in catalog.entries]
        assert templates == {"wave://workflows/{workflow_id}", "wave://runs/{run_id}"}
        for entry in catalog.entries:
            contents = (await client.read_resource(f"wave://workflows/{entry.id}")).contents
            text = getattr(contents[0], "text", "")
            assert contents[0].mime_type == "text/markdown"
            assert f"`{entry.id}`" in text and f"`{entry.tool}`" in text
            assert json.dumps(entry.params, indent=2, ensure_ascii=False) in text
            assert (entry.result or "") in text


async def test_run_resource_reads_a_run(transport: httpx2.ASGITransport, era: str) -> None:
    """The run resource reads a run's report as JSON."""
    async with serve(transport, era, catalog=EXAMPLE) as client:
        started = await client.call_tool(
            "execute_workflow", {"workflow_id": "timer", "params": {"seconds": 1}, "wait_seconds": 10}
        )
        run_id = (started.structured_content or {})["id"]
        contents = (await client.read_resource(f"wave://runs/{run_id}")).contents
    report = json.loads(getattr(contents[0], "text", ""))
    assert (report["id"], report["status"], report["result"]) == (run_id, "completed", {"waited_seconds": 1.0})


async def test_prompt_walks_through_a_run(transport: httpx2.ASGITransport, era: str) -> None:
    """The run_workflow prompt walks the model through listing, starting, waiting and reporting."""
    async with serve(transport, era, catalog=EXAMPLE, workflow_tools=True) as client:
        prompts = (await client.list_prompts()).prompts
        assert [prompt.name for prompt in prompts] == ["run_workflow"]
        got = await client.get_prompt("run_workflow", {"goal": "the March sales report"})
    text = getattr(got.messages[0].content, "text", "")
    assert "I want this: the March sales report" in text
    for step in ("list_workflows", "execute_workflow", "wait_for_run", "result_description"):
        assert step in text
    assert "- monthly-report, Monthly report (tool run_monthly_report):" in text


# ---- the catalog's documentation tells the truth -------------------------------------------------------------------


def _catalog_doc() -> str:
    return (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")


def _blocks(section: str, language: str) -> list[str]:
    return [body for lang, body in re.findall(r"```(\w*)\n(.*?)```", section, flags=re.DOTALL) if lang == language]


def test_documented_catalog_examples_load(tmp_path: Path) -> None:
    """The catalog examples shown in the docs load, and the TOML one matches the example catalog."""
    section = _catalog_doc()
    toml_catalog = load_catalog(write_catalog(tmp_path, _blocks(section, "toml")[0]))
    assert [entry.id for entry in toml_catalog.entries] == ["monthly-report", "nightly-import"]
    assert toml_catalog.entries[0] == load_catalog(EXAMPLE).get("monthly-report")
    json_catalog = load_catalog(write_catalog(tmp_path, _blocks(section, "json")[0], "c.json"))
    assert json_catalog.entries[0].tool == "run_monthly_report"


async def test_documented_error_texts_are_real(tmp_path: Path, transport: httpx2.ASGITransport) -> None:
    """The error texts shown in the docs are the ones the server gives."""
    section = _catalog_doc()
    shown = [block.strip() for block in _blocks(section, "")]
    params = {"month": "Marhc", "year": "2026", "format": "pdf"}
    async with serve(transport, "auto", catalog=EXAMPLE) as client:
        refused = await client.call_tool("execute_workflow", {"workflow_id": "monthly-report", "params": params})
    assert text_of(refused) in shown
    path = write_catalog(
        tmp_path,
        '[[workflow]]\nid = "first"\n[[workflow]]\nid = "monthly-report"\n[workflow.params]\ntype = "object"\n'
        'properties = { month = { type = "strin" } }\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(path)
    line = f"wave-mcp: {caught.value}".replace(str(path), "/etc/wave/catalog.toml")
    assert line in shown


# ---- fuzzing the typed tools ----------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
ARGUMENTS = st.dictionaries(
    st.sampled_from(["month", "year", "wait_seconds", "", "ctx", "arguments"]) | st.text(max_size=12),
    JSON_VALUES,
    max_size=4,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arguments=ARGUMENTS)
def test_typed_tool_takes_any_arguments(arguments: dict[str, Any]) -> None:
    """Any JSON arguments give a result or a clear tool error (never a masked crash), and a POST is sent only for
    arguments the declared schema accepts, to the workflow's own route."""
    app = create_app(api_key=API_KEY, time_scale=0.01)
    state: SandboxState = app.state.sandbox

    async def call() -> CallToolResult:
        async with serve(httpx2.ASGITransport(app=app), "auto", catalog=EXAMPLE, workflow_tools=True) as client:
            return await client.call_tool("run_monthly_report", arguments | {"wait_seconds": 0})

    result = anyio.run(call)
    params = {key: value for key, value in arguments.items() if key != "wait_seconds"}
    declared = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["workflow"][1]["params"]
    valid = not list(Draft202012Validator(declared).iter_errors(params))
    if result.is_error:
        assert text_of(result) != "Error executing tool run_monthly_report", "a crash, not a clear error"
        assert not valid and state.requests == []
    else:
        assert valid and state.requests == [("POST", "/workflows/monthly-report/execute")]
