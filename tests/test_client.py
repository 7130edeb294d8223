"""WaveClient over httpx2.MockTransport: HTTP statuses to errors, retries, redirects, sizes, bodies and paths."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import httpx2
import pytest

from tests.helpers import API_KEY, make_settings
from wave_mcp.client import SEARCH_WINDOW, WaveClient, parse_retry_after
from wave_mcp.errors import (
    AuthenticationError,
    InvalidInputError,
    InvalidParametersError,
    InvalidResponseError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RedirectError,
    UpstreamError,
    WaveConnectionError,
    WaveError,
    WaveTimeoutError,
)
from wave_mcp.limits import MAX_ID_LENGTH, MAX_PARAMS_BYTES, MAX_PARAMS_DEPTH, REPLACEMENT, too_deep

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx2.Request], httpx2.Response]

RUN = {"id": "run-1", "status": "running", "workflow": {"id": "wf-1", "name": "Workflow one"}}
ATTEMPTS = 3
"""Read attempts under `stamina.set_testing(True, attempts=3)` (the autouse fixture)."""


class Recorder:
    """A MockTransport handler that answers with `respond` and keeps every request."""

    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.respond(request)


@asynccontextmanager
async def wave(respond: Handler, **settings: Any) -> AsyncIterator[tuple[WaveClient, Recorder]]:
    """A WaveClient whose network is `respond`, and the recorder of what it sent."""
    recorder = Recorder(respond)
    async with WaveClient.open(make_settings(**settings), transport=httpx2.MockTransport(recorder)) as client:
        yield client, recorder


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    """A handler that always gives `status` with a JSON `body` (or raw bytes)."""

    def respond(request: httpx2.Request) -> httpx2.Response:
        if isinstance(body, bytes):
            return httpx2.Response(status, content=body, headers=headers)
        return httpx2.Response(status, json=body if body is not None else {"message": "x"}, headers=headers)

    return respond


async def call(client: WaveClient, operation: str) -> Any:
    """Run one of the client's three calls with fixed arguments."""
    if operation == "get":
        return await client.get_run("run-1")
    if operation == "list":
        return await client.list_workflows()
    return await client.execute("wf-1", {"param1": "value 1"})


# ---- status codes -------------------------------------------------------------------------------------------

STATUS_CASES: list[tuple[int, str, type[WaveError], str]] = [
    (301, "get", RedirectError, "WAVE_API_URL"),
    (302, "get", RedirectError, "WAVE_API_URL"),
    (307, "execute", RedirectError, "WAVE_API_URL"),
    (400, "execute", InvalidParametersError, "Fix the parameters"),
    (422, "execute", InvalidParametersError, "Fix the parameters"),
    (401, "get", AuthenticationError, "Check WAVE_API_KEY"),
    (403, "execute", AuthenticationError, "Check WAVE_API_KEY"),
    (401, "list", AuthenticationError, "Check WAVE_API_KEY"),
    (404, "get", NotFoundError, "check the run id"),
    (404, "execute", NotFoundError, "call list_workflows"),
    (409, "execute", RateLimitedError, "try again"),
    (429, "get", RateLimitedError, "try again"),
    (500, "get", UpstreamError, "try again shortly"),
    (500, "execute", UpstreamError, "try again shortly"),
    (503, "list", UpstreamError, "try again shortly"),
    (502, "get", UpstreamError, "try again shortly"),
    (504, "get", UpstreamError, "try again shortly"),
    (502, "execute", OutcomeUnknownError, "Do not start it again blindly"),
    (504, "execute", OutcomeUnknownError, "Do not start it again blindly"),
]


@pytest.mark.parametrize(("status", "operation", "error", "advice"), STATUS_CASES)
async def test_each_status_becomes_the_right_error_with_advice(
    status: int, operation: str, error: type[WaveError], advice: str
) -> None:
    """Each HTTP status maps to its error class, with a message that says what to do and holds no key."""
    body = {"message": f"nope, key {API_KEY} refused"}
    headers = {"location": "https://elsewhere.example/x"} if 300 <= status < 400 else {}
    async with wave(answer(status, body, headers)) as (client, _):
        with pytest.raises(error) as caught:
            await call(client, operation)
    message = str(caught.value)
    assert advice in message
    assert API_KEY not in message
    if error is not OutcomeUnknownError:
        assert f"HTTP {status}" in message
        assert getattr(caught.value, "status_code", None) == status


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_not_followed(status: int) -> None:
    """A redirect is reported with the other origin only; no request (and so no key) goes there."""
    location = "https://elsewhere.example:8443/steal?key=1"
    async with wave(answer(status, b"", {"location": location})) as (client, recorder):
        with pytest.raises(RedirectError) as caught:
            await client.get_run("run-1")
    assert [request.url.host for request in recorder.requests] == ["wave.test"]
    assert "https://elsewhere.example:8443" in str(caught.value)
    assert "steal" not in str(caught.value)


