"""Nothing an API or a client sends takes the server down (issue 15): hostile answers (lone surrogates, deep nesting,
many tiny objects, a trickle) and hostile lines (not JSON, a lone surrogate, too long), over memory, stdio and HTTP.

Each ends in an answer (a result or a clear error), names the run where one was started, and leaves the server
serving.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client, MCPError

from tests.helpers import (
    API_KEY,
    EXAMPLE_ID,
    EXAMPLE_PARAMS,
    GuardedClient,
    data_of,
    make_settings,
    text_of,
)
from tests.servers import jsonrpc_line, stdio_lines
from wave_mcp.client import PARSE_IN_THREAD_BYTES
from wave_mcp.http import MAX_BODY_BYTES, GuardedH11Protocol, create_http_app
from wave_mcp.limits import REPLACEMENT, has_surrogates
from wave_mcp.runs import RunService
from wave_mcp.sandbox import DEEP_LEVELS, Fault, SandboxState, SandboxTransport, create_app
from wave_mcp.server import build_server
from wave_mcp.stdio import MAX_LINE_BYTES

pytestmark = pytest.mark.anyio

SURROGATE_CALL = (
    b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"\\ud83d"}}}'
)
"""A call whose argument is half an emoji: valid JSON, but not text."""
PARSE_MESSAGE = "Parse error: the line is not JSON. Send one JSON-RPC message per line."

CALL_TIMEOUT = 1.0
PROMISE = 1.0
"""Every call ends strictly before its timeout plus this."""


def encodable_everywhere(result: Any) -> None:
    """The whole tool result can be written as UTF-8 (no lone surrogate anywhere)."""
    dumped = result.model_dump_json()
    dumped.encode()
    assert not has_surrogates(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))


async def still_serving(client: GuardedClient) -> None:
    listing = await client.call_tool("list_workflows", {})
    assert not listing.is_error and listing.structured_content


# ---- 1. text that cannot be encoded ----------------------------------------------------------------------------


async def test_lone_surrogates_from_the_api_become_replacement_characters(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """A run's name, result and attributes with half an emoji: every tool answers, in U+FFFD, and serves on."""
    started = await mcp_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS})
    run_id = data_of(started)["id"]
    for tool, arguments in [
        ("get_run", {"run_id": run_id}),
        ("wait_for_run", {"run_id": run_id, "timeout_seconds": 5}),
        ("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS, "wait_seconds": 5}),
    ]:
        sandbox.faults.append(Fault("surrogate", "any", times=3))
        result = await mcp_client.call_tool(tool, arguments)
        report = data_of(result)
        encodable_everywhere(result)
        assert REPLACEMENT in report["workflow_name"] and report["other"]["note"] == REPLACEMENT, report
        sandbox.faults.clear()
    assert report["result"]["text"] == f"half an emoji: {REPLACEMENT}"
    sandbox.faults.append(Fault("surrogate", "list"))
    listing = data_of(await mcp_client.call_tool("list_workflows", {}))
    assert all(
        REPLACEMENT in (workflow["name"] or "") for workflow in listing["workflows"] if workflow["source"] != "catalog"
    )
    await still_serving(mcp_client)


async def test_lone_surrogates_reach_no_resource(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """The run resource reads as valid UTF-8 text too."""
    run_id = data_of(await mcp_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID}))["id"]
    sandbox.faults.append(Fault("surrogate", "get"))
    contents = (await mcp_client.read_resource(f"wave://runs/{run_id}")).contents
    text = getattr(contents[0], "text", "")
    assert REPLACEMENT in text and not has_surrogates(text)
    text.encode()


# ---- 2. no recursion on data -----------------------------------------------------------------------------------


async def test_a_deep_result_comes_as_text(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """A result and an attribute nested 450 levels (legal JSON, small): the result is paged as text, the attribute
    left out, nothing recurses out."""
    run_id = data_of(await mcp_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "wait_seconds": 5}))[
        "id"
    ]
    sandbox.faults.append(Fault("deep", "get"))
    report = data_of(await mcp_client.call_tool("get_run", {"run_id": run_id}))
    assert report["result"] is None and report["result_page"]["text"].startswith("[" * DEEP_LEVELS)
    assert report["other"]["trace"].endswith("characters left out>")


