"""The fault suite: every fault the sandbox can inject, on `execute` and on `get`, through the tools, in both eras.

Each call ends in the right result or a clear error by its deadline (plus the grace the client allows), an
`execute` is sent exactly once whatever happens, and the server keeps serving afterwards. The in-process sandbox
runs behind `SandboxTransport`, so resets and hangs fail the way they do on a network; a few faults are repeated
over a real loopback socket (uvicorn).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult

from tests.helpers import ERAS, EXAMPLE_ID, GuardedClient, make_settings, text_of
from wave_mcp.client import BACKSTOP_GRACE
from wave_mcp.sandbox import (
    FAULT_KINDS,
    FAULTS_AFTER_RUN_CREATED,
    SHAPED_FAULTS,
    Fault,
    SandboxState,
    SandboxTransport,
)
from wave_mcp.server import build_server

pytestmark = pytest.mark.anyio

"""The API document's example workflow: about 0.1 s in the tests' sandbox."""
PARAMS = {"param1": "value 1", "param2": "value 2"}
RESULT = {"key1": "value 1", "key2": "value 2"}

CALL_TIMEOUT = 1.0
"""WAVE_REQUEST_TIMEOUT in this suite: the deadline of a single execute or get_run call."""
SCHEDULING_SLACK = 2.0
"""Allowance for a loaded machine on top of the contract (deadline + BACKSTOP_GRACE); not a speed target."""
LATEST_END = CALL_TIMEOUT + BACKSTOP_GRACE + SCHEDULING_SLACK

AMBIGUOUS = "may or may not have started"
NOT_TWICE = "Do not start it again blindly"


@dataclass(frozen=True)
class Expected:
    """What a tool call under one fault must end in: an error containing `error`, or the run's result."""

    error: str | None
    gets: int = 1
    """GET /runs requests the call makes (retries included)."""


EXECUTE: dict[str, Expected] = {
    "500": Expected("The Wave API failed (HTTP 500)"),
    "502": Expected(AMBIGUOUS),
    "503": Expected("The Wave API failed (HTTP 503)"),
    "504": Expected(AMBIGUOUS),
    "429": Expected("try again after 7 s"),
    "reset": Expected(AMBIGUOUS),
    "hang": Expected(AMBIGUOUS),
    "garbage": Expected(AMBIGUOUS),
    "html": Expected(AMBIGUOUS),
    "redirect": Expected("redirect (HTTP 307) to https://elsewhere.example. It was not followed"),
    "huge": Expected(AMBIGUOUS),
    "surrogate": Expected(None),
    "deep": Expected(None),
    "abyss": Expected(AMBIGUOUS),
    "many": Expected(AMBIGUOUS),
    "trickle": Expected(AMBIGUOUS),
}
"""execute_workflow under one fault on POST .../execute (None: the run is reported, as the API answered it)."""

GET_ONCE: dict[str, Expected] = {
    "500": Expected(None, gets=2),
    "502": Expected(None, gets=2),
    "503": Expected(None, gets=2),
    "504": Expected(None, gets=2),
    "429": Expected(None, gets=2),
    "reset": Expected(None, gets=2),
    "hang": Expected("did not answer GET /runs/"),
    "garbage": Expected(None, gets=2),
    "html": Expected(None, gets=2),
    "redirect": Expected("redirect (HTTP 307) to https://elsewhere.example. It was not followed"),
    "huge": Expected("larger than 1,000,000 bytes"),
    "surrogate": Expected(None),
    "deep": Expected(None),
    "abyss": Expected(None, gets=2),
    "many": Expected("larger than 1,000,000 bytes"),
    "trickle": Expected("did not answer GET /runs/"),
}
"""get_run under one fault on GET /runs/{id}: transient faults are retried, within the call's deadline."""

GET_PERSISTENT: dict[str, Expected] = {
    "500": Expected("The Wave API failed (HTTP 500)", gets=3),
    "503": Expected("The Wave API failed (HTTP 503)", gets=3),
    "429": Expected("try again after 0 s", gets=3),
    "reset": Expected("The connection to the Wave API broke during GET /runs/", gets=3),
    "garbage": Expected("could not be read: it sent something that is not JSON", gets=3),
    "html": Expected("The Wave API failed (HTTP 502)", gets=3),
}
"""get_run when a transient fault persists (default settings): a clear error after the attempts (3 under stamina's
test mode). With the suite's 1 s budget only the attempts whose pause fits before the deadline are made."""

WAIT_ONCE: dict[str, str | None] = dict.fromkeys(FAULT_KINDS) | {
    "redirect": "redirect (HTTP 307)",
    "huge": "larger than 1,000,000 bytes",
    "many": "larger than 1,000,000 bytes",
}
"""wait_for_run under one fault on a poll: everything transient is retried within the wait; the rest is an error."""