async def test_the_body_excerpt_is_short_and_scrubbed_of_the_key() -> None:
    """The API's words are quoted, cut to a short excerpt, with the key replaced and control characters removed."""
    body = f"bad\x00 request\nfor {API_KEY} " + "x" * 5000
    async with wave(answer(400, body.encode())) as (client, _):
        with pytest.raises(InvalidParametersError) as caught:
            await client.execute("wf-1", {})
    message = str(caught.value)
    assert "The API said: bad request for *** x" in message
    assert API_KEY not in message and "\x00" not in message
    assert len(message) < 600


async def test_an_html_error_page_is_named_by_its_title() -> None:
    """An HTML error page from a proxy is summarised by its title, not pasted whole."""
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"<p>x</p>" * 500 + b"</body></html>"
    async with wave(answer(502, page)) as (client, _):
        with pytest.raises(UpstreamError) as caught:
            await client.get_run("run-1")
    assert "an HTML page titled '502 Bad Gateway'" in str(caught.value)
    assert "<p>" not in str(caught.value)


# ---- retries: reads only ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_transient_read_failures_are_retried(status: int) -> None:
    """A GET that meets a transient status is tried again, then the last error is raised."""
    async with wave(answer(status)) as (client, recorder):
        with pytest.raises(WaveError):
            await client.get_run("run-1")
    assert len(recorder.requests) == ATTEMPTS


async def test_a_read_succeeds_after_a_transient_failure() -> None:
    """A 503 followed by a good answer gives the run."""
    answers = iter([httpx2.Response(503, json={}), httpx2.Response(200, json=RUN)])
    async with wave(lambda request: next(answers)) as (client, recorder):
        run = await client.get_run("run-1")
    assert run.id == "run-1" and len(recorder.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_permanent_read_failures_are_not_retried(status: int) -> None:
    """A GET refused for good (bad key, unknown run, invalid) is sent once."""
    async with wave(answer(status)) as (client, recorder):
        with pytest.raises(WaveError):
            await client.get_run("run-1")
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status", [409, 429, 500, 502, 503, 504])
async def test_execute_is_never_retried(status: int) -> None:
    """A POST to execute is sent at most once, whatever the API answers."""
    async with wave(answer(status)) as (client, recorder):
        with pytest.raises(WaveError):
            await client.execute("wf-1", {})
    assert len(recorder.requests) == 1


async def test_a_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    """A read told to come back in an hour is not retried: the error (with the hint) is raised at once."""
    async with wave(answer(429, headers={"retry-after": "3600"})) as (client, recorder):
        with pytest.raises(RateLimitedError) as caught:
            await client.get_run("run-1")
    assert len(recorder.requests) == 1
    assert caught.value.retry_after == 3600
    assert "after 3600 s" in str(caught.value)


# ---- connection failures ------------------------------------------------------------------------------------


def raising(exc_type: type[httpx2.TransportError]) -> Handler:
    def respond(request: httpx2.Request) -> httpx2.Response:
        raise exc_type("simulated", request=request)

    return respond


@pytest.mark.parametrize(
    ("exc_type", "error"),
    [
        (httpx2.ConnectError, WaveConnectionError),
        (httpx2.ConnectTimeout, WaveConnectionError),
        (httpx2.ReadTimeout, WaveTimeoutError),
        (httpx2.ReadError, WaveConnectionError),
        (httpx2.RemoteProtocolError, WaveConnectionError),
    ],
)
async def test_read_transport_failures_are_retried_then_reported(
    exc_type: type[httpx2.TransportError], error: type[WaveError]
) -> None:
    """A read that cannot connect or gets no answer is retried, then reported as transient, with advice."""
    async with wave(raising(exc_type)) as (client, recorder):
        with pytest.raises(error) as caught:
            await client.get_run("run-1")
    assert len(recorder.requests) == ATTEMPTS
    assert caught.value.transient
    assert "Try again" in str(caught.value) or "try again" in str(caught.value)


async def test_execute_that_could_not_connect_says_nothing_was_sent() -> None:
    """When no connection was made, execute says nothing was sent (safe to try again)."""
    async with wave(raising(httpx2.ConnectError)) as (client, recorder):
        with pytest.raises(WaveConnectionError) as caught:
            await client.execute("wf-1", {})
    assert "nothing was sent" in str(caught.value)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("exc_type", [httpx2.ReadTimeout, httpx2.ReadError, httpx2.RemoteProtocolError])
async def test_execute_whose_answer_was_lost_may_have_started(exc_type: type[httpx2.TransportError]) -> None:
    """A connection lost after the POST went out: the run may have started and must not be retried blindly."""
    async with wave(raising(exc_type)) as (client, recorder):
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.execute("wf-1", {})
    assert "may or may not have started" in str(caught.value)
    assert "Do not start it again blindly" in str(caught.value)
    assert len(recorder.requests) == 1


# ---- bodies the client cannot use ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"run-1 is running", "not JSON"),
        (b"", "not JSON"),
        (b'{"id": "run-1", "status": "runn', "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"<html><body>Login</body></html>", "an HTML page"),
        (b'{"id": "run-1"}', "no status"),
        (b'{"status": "running"}', "no id"),
        (b"[]", "expected a JSON object"),
        (b"null", "expected a JSON object"),
    ],
)
async def test_an_unusable_answer_to_get_is_a_clear_invalid_response(body: bytes, why: str) -> None:
    """A 200 whose body is not a run gives InvalidResponseError saying why, after the usual retries."""
    async with wave(answer(200, body)) as (client, recorder):
        with pytest.raises(InvalidResponseError) as caught:
            await client.get_run("run-1")
    assert why in str(caught.value)
    assert "could not be read" in str(caught.value)
    assert recorder.requests


