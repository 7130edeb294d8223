"""Property-based fuzzing of every tool's arguments (hypothesis), through the MCP tools in memory, both eras.

Each generated call must end in a result (valid against the tool's output schema: the SDK client checks it) or a
clear tool error, never a masked crash or a traceback; and every request the sandbox receives must be on one of its
routes, with the id sent as one percent-encoded path segment that decodes to an id the call was given.

Profiles: `wave-ci` (the default: 1,000 cases per tool, derandomised, about a minute for all four tools),
`wave-quick` (100) and `wave-deep` (10,000, random). Pick one with FUZZ_PROFILE=wave-deep.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote

import anyio
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, TextContent

from tests.conftest import API_KEY, ERAS, GuardedClient, make_settings
from wave_mcp.limits import MAX_ID_LENGTH
from wave_mcp.sandbox import DEMO_WORKFLOWS, SandboxState, SandboxTransport, create_app
from wave_mcp.server import build_server

settings.register_profile(
    "wave-ci",
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
settings.register_profile("wave-quick", parent=settings.get_profile("wave-ci"), max_examples=100)
settings.register_profile("wave-deep", parent=settings.get_profile("wave-ci"), max_examples=10_000, derandomize=False)
PROFILE = settings.get_profile(os.environ.get("FUZZ_PROFILE", "wave-ci"))
MIN_CASES = min(1_000, PROFILE.max_examples)

CALL_LIMIT = 30.0
"""No single fuzzed call may take longer than this (none waits: sandbox runs end at once)."""

MAX_CLIENT_DEPTH = 240
"""The SDK client itself cannot serialise arguments nested much deeper (pydantic stops at about 250 levels)."""

SEGMENT = r"[A-Za-z0-9._~%-]+"
ROUTES = [
    ("GET", re.compile(r"/workflows")),
    ("POST", re.compile(rf"/workflows/(?P<id>{SEGMENT})/execute")),
    ("GET", re.compile(rf"/runs/(?P<id>{SEGMENT})")),
]

# ---- strategies ----------------------------------------------------------------------------------------------

HOSTILE_IDS = [
    "", " ", ".", "..", "...", "../workflows", "../../runs/x", "a/b", "/", "//evil.example/x", "%2e%2e", "%2F",
    "?q=1", "#frag", "a\x00b", "\n", "\r\nx-api-key: stolen", "\u200b", "\u2028", "\ud800", "x" * MAX_ID_LENGTH,
    "x" * (MAX_ID_LENGTH + 1), "ü", "\U0001f642", "runs", "workflows", "execute", "_sandbox", "_sandbox/reset",
    "http://evil.example/", "\\..\\", "a;b", "a%00b", "\t", "~", "-", API_KEY,
]  # fmt: skip

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
any_text = st.one_of(
    st.text(max_size=MAX_ID_LENGTH + 20),
    st.text(st.characters(codec="ascii"), max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp", "Zs"]), max_size=10),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn about in proportion to its weight (`st.one_of` folds repeated branches
    into one, so the weights go through `sampled_from`)."""
    branches = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(branches).flatmap(lambda strategy: strategy)


def with_mistakes(fields: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]) -> Any:
    """Arguments for a tool: mostly well-formed, sometimes with unknown keys, one mistyped value, or a jumble."""
    names = [*fields, *optional]
    well_formed = st.fixed_dictionaries(fields, optional=optional)
    unknown_keys = st.dictionaries(st.sampled_from(["extra", "_meta", "", "x-api-key"]), junk, min_size=1, max_size=2)
    extra = st.tuples(well_formed, unknown_keys).map(lambda pair: {**pair[1], **pair[0]})
    mistyped = st.tuples(well_formed, st.sampled_from(names), junk).map(lambda t: {**t[0], t[1]: t[2]})
    jumble = st.dictionaries(st.sampled_from([*names, "extra", ""]), junk, max_size=4)
    return weighted((6, well_formed), (1, extra), (1, mistyped), (1, jumble))


