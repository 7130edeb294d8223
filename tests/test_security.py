"""Security: redirects are not followed with the key, ids stay in their path segment, sizes are bounded, timeouts
are on every request, retries honour Retry-After, and the key never shows in errors, results, progress or logs.
Also tests the test suite's own key-leak guard."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import stamina
from mcp import Client
from mcp.types import CallToolResult, TextContent

from tests.helpers import API_KEY, GuardedClient, assert_no_key, clean_env, make_settings, text_of
from wave_mcp.client import BACKSTOP_GRACE, DEADLINE_GRACE, WaveClient, parse_retry_after, retry_pause
from wave_mcp.errors import (
    InvalidInputError,
    RateLimitedError,
    RedirectError,
    ResponseTooLargeError,
    UpstreamError,
)
from wave_mcp.limits import MAX_ID_LENGTH, MAX_PARAMS_BYTES, check_id
from wave_mcp.logs import QUIET_LIBRARIES, configure_logging
from wave_mcp.sandbox import Fault, SandboxState
from wave_mcp.server import build_server

pytestmark = pytest.mark.anyio

RUNNING = {"id": "run-1", "status": "running", "workflow": {"id": "wf", "name": "Workflow"}}


Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    """A MockTransport handler that records every request and answers with `answer`."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx2.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        return self.answer(request)


@pytest.fixture
async def wave() -> AsyncIterator[Callable[[Handler], Any]]:
    """Open a WaveClient over a recording MockTransport: `client, recorder = await wave(handler)`."""
    opened: list[Any] = []

    async def open_client(answer: Handler, **settings: Any) -> tuple[WaveClient, Recorder]:
        recorder = Recorder(answer)
        context = WaveClient.open(make_settings(**settings), transport=httpx2.MockTransport(recorder))
        opened.append(context)
        return await context.__aenter__(), recorder

    yield open_client
    for context in reversed(opened):
        await context.__aexit__(None, None, None)


# ---- redirects -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed(status: int, wave: Any) -> None:
    """A redirect is reported, not followed, so the key never goes to another host."""
    client, recorder = await wave(
        lambda _: httpx2.Response(status, headers={"location": "https://attacker.example:8443/steal"})
    )
    with pytest.raises(Exception, match=r"redirect \(HTTP \d+\) to https://attacker.example:8443\. It was not"):
        await client.get_run("run-1")
    with pytest.raises(Exception, match="It was not followed"):
        await client.execute("wf", {})
    assert [r.url.host for r in recorder.requests] == ["wave.test", "wave.test"]
    assert all(r.headers["x-api-key"] == API_KEY for r in recorder.requests)


# ---- ids -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        ".",
        "..",
        "a\x00b",
        "line\nbreak",
        "tab\there",
        "zero\u200bwidth",
        "sep\u2028arator",
        "\ud800",
        "x" * (MAX_ID_LENGTH + 1),
    ],
)
def test_ids_that_could_leave_their_segment_are_refused(bad: str) -> None:
    """Ids that could leave their path segment are refused before any request."""
    with pytest.raises(InvalidInputError):
        check_id(bad, "run")


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("../workflows", "..%2Fworkflows"),
        ("a/b", "a%2Fb"),
        ("?x=1", "%3Fx%3D1"),
        ("#top", "%23top"),
        ("%2e%2e", "%252e%252e"),
        ("a b", "a%20b"),
        ("ü", "%C3%BC"),
        ("...", "..."),
        ("x" * MAX_ID_LENGTH, "x" * MAX_ID_LENGTH),
    ],
)
async def test_hostile_ids_stay_in_one_segment(
    value: str, segment: str, mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """Hostile ids are percent-encoded into one path segment and reach only their own route."""
    result = await mcp_client.call_tool("get_run", {"run_id": value})
    assert result.is_error and "knows no run" in text_of(result), text_of(result)
    started = await mcp_client.call_tool("execute_workflow", {"workflow_id": value})
    assert started.is_error and "knows no workflow" in text_of(started), text_of(started)
    assert sandbox.requests == [("GET", f"/runs/{segment}"), ("POST", f"/workflows/{segment}/execute")]


# ---- sizes -----------------------------------------------------------------------------------------------------


async def test_params_over_the_bound_are_refused_before_sending(
    mcp_client: GuardedClient, sandbox: SandboxState
) -> None:
    """Params larger than the bound are refused before anything is sent."""
    big = {"data": "x" * MAX_PARAMS_BYTES}
    result = await mcp_client.call_tool("execute_workflow", {"workflow_id": "timer", "params": big})
    assert result.is_error and f"at most {MAX_PARAMS_BYTES:,} bytes can be sent" in text_of(result)
    assert sandbox.requests == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
async def test_params_that_are_not_json_are_refused_before_sending(value: float, wave: Any) -> None:
    """Params that are not JSON (NaN, Infinity, nested beyond the bound) are refused before sending."""
    client, recorder = await wave(lambda _: httpx2.Response(200, json=RUNNING))
    with pytest.raises(InvalidInputError, match="no NaN or Infinity"):
        await client.execute("wf", {"x": value})
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInputError, match="nested"):
        await client.execute("wf", {"x": deep})
    assert recorder.requests == []