async def test_a_garbled_answer_to_a_read_is_retried() -> None:
    """A body that is not JSON counts as a transient failure: the read is tried again before giving up."""
    answers = iter([httpx2.Response(200, content=b'{"id": "run-1", "sta'), httpx2.Response(200, json=RUN)])
    async with wave(lambda request: next(answers)) as (client, recorder):
        run = await client.get_run("run-1")
    assert run.status == "running" and len(recorder.requests) == 2


@pytest.mark.parametrize("body", [b"not json", b'{"id": "r"}', b"[]", b"<html></html>"])
async def test_an_unusable_answer_to_execute_may_have_started_a_run(body: bytes) -> None:
    """A 200 to execute that cannot be read: the run may exist, so the error says not to retry blindly."""
    async with wave(answer(200, body)) as (client, recorder):
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.execute("wf-1", {})
    assert "unreadable" in str(caught.value)
    assert len(recorder.requests) == 1


async def test_a_deeply_nested_answer_is_an_invalid_response_not_a_crash() -> None:
    """JSON nested too deeply for the parser is reported like any unreadable answer."""
    deep = b"[" * 100_000 + b"]" * 100_000
    async with wave(answer(200, deep)) as (client, _):
        with pytest.raises(InvalidResponseError):
            await client.get_run("run-1")
        with pytest.raises(InvalidResponseError):
            await client.list_workflows()
        with pytest.raises(OutcomeUnknownError):
            await client.execute("wf-1", {})


