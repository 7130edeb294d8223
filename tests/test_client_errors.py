"""The client's pure parts: each HTTP status to its error and advice (`status_error`), where a redirect points, the
retry hook of a read (`retry_pause`: what is retried, how long, never past the deadline), `Retry-After`
(`parse_retry_after`), and the excerpt of an error body quoted to the model (its 200-character edge)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from tests.helpers import API_KEY, make_settings
from wave_mcp.client import WaveClient, parse_retry_after, retry_pause, status_error
from wave_mcp.errors import (
    AuthenticationError,
    InvalidParametersError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RedirectError,
    UpstreamError,
    WaveAPIError,
    WaveConnectionError,
    WaveError,
)
from wave_mcp.limits import EXCERPT_CHARS


def error(status: int, headers: dict[str, str] | None = None, **kwargs: Any) -> WaveError:
    values: dict[str, Any] = {"method": "GET", "path": "/runs/r1", "what": "run 'r1'", **kwargs}
    return status_error(status, headers or {}, **values)


# ---- status to error ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (300, RedirectError),
        (302, RedirectError),
        (399, RedirectError),
        (400, InvalidParametersError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (405, WaveAPIError),
        (409, RateLimitedError),
        (418, WaveAPIError),
        (422, InvalidParametersError),
        (429, RateLimitedError),
        (499, WaveAPIError),
        (500, UpstreamError),
        (503, UpstreamError),
        (599, UpstreamError),
    ],
)
def test_each_status_has_its_error_class_and_carries_the_request(status: int, kind: type[WaveError]) -> None:
    """The class decides retries and advice: each status maps to exactly one, with status, method and path."""
    raised = error(status)
    assert type(raised) is kind
    assert isinstance(raised, WaveAPIError)
    assert (raised.status_code, raised.method, raised.path) == (status, "GET", "/runs/r1")
    assert f"HTTP {status}" in str(raised)


@pytest.mark.parametrize("status", [405, 418, 451])
def test_an_unmapped_status_names_the_request_and_quotes_the_api(status: int) -> None:
    """A status without its own advice still says which request got it, and what the API said."""
    raised = error(status, said=" The API said: teapot", method="POST", path="/workflows/w/execute")
    assert str(raised) == f"The Wave API answered POST /workflows/w/execute with HTTP {status}. The API said: teapot"
    assert not raised.transient


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://elsewhere.example:8443/secret/path?key=1", "https://elsewhere.example:8443"),
        ("http://elsewhere.example/login", "http://elsewhere.example"),
        ("", "another address"),
        ("/relative/path", "another address"),
        ("http://[::1", "an address that is not a valid URL"),
    ],
)
def test_a_redirect_names_only_the_origin_it_points_to(location: str, shown: str) -> None:
    """Scheme, host and port only (never the path or query); without a usable Location, 'another address'."""
    headers = {"location": location} if location else {}
    message = str(error(307, headers))
    assert f"(HTTP 307) to {shown}." in message
    assert "secret" not in message and "/login" not in message and "/relative" not in message
    assert "WAVE_API_URL" in message and "GET /runs/r1" in message


@pytest.mark.parametrize(("callers_key", "whose"), [(False, "WAVE_API_KEY"), (True, "X-Wave-Api-Key header")])
def test_a_rejected_key_says_which_key_to_check(callers_key: bool, whose: str) -> None:
    """The server's key or the caller's own, as it was the one sent; the API's words follow."""
    message = str(error(401, callers_key=callers_key, said=" The API said: bad key"))
    assert f"Check the key in your {whose}" in message or f"Check {whose}" in message
    assert message.endswith("The API said: bad key")
    assert ("WAVE_API_KEY" in message) is not callers_key


@pytest.mark.parametrize(
    ("what", "hint"),
    [("workflow 'w1'", "call list_workflows for the valid ids"), ("run 'r1'", "check the run id")],
)
def test_not_found_names_what_and_the_next_call(what: str, hint: str) -> None:
    """A 404 on a workflow points to list_workflows, on a run to its id."""
    message = str(error(404, what=what, said=" The API said: no"))
    assert message == f"The Wave API knows no {what} (HTTP 404): {hint}. The API said: no"


@pytest.mark.parametrize("status", [400, 422])
def test_invalid_parameters_quote_the_api_and_say_to_fix_them(status: int) -> None:
    """The API's own words about the parameters reach the model."""
    message = str(error(status, what="workflow 'w1'", said=" The API said: param1 is required"))
    assert f"workflow 'w1' as invalid (HTTP {status}). The API said: param1 is required" in message
    assert "Fix the parameters" in message