class Chunks(httpx2.AsyncByteStream):
    """A body sent in 64 KiB chunks without a content-length, counting how many were read."""

    def __init__(self, chunks: int, prefix: bytes = b"") -> None:
        self.chunks = chunks
        self.prefix = prefix
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.prefix
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * 65_536


async def test_an_answer_over_the_bound_is_not_read_to_the_end(wave: Any) -> None:
    """An answer larger than the bound is refused after reading little more than the bound, and not asked for again."""
    body = Chunks(1_000, prefix=b'{"id":"r","status":"completed","result":"')
    client, recorder = await wave(lambda _: httpx2.Response(200, stream=body), max_response_bytes=1_000_000)
    with pytest.raises(ResponseTooLargeError, match="larger than 1,000,000 bytes, so it was not read"):
        await client.get_run("r")
    assert len(recorder.requests) == 1, "an answer too large is not asked for again"
    assert body.sent <= 16, f"read {body.sent} chunks of 64 KiB for a 1 MB bound"


async def test_an_error_answer_is_read_only_for_its_excerpt(wave: Any) -> None:
    """Of an error answer only the excerpt shown in the message is read."""
    body = Chunks(1_000, prefix=b"upstream exploded: ")
    client, _ = await wave(lambda _: httpx2.Response(500, stream=body))
    stamina.set_testing(True, attempts=1)
    with pytest.raises(UpstreamError, match="upstream exploded: xxx") as caught:
        await client.get_run("r")
    assert body.sent <= 2 and len(str(caught.value)) < 600


# ---- timeouts and Retry-After ------------------------------------------------------------------------------


async def test_every_request_has_connect_and_read_timeouts_within_the_deadline(wave: Any) -> None:
    """Every request has connect and read timeouts, cut to the wait's deadline when one is given."""
    client, recorder = await wave(lambda _: httpx2.Response(200, json=RUNNING), request_timeout=7, connect_timeout=3)
    await client.get_run("run-1")
    await client.execute("wf", {})
    await client.list_workflows()
    soon = time.monotonic() + 0.5
    await client.get_run("run-1", deadline=soon)
    timeouts = [r.extensions["timeout"] for r in recorder.requests]
    assert [t["connect"] for t in timeouts] == [3, 3, 3, pytest.approx(0.5 + DEADLINE_GRACE, abs=0.1)]
    assert [t["read"] for t in timeouts[:3]] == [7, 7, 7]
    assert timeouts[3]["read"] == pytest.approx(0.5 + DEADLINE_GRACE, abs=0.1)


@pytest.fixture
def real_retries() -> Iterator[None]:
    """Retries that really pause (stamina's test mode, set for every test, pauses for nothing)."""
    stamina.set_testing(False)
    yield
    stamina.set_testing(True, attempts=3)


def rate_limited_once(retry_after: str) -> Handler:
    answers = iter([httpx2.Response(429, headers={"retry-after": retry_after})])
    return lambda _: next(answers, httpx2.Response(200, json=RUNNING))


@pytest.mark.usefixtures("real_retries")
async def test_retry_after_in_seconds_is_honoured(wave: Any) -> None:
    """A Retry-After in seconds is waited for before the read is retried."""
    client, recorder = await wave(rate_limited_once("1"))
    run = await client.get_run("run-1")
    assert run.status == "running" and len(recorder.requests) == 2
    assert recorder.times[1] - recorder.times[0] >= 0.95