def nested(depth: int) -> Any:
    """A list nested `depth` levels deep."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("depth", "limit", "expected"), [(0, 1, False), (1, 1, False), (2, 1, True), (200, 200, False)]
)
def test_too_deep_counts_levels_of_nesting(depth: int, limit: int, expected: bool) -> None:
    """`too_deep` measures lists and objects inside each other, without recursion."""
    value = "scalar" if depth == 0 else nested(depth)
    assert too_deep(value, limit) is expected
    assert too_deep({"a": [1, {"b": value}]}, limit + 3) is expected


async def test_params_nested_beyond_the_bound_are_refused_before_sending() -> None:
    """Params too deep to be echoed back safely are refused, naming `params`; nothing is sent."""
    async with wave(answer(200, RUN)) as (client, recorder):
        with pytest.raises(InvalidInputError, match="params is nested"):
            await client.execute("wf-1", {"a": nested(MAX_PARAMS_DEPTH)})
        await client.execute("wf-1", {"a": nested(MAX_PARAMS_DEPTH - 1)})
    assert len(recorder.requests) == 1


async def test_an_oversized_answer_with_content_length_is_refused() -> None:
    """An answer declaring more than max_response_bytes is refused before it is read."""
    big = json.dumps({**RUN, "result": "x" * 20_000}).encode()
    async with wave(answer(200, big), max_response_bytes=10_000) as (client, _):
        with pytest.raises(InvalidResponseError) as caught:
            await client.get_run("run-1")
    assert "larger than 10,000 bytes" in str(caught.value)


async def test_an_oversized_streamed_answer_is_cut_while_reading() -> None:
    """An answer without a length that grows past max_response_bytes is stopped while it streams."""
    chunks_sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(100):
            chunks_sent.append(index)
            yield b"x" * 1000

    async with wave(lambda request: httpx2.Response(200, content=chunks()), max_response_bytes=10_000) as (client, _):
        with pytest.raises(InvalidResponseError) as caught:
            await client.get_run("run-1")
    assert "larger than 10,000 bytes" in str(caught.value)
    assert len(chunks_sent) < 100 * ATTEMPTS


async def test_an_oversized_answer_to_execute_may_have_started_a_run() -> None:
    """Execute's answer too large to read: the run may have started; say so."""
    big = json.dumps({**RUN, "result": "x" * 20_000}).encode()
    async with wave(answer(200, big), max_response_bytes=10_000) as (client, _):
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.execute("wf-1", {})
    assert "too large" in str(caught.value)


async def test_an_answer_just_under_the_bound_is_read() -> None:
    """The bound refuses only what exceeds it."""
    body = json.dumps({**RUN, "result": "x" * 9_000}).encode()
    assert len(body) < 10_000
    async with wave(answer(200, body), max_response_bytes=10_000) as (client, _):
        run = await client.get_run("run-1")
    assert run.result == "x" * 9_000


# ---- what execute sends -------------------------------------------------------------------------------------


async def test_execute_sends_params_as_the_whole_json_body() -> None:
    """The params are the whole body (not wrapped), as JSON, with the key header, to the execute route."""
    params = {"param1": "value 1", "param2": "vålue 2", "n": 3, "list": [1, {"x": None}]}
    async with wave(answer(200, RUN)) as (client, recorder):
        run = await client.execute("wf-1", params)
    assert run.id == "run-1"
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url.raw_path == b"/workflows/wf-1/execute"
    assert json.loads(request.content) == params
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("wave-mcp/")


async def test_execute_with_no_params_sends_an_empty_object() -> None:
    """Empty params are sent as `{}`, still a JSON object."""
    async with wave(answer(200, RUN)) as (client, recorder):
        await client.execute("wf-1", {})
    assert recorder.requests[0].content == b"{}"


async def test_execute_refuses_params_too_large_to_send() -> None:
    """Params larger than the bound are refused before anything is sent."""
    async with wave(answer(200, RUN)) as (client, recorder):
        with pytest.raises(InvalidInputError) as caught:
            await client.execute("wf-1", {"blob": "x" * MAX_PARAMS_BYTES})
    assert "params" in str(caught.value)
    assert recorder.requests == []


async def test_reads_send_the_key_and_no_body() -> None:
    """GET requests carry the key header and no body or content type."""
    async with wave(answer(200, RUN)) as (client, recorder):
        await client.get_run("run-1")
    (request,) = recorder.requests
    assert request.method == "GET"
    assert request.headers["x-api-key"] == API_KEY
    assert request.content == b""
    assert "content-type" not in request.headers


# ---- ids ----------------------------------------------------------------------------------------------------

AWKWARD_IDS = ["a/b", "../workflows", "a?b=1", "a#b", "sp ace", "ümlaut", "%2F", "a;b", "a\\b", "~x", ". .", "..."]


@pytest.mark.parametrize("run_id", AWKWARD_IDS)
async def test_run_ids_are_percent_encoded_as_one_segment(run_id: str) -> None:
    """Any id reaches `/runs/{id}` as exactly one percent-encoded segment: it cannot reach another route."""
    async with wave(answer(200, {**RUN, "id": run_id})) as (client, recorder):
        await client.get_run(run_id)
    path = recorder.requests[0].url.raw_path
    assert path == b"/runs/" + quote(run_id, safe="").encode()
    assert path.count(b"/") == 2 and b"?" not in path and b"#" not in path