@pytest.mark.parametrize("status", [409, 429])
def test_rate_limits_carry_retry_after_and_say_when(status: int) -> None:
    """Retry-After in seconds reaches the error and the message; without it, 'in a little while'."""
    limited = error(status, {"retry-after": "7"})
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 7.0
    assert f"(HTTP {status}): try again after 7 s." in str(limited)
    unknown = error(status)
    assert isinstance(unknown, RateLimitedError) and unknown.retry_after is None
    assert "try again in a little while." in str(unknown)


def test_without_an_excerpt_the_message_ends_with_the_advice() -> None:
    """`said` is optional: without it nothing is appended."""
    assert str(error(418)) == "The Wave API answered GET /runs/r1 with HTTP 418."
    assert str(error(404)).endswith("check the run id.")


def test_a_server_error_says_it_is_not_this_server_s_doing() -> None:
    """5xx names the request and says to try again."""
    message = str(error(502, said=" The API said: down"))
    assert "failed (HTTP 502) on GET /runs/r1" in message and message.endswith("shortly. The API said: down")


# ---- the retry hook of a read ------------------------------------------------------------------------------------

FAR = 1_000.0
"""A deadline far enough away never to matter."""


def upstream() -> UpstreamError:
    return UpstreamError("down", status_code=503, method="GET", path="/runs/r1")


def limited(after: float | None) -> RateLimitedError:
    return RateLimitedError("busy", status_code=429, method="GET", path="/runs/r1", retry_after=after)


def test_only_transient_errors_are_retried() -> None:
    """A 404, a rejected key or a plain exception ends the read; a 503 or a broken connection is retried."""
    pause = retry_pause(time.monotonic() + FAR)
    assert pause(NotFoundError("no", status_code=404, method="GET", path="/x")) is False
    assert pause(AuthenticationError("no", status_code=401, method="GET", path="/x")) is False
    assert pause(ValueError("not ours")) is False
    assert pause(upstream()) is not False
    assert pause(WaveConnectionError("broken")) is not False
    assert pause(InvalidResponseError("garbled", status_code=200, method="GET", path="/x")) is not False


@pytest.mark.parametrize("edge", ["low", "high"])
def test_the_backoff_doubles_from_a_quarter_second_with_half_a_second_of_jitter_up_to_three(
    monkeypatch: pytest.MonkeyPatch, edge: str
) -> None:
    """Pauses of 0.25, 0.5, 1, 2 s plus up to 0.5 s of jitter, then 3 s at most."""
    monkeypatch.setattr("wave_mcp.client.random.uniform", lambda low, high: low if edge == "low" else high)
    pause = retry_pause(time.monotonic() + FAR)
    pauses = [pause(upstream()) for _ in range(6)]
    jitter = 0.0 if edge == "low" else 0.5
    assert pauses == [0.25 + jitter, 0.5 + jitter, 1.0 + jitter, 2.0 + jitter, 3.0, 3.0]


def test_a_retry_is_given_up_when_its_longest_pause_would_reach_the_deadline() -> None:
    """The first pause takes at most 0.75 s: with 0.7 s left no retry; with 1 s left one."""
    assert retry_pause(time.monotonic() + 0.7)(upstream()) is False
    pause = retry_pause(time.monotonic() + 1.0)(upstream())
    assert pause is not False and 0.25 <= pause <= 0.75


def test_retry_after_is_honoured_up_to_thirty_seconds() -> None:
    """The API's Retry-After is the pause (0 and 30 s included); beyond 30 s the error reaches the caller."""
    assert retry_pause(time.monotonic() + FAR)(limited(30.0)) == 30.0
    assert retry_pause(time.monotonic() + FAR)(limited(0.0)) == 0.0
    assert retry_pause(time.monotonic() + FAR)(limited(30.5)) is False


def test_retry_after_that_would_end_past_the_deadline_is_not_waited_for() -> None:
    """A Retry-After as long as the time left is not waited for; a shorter one is."""
    assert retry_pause(time.monotonic() + 5.0)(limited(6.0)) is False
    assert retry_pause(time.monotonic() + 5.0)(limited(4.0)) == 4.0


def test_a_pause_that_would_end_exactly_at_the_deadline_is_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After or the longest backoff equal to the time left: the read gives up, since the retry could not end
    before the deadline."""
    monkeypatch.setattr("wave_mcp.client.time.monotonic", lambda: 100.0)
    assert retry_pause(105.0)(limited(5.0)) is False
    assert retry_pause(105.0)(limited(4.99)) == 4.99
    assert retry_pause(100.75)(upstream()) is False
    assert retry_pause(100.76)(upstream()) is not False


def test_a_rate_limit_without_retry_after_backs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a hint a 429 is retried like any transient failure."""
    monkeypatch.setattr("wave_mcp.client.random.uniform", lambda low, high: low)
    assert retry_pause(time.monotonic() + FAR)(limited(None)) == 0.25