@pytest.mark.usefixtures("real_retries")
async def test_retry_after_as_an_http_date_is_honoured(wave: Any) -> None:
    """A Retry-After given as an HTTP date is waited for before the read is retried."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    client, recorder = await wave(rate_limited_once(when))
    await client.get_run("run-1")
    assert len(recorder.requests) == 2 and recorder.times[1] - recorder.times[0] >= 0.5


@pytest.mark.usefixtures("real_retries")
async def test_retry_after_beyond_the_cap_or_the_deadline_is_an_error_at_once(wave: Any) -> None:
    """A Retry-After beyond the cap or the deadline is an error at once, with when to retry."""
    client, recorder = await wave(rate_limited_once("31"))
    with pytest.raises(Exception, match="try again after 31 s"):
        await client.get_run("run-1")
    client, recorder = await wave(rate_limited_once("5"), request_timeout=3)
    with pytest.raises(Exception, match="try again after 5 s"):
        await client.get_run("run-1")
    assert len(recorder.requests) == 1


def test_the_retry_pause_keeps_every_pause_inside_the_deadline() -> None:
    """Retry only transient errors, after an exponential backoff with jitter (capped at 3 s), or exactly Retry-After
    when it is under the cap, and only when that pause, whatever jitter it draws, ends before the deadline."""
    where: dict[str, Any] = {"status_code": 503, "method": "GET", "path": "/runs/r"}
    pause = retry_pause(time.monotonic() + 60)
    pauses = [pause(UpstreamError("503", **where)) for _ in range(5)]
    for got, (low, high) in zip(pauses, [(0.25, 0.75), (0.5, 1.0), (1.0, 1.5), (2.0, 2.5), (3.0, 3.0)], strict=True):
        assert isinstance(got, float) and low <= got <= high, pauses
    assert retry_pause(time.monotonic() + 0.7)(UpstreamError("503", **where)) is False, "0.25 + 0.5 s ends past it"
    limited = {**where, "status_code": 429}
    assert pause(RateLimitedError("429", retry_after=2.0, **limited)) == 2.0
    assert pause(RateLimitedError("429", retry_after=31.0, **limited)) is False
    unhinted = retry_pause(time.monotonic() + 60)(RateLimitedError("429", retry_after=None, **limited))
    assert isinstance(unhinted, float) and 0.25 <= unhinted <= 0.75
    assert pause(InvalidInputError("bad id")) is False
    assert pause(RedirectError("307", **{**where, "status_code": 307})) is False
    assert pause(ResponseTooLargeError("huge", **where)) is False
    assert pause(ValueError("not ours")) is False
    assert retry_pause(time.monotonic() + 5)(RateLimitedError("429", retry_after=6.0, **limited)) is False


def test_parse_retry_after() -> None:
    """Retry-After is read as seconds or an HTTP date, never negative; anything else is no hint."""
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    in_90_s = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(in_90_s, now=now.timestamp()) == pytest.approx(90)
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now.timestamp()) == 0.0
    assert parse_retry_after("12") == 12.0 and parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.usefixtures("real_retries")
async def test_a_wait_never_sleeps_past_its_deadline_for_retry_after() -> None:
    """A wait told to retry after 20 s returns at its own deadline instead."""
    answers = Recorder(
        lambda r: (
            httpx2.Response(200, json=RUNNING)
            if r.method == "POST"
            else httpx2.Response(429, headers={"retry-after": "20"})
        )
    )
    server = build_server(make_settings(), transport=httpx2.MockTransport(answers))
    async with Client(server, mode="auto") as session:
        start = time.monotonic()
        result = await GuardedClient(session).call_tool("execute_workflow", {"workflow_id": "wf", "wait_seconds": 1.5})
        elapsed = time.monotonic() - start
    report = result.structured_content or {}
    assert not result.is_error and report["timed_out"] is True and report["status"] == "running", text_of(result)
    assert 1.5 <= elapsed < 1.5 + BACKSTOP_GRACE + 2.0
    assert [r.method for r in answers.requests].count("POST") == 1


# ---- secrets -----------------------------------------------------------------------------------------------


def test_the_key_is_a_secret_in_the_settings() -> None:
    """The key is masked in the settings' repr and dump, and readable only through `key`."""
    settings = make_settings()
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())
    assert settings.key == API_KEY


async def test_the_key_as_an_id_is_masked_in_errors(mcp_client: GuardedClient) -> None:
    """The key given as an id or a pointer never comes back in an error."""
    started = await mcp_client.call_tool("execute_workflow", {"workflow_id": "timer"})
    run_id = (started.structured_content or {})["id"]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_run", {"run_id": API_KEY}),
        ("wait_for_run", {"run_id": API_KEY, "timeout_seconds": 1}),
        ("execute_workflow", {"workflow_id": API_KEY}),
        ("get_run", {"run_id": run_id, "result_pointer": "/" + API_KEY}),
    ]
    for tool, arguments in calls:
        result = await mcp_client.call_tool(tool, arguments)  # GuardedClient fails the test on any leak
        assert result.is_error and "***" in text_of(result), text_of(result)


async def test_the_key_in_params_is_masked_in_results(mcp_client: GuardedClient) -> None:
    """The key given in params is masked in the report's params and result."""
    started = await mcp_client.call_tool(
        "execute_workflow",
        {"workflow_id": "8988f685-2b8c-4a09-9955-150426265d32", "params": {"param1": API_KEY}, "wait_seconds": 5},
    )
    report = started.structured_content or {}
    assert report["status"] == "completed" and report["params"]["param1"] == "***" and report["result"]["key1"] == "***"