@pytest.mark.parametrize("workflow_id", AWKWARD_IDS)
async def test_workflow_ids_are_percent_encoded_as_one_segment(workflow_id: str) -> None:
    """The workflow id stays inside its segment of `/workflows/{id}/execute`."""
    async with wave(answer(200, RUN)) as (client, recorder):
        await client.execute(workflow_id, {})
    path = recorder.requests[0].url.raw_path
    assert path == b"/workflows/" + quote(workflow_id, safe="").encode() + b"/execute"
    assert path.count(b"/") == 3


@pytest.mark.parametrize(
    ("bad_id", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (".", "not a valid"),
        ("..", "not a valid"),
        ("x" * (MAX_ID_LENGTH + 1), "at most 256"),
        ("a\nb", "control characters"),
        ("a\x00b", "control characters"),
        ("a\u200bb", "control characters"),
        ("a\u2028b", "control characters"),
    ],
)
async def test_unusable_ids_are_refused_before_sending(bad_id: str, words: str) -> None:
    """Empty, dot, overlong or control-character ids are refused with a clear message; nothing is sent."""
    async with wave(answer(200, RUN)) as (client, recorder):
        with pytest.raises(InvalidInputError, match=words) as for_run:
            await client.get_run(bad_id)
        with pytest.raises(InvalidInputError, match=words) as for_workflow:
            await client.execute(bad_id, {})
    assert "run id" in str(for_run.value) or "run" in str(for_run.value)
    assert "workflow" in str(for_workflow.value)
    assert recorder.requests == []


async def test_an_id_of_the_maximum_length_is_accepted() -> None:
    """An id exactly at the length bound is sent."""
    long_id = "r" * MAX_ID_LENGTH
    async with wave(answer(200, {**RUN, "id": long_id})) as (client, recorder):
        run = await client.get_run(long_id)
    assert run.id == long_id and len(recorder.requests) == 1


# ---- list_workflows -----------------------------------------------------------------------------------------

LISTED = [{"id": "wf-1", "name": "One", "description": "first"}, {"id": "wf-2", "name": "Two"}]


@pytest.mark.parametrize("body", [LISTED, {"workflows": LISTED}, {"data": LISTED}, {"items": LISTED, "total": 2}])
async def test_list_workflows_accepts_an_array_or_a_wrapping_object(body: Any) -> None:
    """`GET /workflows` answering an array, or an object wrapping it, gives the workflows and no note."""
    async with wave(answer(200, body)) as (client, recorder):
        workflows, note = await client.list_workflows()
    assert note is None
    assert workflows is not None
    assert [(w.id, w.name, w.description) for w in workflows] == [("wf-1", "One", "first"), ("wf-2", "Two", None)]
    assert recorder.requests[0].url.raw_path == b"/workflows"


async def test_list_workflows_degrades_with_a_note_on_404() -> None:
    """No listing endpoint (404) is not an error: no workflows, and a note saying the listing is unavailable."""
    async with wave(answer(404)) as (client, recorder):
        workflows, note = await client.list_workflows()
    assert workflows is None
    assert note is not None and "404" in note and "no workflow listing" in note
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("body", [{"results": LISTED}, "workflows", 5, {"workflows": {"a": 1}}])
async def test_list_workflows_degrades_with_a_note_on_an_unknown_shape(body: Any) -> None:
    """An answer of a shape the client does not know gives no workflows and a note, not an error."""
    async with wave(answer(200, body)) as (client, _):
        workflows, note = await client.list_workflows()
    assert workflows is None
    assert note is not None and "unexpected shape" in note


async def test_list_workflows_still_reports_a_rejected_key() -> None:
    """Degrading covers 404 and odd shapes only: a rejected key is still an error."""
    async with wave(answer(403)) as (client, _):
        with pytest.raises(AuthenticationError):
            await client.list_workflows()