@dataclass
class Harness:
    """One server over an in-process sandbox, a client per era, and the ids the calls were given."""

    portal: BlockingPortal
    clients: dict[str, GuardedClient]
    sandbox: SandboxState
    urls: list[httpx2.URL]
    run_ids: list[str]
    given_ids: set[str] = field(default_factory=set)

    def call(self, era: str, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        for key in ("workflow_id", "run_id"):
            if isinstance(arguments.get(key), str):
                self.given_ids.add(arguments[key])

        async def bounded() -> CallToolResult:
            with anyio.fail_after(CALL_LIMIT):
                return await self.clients[era].call_tool(tool, arguments)

        return self.portal.call(bounded)


class RecordingTransport(SandboxTransport):
    """The sandbox transport, noting every URL the server asks for."""

    def __init__(self, urls: list[httpx2.URL], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.urls.append(request.url)
        return await super().handle_async_request(request)


class ErrorLog(logging.Handler):
    """Every record at ERROR or above: the SDK logs a masked crash that way, with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def harness() -> Iterator[Harness]:
    app = create_app(api_key=API_KEY, time_scale=0.0)
    urls: list[httpx2.URL] = []
    server = build_server(make_settings(), transport=RecordingTransport(urls, app=app))
    with start_blocking_portal("asyncio") as portal, ExitStack() as stack:
        clients = {
            era: stack.enter_context(portal.wrap_async_context_manager(Client(server, mode=era))) for era in ERAS
        }
        guarded = {era: GuardedClient(client) for era, client in clients.items()}
        run_ids = []
        for workflow, params in [("export-orders", {}), (next(iter(DEMO_WORKFLOWS)), {"param1": "a"})]:
            started = portal.call(
                partial(guarded["auto"].call_tool, "execute_workflow", {"workflow_id": workflow, "params": params})
            )
            run_ids.append((started.structured_content or {})["id"])
        yield Harness(portal, guarded, app.state.sandbox, urls, run_ids)


def tool_arguments(tool: str, run_ids: list[str]) -> Any:
    hostile = st.sampled_from(HOSTILE_IDS)
    workflow_ids = weighted((6, st.sampled_from(list(DEMO_WORKFLOWS))), (2, hostile), (2, any_text))
    run_id = weighted((6, st.sampled_from(run_ids)), (2, hostile), (2, any_text))
    seconds = weighted((4, st.floats(0, 0.05)), (2, st.just(0)), (1, st.floats()), (1, st.integers(-10, 10**6)))
    if tool == "list_workflows":
        return with_mistakes({}, {"query": weighted((2, st.none()), (2, st.text(max_size=250)), (1, any_text))})
    if tool == "execute_workflow":
        params = weighted(
            (3, st.dictionaries(st.text(max_size=10), json_values, max_size=5)),
            (3, st.just({"month": "March", "year": 2026, "param1": "a"})),
            (1, st.integers(0, MAX_CLIENT_DEPTH).map(lambda depth: {"deep": nested(depth)})),
            (1, junk),
        )
        return with_mistakes({"workflow_id": workflow_ids}, {"params": params, "wait_seconds": seconds})
    if tool == "get_run":
        pointers = ["", "/", "/orders", "/orders/0", "/orders/-", "/orders/01", "/count", "/key1", "~", "/~0", "/~1"]
        pointer = weighted(
            (4, st.none()),
            (2, st.sampled_from(pointers)),
            (1, st.lists(st.text(max_size=6), max_size=4).map(lambda parts: "/" + "/".join(parts))),
            (1, st.text(max_size=1_100)),
        )
        offset = weighted((4, st.just(0)), (3, st.integers(0, 400_000)), (1, st.integers()))
        return with_mistakes({"run_id": run_id}, {"result_offset": offset, "result_pointer": pointer})
    return with_mistakes({"run_id": run_id}, {"timeout_seconds": seconds})


def check(tool: str, result: CallToolResult) -> None:
    """A result with structured content, or a tool error with a message: never a masked crash."""
    assert result.content and isinstance(result.content[0], TextContent)
    text = result.content[0].text
    assert "Traceback" not in text
    if result.is_error:
        if text.startswith("Unknown tool"):
            raise AssertionError(text)
        prefix = f"Error executing tool {tool}: "
        assert text.startswith(prefix) and len(text) > len(prefix) + 10, f"a masked crash: {text!r}"
    else:
        assert result.structured_content is not None


def check_routes(h: Harness) -> None:
    """Every request was on a route, with an id the call was given, as one segment, and nothing else in the URL."""
    known = h.given_ids | set(h.run_ids) | set(DEMO_WORKFLOWS)
    for url in h.urls:
        assert url.host == "wave.test" and url.query == b"" and url.fragment == "", url
    assert len(h.urls) == len(h.sandbox.requests)
    for method, path in h.sandbox.requests:
        for route_method, pattern in ROUTES:
            match = pattern.fullmatch(path)
            if method == route_method and match:
                if "id" in match.groupdict():
                    assert unquote(match["id"]) in known, f"{method} {path}: an id no call was given"
                    assert unquote(match["id"]) not in (".", "..")
                break
        else:
            raise AssertionError(f"a request outside the routes: {method} {path}")


@pytest.mark.parametrize("tool", ["list_workflows", "execute_workflow", "get_run", "wait_for_run"])
def test_fuzz_tool_arguments(tool: str) -> None:
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    cases: list[bool] = []
    try:
        with harness() as h:

            @PROFILE
            @given(era=st.sampled_from(ERAS), arguments=tool_arguments(tool, h.run_ids))
            def one_call(era: str, arguments: dict[str, Any]) -> None:
                result = h.call(era, tool, arguments)
                check(tool, result)
                cases.append(bool(result.is_error))

            one_call()
            check_routes(h)
            print(f"{tool}: {len(h.sandbox.requests)} requests reached the sandbox")
            assert h.call("auto", "list_workflows", {}).structured_content, "the server still serves"
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records, [r.getMessage() for r in errors.records]
    assert len(cases) >= MIN_CASES
    assert 0 < sum(cases) < len(cases), "the cases mix results and errors"
    print(f"{tool}: {len(cases)} cases, {len(cases) - sum(cases)} results, {sum(cases)} tool errors")