async def test_an_answer_past_the_parser_is_a_clear_error(mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """Nested 100,000 levels: 'could not be read: nested too deep', and the server serves on."""
    run_id = data_of(await mcp_client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID}))["id"]
    sandbox.faults.append(Fault("abyss", "get", times=10))
    result = await mcp_client.call_tool("get_run", {"run_id": run_id})
    assert result.is_error and "could not be read: nested too deep" in text_of(result), text_of(result)
    sandbox.faults.clear()
    await still_serving(mcp_client)


async def test_a_started_run_is_named_when_its_polls_cannot_be_read(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """execute_workflow with a wait whose every poll is unreadable: the run's id, and that it was started."""
    sandbox.faults.append(Fault("abyss", "get", times=100))
    arguments = {"workflow_id": "timer", "params": {"seconds": 100}, "wait_seconds": 1}
    report = data_of(await mcp_client.call_tool("execute_workflow", arguments))
    assert report["id"] in sandbox.runs and report["timed_out"] is True
    assert "Do not start the workflow again" in report["next_step"]
    sandbox.faults.clear()


@pytest.mark.parametrize("error", [RecursionError("deep"), UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates")])
async def test_any_failure_after_the_start_names_the_run(
    error: Exception, mcp_client: GuardedClient, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even an error no one planned for (not a WaveError) reports the started run and says not to start it again."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(RunService, "_wait", broken)
    arguments = {"workflow_id": EXAMPLE_ID, "params": EXAMPLE_PARAMS, "wait_seconds": 5}
    report = data_of(await mcp_client.call_tool("execute_workflow", arguments))
    assert report["id"] in sandbox.runs and len(sandbox.runs) == 1
    assert "The run was started" in report["next_step"] and type(error).__name__ in report["next_step"]
    assert f"run_id '{report['id']}'" in report["next_step"]


# ---- 3. big answers off the loop -------------------------------------------------------------------------------


async def test_a_large_answer_is_parsed_off_the_loop(
    sandbox_app: Any, sandbox: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many tiny objects (2 MB): parsed in a worker thread, paged to the model; small answers stay on the loop."""
    threads: list[int] = []
    real = anyio.to_thread.run_sync

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(len(args[0]) if args and isinstance(args[0], bytes) else 0)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    server = build_server(make_settings(), transport=SandboxTransport(app=sandbox_app))
    async with Client(server, mode="auto") as session:
        client = GuardedClient(session)
        run_id = data_of(await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "wait_seconds": 5}))[
            "id"
        ]
        small = len(threads)
        sandbox.faults.append(Fault("many", "get", size=2_000_000))
        report = data_of(await client.call_tool("get_run", {"run_id": run_id}))
    assert report["result_page"]["total_chars"] > 1_900_000 and report["result_page"]["text"].startswith('[{"i":0}')
    assert not [size for size in threads[:small] if size > 0], "small answers were parsed on the loop"
    assert any(size > PARSE_IN_THREAD_BYTES for size in threads[small:])


# ---- 4. deadlines with margin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["get_run", "wait_for_run"])
async def test_a_trickled_answer_ends_before_the_promise(tool: str, sandbox_server: tuple[str, SandboxState]) -> None:
    """An answer sent a byte every 50 ms over a real socket resets every read timeout: the call still ends strictly
    before its timeout plus one second."""
    url, state = sandbox_server
    settings = make_settings(api_url=url, request_timeout=CALL_TIMEOUT)
    async with Client(build_server(settings), mode="legacy") as session:
        client = GuardedClient(session)
        run_id = data_of(await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "wait_seconds": 5}))[
            "id"
        ]
        state.faults.append(Fault("trickle", "get", times=100, interval=0.05))
        arguments = {"run_id": run_id} if tool == "get_run" else {"run_id": run_id, "timeout_seconds": CALL_TIMEOUT}
        began = time.monotonic()
        result = await client.call_tool(tool, arguments)
        elapsed = time.monotonic() - began
        state.faults.clear()
        assert elapsed < CALL_TIMEOUT + PROMISE, elapsed
        assert result.is_error and f"did not answer GET /runs/{run_id} in time" in text_of(result), text_of(result)
        await still_serving(client)


# ---- 6. transport hygiene: stdio -------------------------------------------------------------------------------


@pytest.mark.stdio
def test_bad_lines_over_stdio_are_answered(sandbox_server: tuple[str, SandboxState]) -> None:
    """Not JSON: -32700 with id null; a lone surrogate in arguments: an error for that id; a line over 4 MiB: refused
    with its id, without being held; JSON that is no request: -32600. Every request is answered, and serving goes on."""
    url, _ = sandbox_server
    with stdio_lines(url) as server:
        server.send(b"this is not json")
        assert server.receive() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32700,
                "message": "Parse error: the line is not JSON. Send one JSON-RPC message per line.",
            },
        }
        server.send(
            b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"\\ud83d"}}}'
        )
        answer = server.receive()
        assert (
            answer["id"] == 7
            and answer["error"]["code"] == -32602
            and "lone UTF-16 surrogate" in answer["error"]["message"]
        )
        server.send(b'{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}')
        assert server.receive()["error"]["code"] in (-32600, -32602)
        huge = jsonrpc_line(9, "tools/call", {"name": "get_run", "arguments": {"run_id": "x" * (50 * 1024 * 1024)}})
        before = server.peak_kib()
        server.send(huge)
        answer = server.receive()
        assert (
            answer["id"] == 9
            and answer["error"]["code"] == -32600
            and f"{MAX_LINE_BYTES:,} bytes" in answer["error"]["message"]
        )
        assert server.peak_kib() - before < 20 * 1024, "the long line was held in memory"
        assert len(server.request("tools/list")["result"]["tools"]) == 4


@pytest.mark.stdio
def test_hostile_answers_over_stdio_are_answered(sandbox_server: tuple[str, SandboxState]) -> None:
    """Surrogates and deep nesting in the API's answers: each call over stdio is answered, in valid UTF-8."""
    url, state = sandbox_server
    with stdio_lines(url) as server:
        call = {"name": "execute_workflow", "arguments": {"workflow_id": EXAMPLE_ID, "wait_seconds": 5}}
        run_id = server.request("tools/call", call)["result"]["structuredContent"]["id"]
        for kind in ["surrogate", "deep", "abyss", "surrogate"]:
            state.faults.append(Fault(kind, "get", times=5))
            answer = server.request("tools/call", {"name": "get_run", "arguments": {"run_id": run_id}})
            state.faults.clear()
            assert "result" in answer, answer
            text = answer["result"]["content"][0]["text"]
            assert run_id in text or "nested too deep" in text


# ---- 6. transport hygiene: HTTP --------------------------------------------------------------------------------


class QuickGuard(GuardedH11Protocol):
    arrival_seconds = 0.5


@contextmanager
def guarded_http(sandbox_app: Any) -> Iterator[tuple[str, int]]:
    """The HTTP app on a loopback port behind the guarded protocol (with a half-second arrival deadline)."""
    app = create_http_app(make_settings(), transport=SandboxTransport(app=sandbox_app))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=QuickGuard, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_http_cuts_off_a_client_that_sends_its_headers_slowly(sandbox_app: Any) -> None:
    """Headers a byte at a time: the connection is closed once the arrival deadline passes; others are served."""
    with guarded_http(sandbox_app) as (url, port), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        began = time.monotonic()
        closed = False
        for byte in b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(0.05)
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed and time.monotonic() - began < 5
        assert httpx2.get(f"{url}/healthz", timeout=5).status_code == 200


def test_http_refuses_a_body_over_the_bound(sandbox_app: Any) -> None:
    """A request body over 4 MiB is refused (413) and the server serves on."""
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    with guarded_http(sandbox_app) as (url, _):
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"' + b"x" * MAX_BODY_BYTES + b'"}}'
        answer = httpx2.post(f"{url}/mcp", content=body, headers=headers, timeout=30)
        assert answer.status_code == 413
        assert httpx2.get(f"{url}/healthz", timeout=5).status_code == 200


async def test_a_lone_surrogate_over_http_is_answered(sandbox_app: Any) -> None:
    """Over HTTP the SDK answers a call with a lone surrogate in its arguments (a parse error), and serves on."""
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    with guarded_http(sandbox_app) as (url, _):
        body = SURROGATE_CALL
        async with httpx2.AsyncClient(timeout=10) as http:
            answer = await http.post(f"{url}/mcp", content=body, headers=headers)
            assert 400 <= answer.status_code < 500 and answer.content, answer.text
        async with Client(f"{url}/mcp", mode="auto") as session:
            await still_serving(GuardedClient(session))
    assert API_KEY not in answer.text


# ---- 7. property tests: arbitrary answers ----------------------------------------------------------------------

surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
texts = st.one_of(st.text(max_size=20), surrogates, st.tuples(st.text(max_size=5), surrogates).map("".join))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)
deep_values = st.integers(0, 700).map(lambda depth: json.loads("[" * depth + '"bottom"' + "]" * depth))
answers = st.fixed_dictionaries(
    {
        "result": st.one_of(values, deep_values),
        "workflow": st.fixed_dictionaries({"id": texts, "name": texts}),
        "status": st.sampled_from(["running", "completed", "failed", "\ud83d"]),
    },
    optional={"note": values, "deep": deep_values, "startedAt": texts},
)
CALLS = ["get_run", "wait_for_run", "execute_workflow", "resource"]


@contextmanager
def property_harness() -> Iterator[tuple[BlockingPortal, GuardedClient, SandboxState]]:
    app = create_app(api_key=API_KEY, time_scale=0.0)
    server = build_server(make_settings(), transport=SandboxTransport(app=app))
    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(Client(server)) as client:
        yield portal, GuardedClient(client), app.state.sandbox


def one_call(portal: BlockingPortal, client: GuardedClient, sandbox: SandboxState, call: str, run_id: str) -> Any:
    """The call, its answer, and the id of the run it concerns (a new one for execute_workflow)."""

    async def bounded() -> Any:
        with anyio.fail_after(30):
            if call == "resource":
                return await client.read_resource(f"wave://runs/{run_id}")
            if call == "execute_workflow":
                return await client.call_tool(call, {"workflow_id": EXAMPLE_ID, "wait_seconds": 0.2})
            arguments = {"run_id": run_id} if call == "get_run" else {"run_id": run_id, "timeout_seconds": 0.2}
            return await client.call_tool(call, arguments)

    return portal.call(bounded)


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(answer=answers, call=st.sampled_from(CALLS))
def test_any_answer_of_the_api_gets_an_answer(answer: dict[str, Any], call: str) -> None:
    """Whatever JSON the API answers with (lone surrogates, deep nesting, odd statuses), each of get_run,
    wait_for_run, execute_workflow and the run resource answers (a result or a clear error), in valid UTF-8, names
    the run where it exists, and the server serves on."""
    with property_harness() as (portal, client, sandbox):
        run_id = data_of(portal.call(client.call_tool, "execute_workflow", {"workflow_id": EXAMPLE_ID}))["id"]
        sandbox.extra = answer
        failure = ""
        try:
            result = one_call(portal, client, sandbox, call, run_id)
        except MCPError as exc:  # a resource read that fails is an MCP error: it must say why
            failure = str(exc) or type(exc).__name__
        if failure:
            assert call == "resource" and len(failure) > 30, failure
        else:
            result.model_dump_json().encode()
            assert not has_surrogates(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
            if call != "resource":
                assert "Traceback" not in text_of(result)
                if result.is_error:
                    assert len(text_of(result)) > 60, text_of(result)
                else:
                    shown = data_of(result)["id"]
                    assert shown in sandbox.runs and (call == "execute_workflow" or shown == run_id)
        sandbox.extra = {}
        listing = portal.call(client.call_tool, "list_workflows", {})
        assert not listing.is_error
        if call == "execute_workflow":
            assert len(sandbox.runs) == 2, "one POST per execute, whatever its answer"