# ---- Retry-After ---------------------------------------------------------------------------------------------------

NOW = 1_800_000_000.0
"""2027-01-15 08:00:00 UTC."""


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-4", 0.0),
        ("inf", None),
        ("nan", None),
        ("", None),
        (None, None),
        ("soon", None),
        ("Fri, 15 Jan 2027 08:00:30 GMT", 30.0),
        ("Fri, 15 Jan 2027 07:59:00 GMT", 0.0),
        ("Fri, 15 Jan 2027 08:00:30 -0000", None),
        ("Fri, 15 Jan 2027 09:00:30 +0100", 30.0),
    ],
)
def test_retry_after_is_read_in_seconds_or_as_a_date(value: str | None, seconds: float | None) -> None:
    """Seconds or an HTTP date (relative to now), never negative; None when unreadable or without a zone."""
    assert parse_retry_after(value, now=NOW) == seconds


def test_retry_after_as_a_date_is_relative_to_the_wall_clock_by_default() -> None:
    """Without `now`, a date a minute ahead is about 60 s away."""
    ahead = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 61))
    parsed = parse_retry_after(ahead)
    assert parsed is not None and 55 < parsed <= 61


# ---- the excerpt of an error body --------------------------------------------------------------------------------


@asynccontextmanager
async def client_answering(status: int, body: bytes) -> AsyncIterator[WaveClient]:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(status, content=body))
    async with WaveClient.open(make_settings(), transport=transport) as client:
        yield client


async def message_for(body: bytes) -> str:
    """The message of the error a 404 with `body` raises on get_run."""
    async with client_answering(404, body) as client:
        with pytest.raises(NotFoundError) as raised:
            await client.get_run("r1")
    return str(raised.value)


@pytest.mark.anyio
async def test_an_excerpt_of_exactly_the_bound_is_whole_and_a_longer_one_is_cut() -> None:
    """EXCERPT_CHARS characters are quoted whole; one more is cut there and marked with '…'."""
    exact = "e" * EXCERPT_CHARS
    assert (await message_for(exact.encode())).endswith(f"The API said: {exact}")
    cut = await message_for(("e" * EXCERPT_CHARS + "Z").encode())
    assert cut.endswith(f"The API said: {exact}…")


@pytest.mark.anyio
async def test_an_empty_error_body_adds_nothing() -> None:
    """No body (or only blanks): the message ends with the advice."""
    assert (await message_for(b"")).endswith("check the run id.")
    assert (await message_for(b" \n ")).endswith("check the run id.")


@pytest.mark.anyio
async def test_the_excerpt_is_one_line_of_printable_text() -> None:
    """Control characters and runs of blanks become single spaces."""
    message = await message_for(b"line one\r\n\tline\x00two   three\x1b[31m")
    assert message.endswith("The API said: line one line two three [31m")


@pytest.mark.anyio
async def test_an_html_page_is_named_by_its_title_or_as_a_page() -> None:
    """An HTML error page is not quoted: its title is, or just that it was a page."""
    titled = await message_for(b"<!doctype html><HTML><head><title>502 Bad Gateway</title></head></html>")
    assert titled.endswith("The API said: an HTML page titled '502 Bad Gateway'")
    untitled = await message_for(b"<html><body>oops</body></html>")
    assert untitled.endswith("The API said: an HTML page")


@pytest.mark.anyio
async def test_the_key_is_masked_before_the_excerpt_is_cut() -> None:
    """A key near the edge is masked first, so no part of it is quoted."""
    body = ("x" * (EXCERPT_CHARS - 5) + API_KEY).encode()
    message = await message_for(body)
    assert API_KEY[:5] not in message and message.endswith("x" * (EXCERPT_CHARS - 5) + "***")


@pytest.mark.anyio
async def test_bytes_that_are_not_utf8_are_quoted_as_replacement_characters() -> None:
    """An undecodable body or title does not break the message."""
    assert (await message_for(b"bad \xff byte")).endswith("The API said: bad \ufffd byte")
    titled = await message_for(b"<html><title>T\xff</title></html>")
    assert titled.endswith("The API said: an HTML page titled 'T\ufffd'")


@pytest.mark.anyio
async def test_a_page_is_recognised_as_html_only_from_its_first_500_bytes() -> None:
    """'<html' within the first 500 bytes names a page; later, the body is quoted as text."""
    early = await message_for(b" " * 495 + b"<html><title>T</title></html>")
    assert early.endswith("The API said: an HTML page titled 'T'")
    late = await message_for(b" " * 496 + b"<html><title>T</title></html>")
    assert late.endswith("The API said: <html><title>T</title></html>")