def fault(kind: str, route: str, times: int = 1, retry_after: str = "0") -> Fault:
    """`kind` on the next `times` requests of `route`; a 429 says Retry-After 7 s on execute, `retry_after` on get;
    `many` answers 2 MB of tiny objects, twice the suite's bound (the in-process sandbox pays for building it)."""
    retry = ("7" if route == "execute" else retry_after) if kind == "429" else None
    return Fault(kind, route, times, retry, size=2_000_000) if kind == "many" else Fault(kind, route, times, retry)


async def timed(client: GuardedClient, tool: str, arguments: dict[str, Any]) -> tuple[CallToolResult, float]:
    start = time.monotonic()
    with anyio.fail_after(LATEST_END + 10):
        result = await client.call_tool(tool, arguments)
    return result, time.monotonic() - start


async def completed_run(client: GuardedClient) -> str:
    started = await client.call_tool(
        "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": PARAMS, "wait_seconds": 5}
    )
    run = started.structured_content or {}
    assert run.get("status") == "completed", text_of(started)
    return str(run["id"])


async def still_serving(client: GuardedClient, run_id: str | None = None) -> None:
    """After a fault, the same server answers a listing and a read (of a finished run: with its result)."""
    listing = await client.call_tool("list_workflows", {})
    assert not listing.is_error and listing.structured_content
    if run_id is not None:
        again = await client.call_tool("get_run", {"run_id": run_id})
        report = again.structured_content or {}
        assert not again.is_error and report["id"] == run_id, text_of(again)
        assert report["status"] == "running" or report["result"] == RESULT


@pytest.fixture(params=ERAS)
async def client(request: pytest.FixtureRequest, transport: SandboxTransport) -> AsyncIterator[GuardedClient]:
    """A server over the in-process sandbox with a 1 s request timeout and a 1 MB response bound."""
    settings = make_settings(request_timeout=CALL_TIMEOUT, max_response_bytes=1_000_000)
    async with Client(build_server(settings, transport=transport), mode=request.param) as session:
        yield GuardedClient(session)


def test_the_tables_cover_every_fault() -> None:
    """The expected outcomes are written down for every kind of fault the sandbox can inject."""
    assert set(EXECUTE) == set(GET_ONCE) == set(WAIT_ONCE) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_execute_fault(kind: str, client: GuardedClient, sandbox: SandboxState) -> None:
    """One POST per call, whatever the fault; an ambiguous failure says the run may have started."""
    sandbox.faults.append(fault(kind, "execute"))
    result, elapsed = await timed(client, "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": PARAMS})
    expected = EXECUTE[kind].error
    if expected is None:
        assert not result.is_error and (result.structured_content or {})["id"] in sandbox.runs, text_of(result)
    else:
        assert result.is_error and expected in text_of(result), text_of(result)
    assert sandbox.count("POST") == 1, sandbox.requests
    assert len(sandbox.runs) == (1 if kind in FAULTS_AFTER_RUN_CREATED else 0)
    if expected == AMBIGUOUS:
        assert NOT_TWICE in text_of(result)
    assert elapsed < LATEST_END
    await still_serving(client)
    assert sandbox.count("POST") == 1


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_get_run_fault_once(kind: str, client: GuardedClient, sandbox: SandboxState) -> None:
    """A read survives one transient fault by retrying; other faults give a clear error at once."""
    run_id = await completed_run(client)
    sandbox.requests.clear()
    sandbox.faults.append(fault(kind, "get"))
    result, elapsed = await timed(client, "get_run", {"run_id": run_id})
    expected = GET_ONCE[kind]
    if expected.error is None:
        assert not result.is_error, text_of(result)
        assert kind in SHAPED_FAULTS or (result.structured_content or {})["result"] == RESULT
    else:
        assert result.is_error and expected.error in text_of(result), text_of(result)
    assert sandbox.count("GET", "/runs/") == expected.gets, sandbox.requests
    assert len(sandbox.requests) == expected.gets, "a redirect or retry went somewhere else"
    assert elapsed < LATEST_END
    await still_serving(client, run_id)