# ---- Retry-After --------------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", 120.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("Sun, 01 Mar 2026 12:02:00 -0000", None),
        ("inf", None),
        ("nan", None),
        ("1e400", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    """`Retry-After` in seconds or as an HTTP date gives non-negative finite seconds; anything else None."""
    assert parse_retry_after(value, now=NOW.timestamp()) == seconds


async def test_retry_after_in_seconds_reaches_the_error() -> None:
    """A 429's `Retry-After: 7` is kept on the error and named in the message."""
    async with wave(answer(429, headers={"retry-after": "7"})) as (client, _):
        with pytest.raises(RateLimitedError) as caught:
            await client.execute("wf-1", {})
    assert caught.value.retry_after == 7.0
    assert "try again after 7 s" in str(caught.value)


async def test_retry_after_as_an_http_date_reaches_the_error() -> None:
    """A 429's `Retry-After` as an HTTP date becomes the seconds until then."""
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    async with wave(answer(429, headers={"retry-after": later})) as (client, _):
        with pytest.raises(RateLimitedError) as caught:
            await client.execute("wf-1", {})
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


async def test_a_429_without_retry_after_says_a_little_while() -> None:
    """Without a hint the message still says when to retry, vaguely."""
    async with wave(answer(429)) as (client, _):
        with pytest.raises(RateLimitedError) as caught:
            await client.execute("wf-1", {})
    assert caught.value.retry_after is None
    assert "in a little while" in str(caught.value)


async def test_cookies_set_by_the_api_are_never_sent_back() -> None:
    """One pooled client serves every HTTP caller: a cookie from one answer must not ride on a later request."""

    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=RUN, headers={"set-cookie": "session=for-caller-a; Path=/"})

    async with wave(respond) as (client, recorder):
        await client.get_run("run-1")
        await client.get_run("run-1")
    assert [request.headers.get("cookie") for request in recorder.requests] == [None, None]


async def test_a_key_echoed_in_an_answer_is_masked_before_anything_reads_it() -> None:
    """An answer that contains the key (in any string) reaches reports masked, so no page cut can split it."""
    echoed = {**RUN, "status": "completed", "result": {"note": f"called with {API_KEY}", "list": [API_KEY * 3]}}
    async with wave(answer(200, echoed)) as (client, _):
        run = await client.get_run("run-1")
    assert API_KEY not in json.dumps(run.model_dump())
    assert run.result["note"] == "called with ***"


@pytest.mark.parametrize("at", [SEARCH_WINDOW - 5, SEARCH_WINDOW, 3 * SEARCH_WINDOW - 1])
async def test_a_large_answer_is_searched_across_its_windows(at: int) -> None:
    """A large answer (several SEARCH_WINDOWs) is searched a window at a time: a key echoed across a window's edge
    is still masked, and so is a lone surrogate's escape (`\\ud83d`) lying across one."""
    for secret, masked in ((API_KEY, "***"), ("\\ud83d", REPLACEMENT)):
        head = b'{"id":"run-1","status":"completed","result":{"pad":"'
        pad = b"x" * (at - len(head))
        body = head + pad + f'{secret} tail","more":"{"y" * SEARCH_WINDOW}"}}}}'.encode()
        assert body.index(secret.encode()) == at
        async with wave(answer(200, body)) as (client, _):
            run = await client.get_run("run-1")
        assert run.result["pad"] == pad.decode() + f"{masked} tail"


async def test_a_large_clean_answer_is_searched_window_by_window_and_not_walked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without an escape or an echoed key, a large answer's strings are not walked (a walk costs seconds for millions
    of objects), and its search lets the event loop run between windows; one key at its very end is found."""
    walks: list[object] = []
    yields: list[float] = []

    def walk(data: object, fix: object) -> object:
        walks.append(data)
        return data

    monkeypatch.setattr("wave_mcp.client.map_json", walk)
    monkeypatch.setattr("wave_mcp.client.time.sleep", yields.append)
    head = b'{"id":"run-1","status":"completed","result":{"pad":"'
    clean = head + b"x" * (4 * SEARCH_WINDOW - len(head) - 3) + b'"}}'
    async with wave(answer(200, clean)) as (client, _):
        await client.get_run("run-1")
    assert walks == [] and yields.count(0) >= 3 and set(yields) == {0}
    echoed = clean[:-3] + API_KEY.encode() + b'"}}'
    async with wave(answer(200, echoed)) as (client, _):
        await client.get_run("run-1")
    assert len(walks) == 1


async def test_an_error_body_is_masked_before_it_is_cut_to_an_excerpt() -> None:
    """A key lying across the excerpt's cut never leaves a piece of itself in the message."""
    body = (" " * 790 + API_KEY + " tail").encode()
    async with wave(answer(500, body)) as (client, _):
        with pytest.raises(UpstreamError) as caught:
            await client.get_run("run-1")
    assert API_KEY[:10] not in str(caught.value)
    assert "***" in str(caught.value)


async def test_an_unparsable_redirect_location_is_a_clear_error() -> None:
    """A 3xx whose Location is not a URL still gives the redirect error, not a crash."""
    async with wave(answer(307, b"", headers={"location": "http://[::1"})) as (client, _):
        with pytest.raises(RedirectError, match="not a valid URL"):
            await client.get_run("run-1")