async def test_the_key_echoed_by_the_api_is_masked() -> None:
    """The key echoed by the API is masked in results, errors and progress."""

    def echo(request: httpx2.Request) -> httpx2.Response:
        key = request.headers["x-api-key"]
        if request.method == "POST":
            return httpx2.Response(400, json={"message": f"bad key {key}"})
        return httpx2.Response(200, json={"id": key, "status": "running", key: key, "result": {"k": key}})

    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    server = build_server(make_settings(), transport=httpx2.MockTransport(echo))
    async with Client(server, mode="legacy") as session:
        client = GuardedClient(session)
        refused = await client.call_tool("execute_workflow", {"workflow_id": "wf"})
        assert refused.is_error and "bad key ***" in text_of(refused)
        read = await client.call_tool("get_run", {"run_id": "r"})
        assert (read.structured_content or {})["other"] == {"***": "***"}
        waited = await client.call_tool(
            "wait_for_run", {"run_id": "r", "timeout_seconds": 0.3}, progress_callback=on_progress
        )
        assert (waited.structured_content or {})["timed_out"] is True
    assert seen and all(API_KEY not in (message or "") for message in seen)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)


class Spy(logging.Handler):
    """Sees each record before the scrubbing handler does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.usefixtures("restore_logging")
async def test_debug_logs_of_every_library_never_show_the_key(
    sandbox_server: tuple[str, SandboxState], capsys: pytest.CaptureFixture[str]
) -> None:
    """At DEBUG, httpx2, httpcore2, stamina and the SDK all log; the key (here also in a URL) is masked in each."""
    url, state = sandbox_server
    state.faults.clear()
    configure_logging("DEBUG", [API_KEY])
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # the fake API's own log, not the server's
    spy = Spy()
    logging.getLogger().handlers.insert(0, spy)
    state.faults.append(Fault("503", "get"))
    server = build_server(make_settings(api_url=url, log_level="DEBUG"))
    async with Client(server, mode="legacy") as session:
        result = await GuardedClient(session).call_tool("get_run", {"run_id": API_KEY})
    assert result.is_error and "knows no run '***'" in text_of(result)
    logging.getLogger("wave_mcp.test").warning("with a traceback", exc_info=RuntimeError(f"key {API_KEY}"))
    err = capsys.readouterr().err
    assert any(API_KEY in message for message in spy.messages), "the test must log the key somewhere to mean much"
    assert API_KEY not in err
    for expected in ("httpx2", "httpcore2", "stamina", "/runs/***", "RuntimeError: key ***"):
        assert expected in err, expected


@pytest.mark.usefixtures("restore_logging")
def test_warnings_are_logged_to_stderr_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    """Warnings go to stderr through the logging, with the key scrubbed; nothing to stdout."""
    configure_logging("INFO", [API_KEY])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"careful with {API_KEY}", UserWarning, stacklevel=1)
    captured = capsys.readouterr()
    assert "careful with ***" in captured.err and API_KEY not in captured.err and captured.out == ""


# ---- the suite's own guard ----------------------------------------------------------------------------------


def test_the_guard_rejects_a_tool_result_with_the_key() -> None:
    """The tests' own guard fails a tool result holding the key, in text or in structure."""
    leaky = CallToolResult(content=[TextContent(type="text", text=f"the key is {API_KEY}")])
    with pytest.raises(AssertionError, match="appeared in a tool result"):
        assert_no_key(leaky)
    structured = CallToolResult(content=[], structured_content={"deep": [{"key": API_KEY}]})
    with pytest.raises(AssertionError):
        assert_no_key(structured)
    assert assert_no_key(CallToolResult(content=[TextContent(type="text", text="fine")])).content


INNER_TESTS = """
import logging
import sys

from tests.helpers import API_KEY


def test_prints_the_key():
    print("leaking", API_KEY)


def test_writes_the_key_to_stderr():
    print(API_KEY, file=sys.stderr)


def test_logs_the_key():
    logging.getLogger("inner").warning("key %s", API_KEY)


def test_fails_showing_the_key():
    assert API_KEY == "something else"


def test_clean():
    print("nothing secret here")
"""


def test_the_guard_fails_tests_whose_output_has_the_key(tmp_path: Path) -> None:
    """A pytest run with the suite's hook: each leaking test fails, the clean one passes, and the key is masked."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    (inner / "test_leaks.py").write_text(INNER_TESTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:randomly", str(inner)],
        cwd=inner,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "4 failed, 1 passed" in out, out
    for name in ("Captured stdout call", "Captured stderr call", "Captured log call"):
        assert f"the API key appeared in captured output: {name}" in out, out
    assert "PASSED test_leaks.py::test_clean" in out
    assert API_KEY not in out and "<API key>" in out