@pytest.mark.parametrize("kind", sorted(GET_PERSISTENT))
async def test_get_run_fault_persists(kind: str, mcp_client: GuardedClient, sandbox: SandboxState) -> None:
    """A fault on every read ends get_run with the expected clear error after the expected number of tries."""
    run_id = await completed_run(mcp_client)
    sandbox.requests.clear()
    sandbox.faults.append(fault(kind, "get", times=10))
    result, _ = await timed(mcp_client, "get_run", {"run_id": run_id})
    expected = GET_PERSISTENT[kind]
    assert result.is_error and expected.error is not None and expected.error in text_of(result), text_of(result)
    assert sandbox.count("GET", "/runs/") == expected.gets
    sandbox.faults.clear()
    await still_serving(mcp_client, run_id)


async def test_retries_stop_at_the_call_deadline(client: GuardedClient, sandbox: SandboxState) -> None:
    """With a 1 s budget, a persistent 503 gets only the tries whose pause can end before the deadline."""
    run_id = await completed_run(client)
    sandbox.requests.clear()
    sandbox.faults.append(fault("503", "get", times=10))
    result, elapsed = await timed(client, "get_run", {"run_id": run_id})
    assert result.is_error and "The Wave API failed (HTTP 503)" in text_of(result)
    assert sandbox.count("GET") < 3, "with the default budget, stamina's test mode allows 3 tries"
    assert elapsed < LATEST_END
    sandbox.faults.clear()


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_wait_for_run_fault_once(kind: str, client: GuardedClient, sandbox: SandboxState) -> None:
    """A wait rides out one transient fault on a poll (a hung poll included) and still reports the result."""
    started = await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": PARAMS})
    run_id = (started.structured_content or {})["id"]
    sandbox.faults.append(fault(kind, "get", retry_after="1"))
    budget = 5.0
    result, elapsed = await timed(client, "wait_for_run", {"run_id": run_id, "timeout_seconds": budget})
    expected = WAIT_ONCE[kind]
    if expected is None:
        report = result.structured_content or {}
        assert not result.is_error and report["status"] == "completed", text_of(result)
        assert (kind in SHAPED_FAULTS or report["result"] == RESULT) and report["timed_out"] is False
    else:
        assert result.is_error and expected in text_of(result), text_of(result)
    assert elapsed < budget + BACKSTOP_GRACE + SCHEDULING_SLACK
    assert sandbox.count("POST") == 1
    await still_serving(client, run_id)


async def test_wait_against_a_hung_api_ends_by_its_deadline(client: GuardedClient, sandbox: SandboxState) -> None:
    """Every poll hangs: the wait reports the run as last seen, about one grace period after its budget."""
    sandbox.faults.append(Fault("hang", "get", times=100))
    budget = 2.0
    arguments = {"workflow_id": EXAMPLE_ID, "params": PARAMS, "wait_seconds": budget}
    result, elapsed = await timed(client, "execute_workflow", arguments)
    report = result.structured_content or {}
    assert not result.is_error and report["timed_out"] is True and report["status"] == "running", text_of(result)
    assert "Call wait_for_run with run_id" in text_of(result)
    assert budget <= elapsed < budget + BACKSTOP_GRACE + SCHEDULING_SLACK
    sandbox.faults.clear()


async def test_wait_on_a_never_seen_run_under_a_hung_api(client: GuardedClient, sandbox: SandboxState) -> None:
    """A wait for a run never seen, against an API that never answers, ends in a clear error within its budget."""
    sandbox.faults.append(Fault("hang", "get", times=100))
    budget = 2.0
    result, elapsed = await timed(client, "wait_for_run", {"run_id": "some-run", "timeout_seconds": budget})
    assert result.is_error and "did not answer GET /runs/some-run in time" in text_of(result), text_of(result)
    assert elapsed < budget + BACKSTOP_GRACE + SCHEDULING_SLACK
    sandbox.faults.clear()
    await still_serving(client)


async def test_execute_and_wait_with_faults_on_both(client: GuardedClient, sandbox: SandboxState) -> None:
    """execute_workflow(wait_seconds) rides out faults on its polls; the POST still goes out once."""
    for kind in ("503", "reset", "garbage"):
        sandbox.faults.append(fault(kind, "get"))
    result, _ = await timed(
        client, "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": PARAMS, "wait_seconds": 5}
    )
    report = result.structured_content or {}
    assert not result.is_error and report["status"] == "completed" and report["result"] == RESULT, text_of(result)
    assert sandbox.count("POST") == 1 and not sandbox.faults


async def test_retry_after_beyond_the_cap_is_not_waited_for(client: GuardedClient, sandbox: SandboxState) -> None:
    """A Retry-After beyond the cap is reported at once with when to retry, not waited for."""
    run_id = await completed_run(client)
    sandbox.requests.clear()
    sandbox.faults.append(Fault("429", "get", times=1, retry_after="120"))
    result, _ = await timed(client, "get_run", {"run_id": run_id})
    assert result.is_error and "try again after 120 s" in text_of(result)
    assert sandbox.count("GET") == 1


# ---- over a real socket ------------------------------------------------------------------------------------


@pytest.fixture
async def socket_client(sandbox_server: tuple[str, SandboxState]) -> AsyncIterator[tuple[GuardedClient, SandboxState]]:
    """A server with the real HTTP transport, against the sandbox on a loopback port."""
    url, state = sandbox_server
    state.faults.clear()
    state.requests.clear()
    settings = make_settings(api_url=url, request_timeout=CALL_TIMEOUT)
    async with Client(build_server(settings), mode="legacy") as session:
        yield GuardedClient(session), state
    state.faults.clear()


@pytest.mark.parametrize("kind", ["reset", "hang", "502", "garbage"])
async def test_execute_fault_over_a_socket(kind: str, socket_client: tuple[GuardedClient, SandboxState]) -> None:
    """The real transport (retries=2) retries connecting only: after a dropped or hung answer, one POST."""
    client, state = socket_client
    runs_before = len(state.runs)
    state.faults.append(fault(kind, "execute"))
    result, elapsed = await timed(client, "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": PARAMS})
    assert result.is_error and AMBIGUOUS in text_of(result) and NOT_TWICE in text_of(result), text_of(result)
    assert state.count("POST") == 1
    assert len(state.runs) == runs_before + 1
    assert elapsed < LATEST_END
    await still_serving(client)


@pytest.mark.parametrize("kind", ["reset", "hang", "503"])
async def test_get_run_fault_over_a_socket(kind: str, socket_client: tuple[GuardedClient, SandboxState]) -> None:
    """Over a real socket, a fault on one read is retried to the result; a hang ends in a clear timeout error."""
    client, state = socket_client
    run_id = await completed_run(client)
    state.requests.clear()
    state.faults.append(fault(kind, "get"))
    result, elapsed = await timed(client, "get_run", {"run_id": run_id})
    if kind == "hang":
        assert result.is_error and "did not answer GET /runs/" in text_of(result) and "ReadTimeout" in text_of(result)
    else:
        assert not result.is_error and (result.structured_content or {})["result"] == RESULT, text_of(result)
    assert state.count("GET") == (1 if kind == "hang" else 2)
    assert elapsed < LATEST_END
    await still_serving(client, run_id)


async def test_a_reset_over_a_socket_really_drops_the_connection(sandbox_server: tuple[str, SandboxState]) -> None:
    """What the sandbox's reset looks like on the wire: the answer starts, then the connection closes."""
    url, state = sandbox_server
    state.faults.clear()
    state.faults.append(Fault("reset", "get"))
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /runs/x HTTP/1.1\r\nhost: sandbox\r\nx-api-key: " + state.api_key.encode() + b"\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 4096" in head.lower()
    assert len(body) < 4096, "the connection closed before the promised body"


async def test_nothing_listening_means_nothing_sent() -> None:
    """A connection that cannot be made is the one failure after which an execute is known not to have started."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(api_url=f"http://127.0.0.1:{port}", request_timeout=CALL_TIMEOUT)
    async with Client(build_server(settings), mode="auto") as session:
        result = await GuardedClient(session).call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID})
    assert result.is_error and "Could not connect to the Wave API" in text_of(result)
    assert "nothing was sent" in text_of(result) and AMBIGUOUS not in text_of(result)


@pytest.mark.parametrize("era", ERAS)
async def test_the_deadline_holds_even_when_the_transport_has_no_timeouts(era: str, sandbox_app: Any) -> None:
    """A bare ASGITransport ignores every timeout: the client's own backstop still ends each call in time."""
    state: SandboxState = sandbox_app.state.sandbox
    settings = make_settings(request_timeout=CALL_TIMEOUT)
    async with Client(build_server(settings, transport=httpx2.ASGITransport(app=sandbox_app)), mode=era) as session:
        client = GuardedClient(session)
        state.faults.append(Fault("hang", "execute"))
        result, elapsed = await timed(client, "execute_workflow", {"workflow_id": EXAMPLE_ID, "params": PARAMS})
        assert result.is_error and AMBIGUOUS in text_of(result) and "no answer came in time" in text_of(result)
        assert CALL_TIMEOUT + BACKSTOP_GRACE <= elapsed < LATEST_END
        run_id = next(iter(state.runs))
        state.faults.append(Fault("hang", "get"))
        result, elapsed = await timed(client, "get_run", {"run_id": run_id})
        assert result.is_error and "did not answer GET /runs/" in text_of(result), text_of(result)
        assert elapsed < LATEST_END
        assert state.count("POST") == 1
        await still_serving(client, run_id)
