"""WaveClient: the Wave API over one pooled httpx2.AsyncClient. HTTP becomes `errors`; only reads are retried."""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import anyio
import httpx2

from wave_mcp import __version__
from wave_mcp.caller import CALLER_KEY_HEADER, current_caller_key
from wave_mcp.config import Settings
from wave_mcp.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidParametersError,
    InvalidResponseError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RedirectError,
    ResponseTooLargeError,
    UpstreamError,
    WaveAPIError,
    WaveConnectionError,
    WaveError,
    WaveTimeoutError,
)
from wave_mcp.limits import (
    ERROR_BODY_BYTES,
    EXCERPT_CHARS,
    check_id,
    encodable,
    encode_params,
)
from wave_mcp.models import Run, Workflow, parse_run, parse_workflows
from wave_mcp.redact import Secrets, map_json, redact_text

__all__ = [
    "BACKSTOP_GRACE",
    "DEADLINE_GRACE",
    "PARSE_IN_THREAD_BYTES",
    "REQUESTS_IN_FLIGHT",
    "LazyTransport",
    "WaveClient",
    "parse_retry_after",
    "retry_pause",
    "status_error",
]

T = TypeVar("T")

RETRY_AFTER_CAP = 30.0
"""A `Retry-After` longer than this is not waited for: the error reaches the caller."""
READ_ATTEMPTS = 4
WAIT_INITIAL = 0.25
WAIT_MAX = 3.0
WAIT_JITTER = 0.5
POOL_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=32)
"""Connections to the API. Keeping more alive costs CPU: httpcore probes every idle connection whenever a request
starts or ends (with 100 kept alive, a poll cost ~30 % more CPU at 1,000 concurrent waits, see bench/scale.py)."""
DEADLINE_GRACE = 0.25
"""Each request's own timeouts end this long after its call's deadline."""
BACKSTOP_GRACE = 0.5
"""Whatever the transport does (an answer trickled a byte at a time resets every read timeout), a backstop ends the
request this long after its call's deadline: half a second before the promise of "at most a second late", as margin
for a loaded machine."""
REQUESTS_IN_FLIGHT = 32
"""At most this many requests to the API at once; the rest queue in a semaphore, whose queue is cheap. A queue inside
the HTTP client's connection pool costs CPU on every state change (see bench/capacity.py)."""
PARSE_IN_THREAD_BYTES = 256 * 1024
"""Answers larger than this are parsed in a worker thread, with a Python hook per object so that the event loop gets
the interpreter back every few milliseconds (a thread alone would not help: json.loads holds it throughout)."""
YIELD_EVERY = 2_000
"""A large answer's parse lets the event loop run after this many objects."""
NESTED_TOO_DEEP = "nested too deep (more levels of lists and objects than Python's JSON parser accepts, about 900)"

_AMBIGUOUS_STATUS = {502, 504}
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read `Retry-After` in seconds or as an HTTP date; None if absent or unreadable. Never negative."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def retry_pause(deadline: float) -> Callable[[Exception], bool | float]:
    """The retry hook of one read: the pause before the next try, or False to give up.

    Only transient errors are retried, and only when the pause surely ends before `deadline` (a `time.monotonic()`
    value): `Retry-After` when the API sent one (up to RETRY_AFTER_CAP), else exponential backoff whose jitter, at
    its largest, still ends in time.
    """
    failures = 0

    def pause(exc: Exception) -> bool | float:
        nonlocal failures
        failures += 1
        if not (isinstance(exc, WaveError) and exc.transient):
            return False
        remaining = deadline - time.monotonic()
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            fits = exc.retry_after <= RETRY_AFTER_CAP and exc.retry_after < remaining
            return float(exc.retry_after) if fits else False
        backoff = WAIT_INITIAL * 2.0 ** min(failures - 1, 32)
        if min(WAIT_MAX, backoff + WAIT_JITTER) >= remaining:
            return False
        return min(WAIT_MAX, backoff + random.uniform(0, WAIT_JITTER))  # noqa: S311 - jitter, not a secret

    return pause


def status_error(
    status: int,
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    what: str,
    said: str = "",
    callers_key: bool = False,
) -> WaveError:
    """The error for an answer with HTTP `status` (not a success) to `method path` about `what` (e.g. "run 'r1'").

    `said` is the excerpt of the answer's body to quote, already masked; `callers_key` tells that the key sent was
    the HTTP caller's own. Pure: the same answer gives the same error.
    """
    where: dict[str, Any] = {"status_code": status, "method": method, "path": path}
    if 300 <= status < 400:
        target = _origin(headers.get("location", ""))
        return RedirectError(
            f"The Wave API answered {method} {path} with a redirect (HTTP {status}) to {target}. It was not "
            "followed, so the API key stays with the configured origin: set WAVE_API_URL to the API's real address.",
            **where,
        )
    if status in (401, 403):
        whose = f"the key in your {CALLER_KEY_HEADER} header" if callers_key else "WAVE_API_KEY"
        return AuthenticationError(
            f"The Wave API rejected the API key (HTTP {status}). Check {whose}: it must be a valid key for this "
            f"API.{said}",
            **where,
        )
    if status == 404:
        hint = "call list_workflows for the valid ids" if what.startswith("workflow") else "check the run id"
        return NotFoundError(f"The Wave API knows no {what} (HTTP 404): {hint}.{said}", **where)
    if status in (400, 422):
        return InvalidParametersError(
            f"The Wave API refused the request for {what} as invalid (HTTP {status}).{said} Fix the parameters and "
            "try again.",
            **where,
        )
    if status in (409, 429):
        retry_after = parse_retry_after(headers.get("retry-after"))
        when = f"after {retry_after:.0f} s" if retry_after is not None else "in a little while"
        return RateLimitedError(
            f"The Wave API is busy or rate-limiting requests (HTTP {status}): try again {when}.{said}",
            retry_after=retry_after,
            **where,
        )
    if status >= 500:
        return UpstreamError(
            f"The Wave API failed (HTTP {status}) on {method} {path}. It is not this server's doing: try again "
            f"shortly.{said}",
            **where,
        )
    return WaveAPIError(f"The Wave API answered {method} {path} with HTTP {status}.{said}", **where)


def _origin(location: str) -> str:
    """Where a redirect points, as scheme, host and port only (its path and query may carry anything)."""
    try:
        url = httpx2.URL(location) if location else None
    except (httpx2.InvalidURL, ValueError):
        return "an address that is not a valid URL"
    if url is None or not url.host:
        return "another address"
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


class WaveClient:
    """The three API calls the server needs, with errors mapped, reads retried and sizes bounded."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        secrets: Secrets,
        own_key: bool,
        max_response_bytes: int,
        call_timeout: float | None = None,
    ) -> None:
        self._http = http
        self._secrets = secrets
        self._own_key = own_key
        self._max_response_bytes = max_response_bytes
        self._call_timeout = call_timeout if call_timeout is not None else (http.timeout.read or 30.0)
        self._gate = anyio.Semaphore(REQUESTS_IN_FLIGHT)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> AsyncIterator[WaveClient]:
        """One pooled HTTP client for the server's lifetime; `transport` lets tests and the sandbox plug in."""
        headers = {"accept": "application/json", "user-agent": f"wave-mcp/{__version__}"}
        if settings.key:
            headers["x-api-key"] = settings.key
        async with httpx2.AsyncClient(
            base_url=settings.api_url,
            headers=headers,
            timeout=httpx2.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            cookies=_no_cookies(),
            transport=transport or LazyTransport(lambda: httpx2.AsyncHTTPTransport(retries=2, limits=POOL_LIMITS)),
        ) as http:
            yield cls(
                http,
                secrets=Secrets(settings.secrets()),
                own_key=bool(settings.key),
                max_response_bytes=settings.max_response_bytes,
                call_timeout=settings.request_timeout,
            )

    # ---- the API ----------------------------------------------------------------------------------------

    async def list_workflows(self, *, deadline: float | None = None) -> tuple[list[Workflow] | None, str | None]:
        """The API's workflows, or None and a note saying why the listing is unavailable."""
        try:
            data = await self._read(
                "/workflows", what="the workflow listing", deadline=self._deadline(deadline), parse=_as_is
            )
        except NotFoundError:
            return None, "The Wave API offers no workflow listing here (HTTP 404 on GET /workflows)."
        workflows = parse_workflows(data)
        if workflows is None:
            return None, "The Wave API's workflow listing had an unexpected shape, so it was not used."
        return workflows, None

    async def execute(self, workflow_id: str, params: dict[str, Any], *, deadline: float | None = None) -> Run:
        """Start a run. Sent at most once: never retried once the request may have reached the API.

        Ends by `deadline` (a `time.monotonic()` value; default: the request timeout from now) plus at most a
        second; a request that got no answer by then has an unknown outcome.
        """
        segment = check_id(workflow_id, "workflow")
        body = encode_params(params)
        path = f"/workflows/{segment}/execute"
        what = f"workflow '{workflow_id}'"
        try:
            response, content = await self._send("POST", path, body=body, deadline=self._deadline(deadline))
        except WaveConnectionError:
            raise
        except ResponseTooLargeError as exc:
            raise self._unknown_outcome(workflow_id, "the API's answer was too large to read") from exc
        except httpx2.TimeoutException as exc:
            raise self._unknown_outcome(
                workflow_id, f"no answer came in time after the request was sent ({_kind(exc)})"
            ) from None
        except httpx2.TransportError as exc:
            raise self._unknown_outcome(
                workflow_id, f"the connection failed after the request was sent ({_kind(exc)})"
            ) from None
        if response.status_code in _AMBIGUOUS_STATUS:
            raise self._unknown_outcome(workflow_id, f"the API answered HTTP {response.status_code}")
        self._raise_for_status(response, content, "POST", path, what)
        try:
            run = parse_run(await self._json(response, content, "POST", path))
        except (InvalidResponseError, ValueError) as exc:
            raise self._unknown_outcome(
                workflow_id, f"the API accepted the request (HTTP {response.status_code}) but its answer was unreadable"
            ) from exc
        return run

    async def get_run(self, run_id: str, *, deadline: float | None = None) -> Run:
        """Read a run; transient failures are retried, all by `deadline` (a `time.monotonic()` value; default:
        the request timeout from now), which the call overruns by at most a second."""
        path = f"/runs/{check_id(run_id, 'run')}"

        def parse(data: Any) -> Run:
            try:
                return parse_run(data)
            except ValueError as exc:
                raise self._invalid(200, "GET", path, str(exc)) from None

        return await self._read(path, what=f"run '{run_id}'", deadline=self._deadline(deadline), parse=parse)

    def _deadline(self, deadline: float | None) -> float:
        return time.monotonic() + self._call_timeout if deadline is None else deadline

    # ---- reads: retried ---------------------------------------------------------------------------------

    async def _read(self, path: str, *, what: str, deadline: float, parse: Callable[[Any], T] = lambda data: data) -> T:
        """GET `path` and parse it, retrying transient failures while the next try can still end by `deadline`."""
        import stamina  # here, not at the top: it and tenacity cost ~10 ms of a start that only lists tools

        async for attempt in stamina.retry_context(
            on=retry_pause(deadline),
            attempts=READ_ATTEMPTS,
            timeout=None,
        ):
            with attempt:
                response, content = await self._send_read(path, deadline)
                self._raise_for_status(response, content, "GET", path, what)
                return parse(await self._json(response, content, "GET", path))
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    async def _send_read(self, path: str, deadline: float) -> tuple[httpx2.Response, bytes]:
        try:
            return await self._send("GET", path, deadline=deadline)
        except httpx2.TimeoutException as exc:
            raise WaveTimeoutError(
                f"The Wave API did not answer GET {path} in time ({_kind(exc)}). It may be overloaded: try again "
                "shortly."
            ) from None
        except httpx2.TransportError as exc:
            raise WaveConnectionError(
                f"The connection to the Wave API broke during GET {path} ({_kind(exc)}). Try again shortly."
            ) from None

    # ---- one request --------------------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, *, deadline: float, body: bytes | None = None
    ) -> tuple[httpx2.Response, bytes]:
        """Send one request and read its answer, bounded in size and in time.

        A success is read up to `max_response_bytes` (more is ResponseTooLargeError); any other answer only up to
        ERROR_BODY_BYTES, for its excerpt. At most REQUESTS_IN_FLIGHT requests are sent at once. The request's timeouts
        end at most DEADLINE_GRACE after `deadline`, and a backstop raises httpx2.ReadTimeout BACKSTOP_GRACE after it,
        whatever the transport does (WaveConnectionError if the request never got its turn: then nothing was sent).
        """
        headers = {"content-type": "application/json"} if body is not None else {}
        key = current_caller_key()
        if key:
            headers["x-api-key"] = key
        elif not self._own_key:
            raise AccessDeniedError(
                f"No Wave API key for this request: send your own in the {CALLER_KEY_HEADER} header (this server "
                "has no WAVE_API_KEY of its own). Nothing was sent."
            )
        backstop = max(deadline - time.monotonic(), 0.0) + BACKSTOP_GRACE
        admitted = False
        with anyio.move_on_after(backstop):
            async with self._gate:
                admitted = True
                timeout = self._timeout(max(deadline - time.monotonic(), 0.0))
                try:
                    request = self._http.stream(method, path, content=body, headers=headers, timeout=timeout)
                    async with request as answer:
                        return answer, await self._read_body(answer, method, path)
                except httpx2.PoolTimeout:
                    raise WaveConnectionError(
                        "This server has too many requests to the Wave API in flight (PoolTimeout); nothing was "
                        "sent. Try again shortly."
                    ) from None
                except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                    raise WaveConnectionError(
                        f"Could not connect to the Wave API ({_kind(exc)}); nothing was sent. Check WAVE_API_URL and "
                        "the network, then try again."
                    ) from None
        if not admitted:
            raise WaveConnectionError(
                f"This server has more than {REQUESTS_IN_FLIGHT} requests to the Wave API in flight and this one "
                "found no slot in time; nothing was sent. Try again shortly."
            )
        raise httpx2.ReadTimeout(f"no complete answer within {backstop:.1f} s")

    async def _read_body(self, response: httpx2.Response, method: str, path: str) -> bytes:
        success = response.is_success
        limit = self._max_response_bytes if success else ERROR_BODY_BYTES
        declared = response.headers.get("content-length", "")
        if success and declared.isdigit() and int(declared) > limit:
            raise self._too_large(response.status_code, method, path)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            if size + len(chunk) > limit:
                if success:
                    raise self._too_large(response.status_code, method, path)
                chunks.append(chunk[: limit - size])
                break
            size += len(chunk)
            chunks.append(chunk)
        if size > PARSE_IN_THREAD_BYTES:  # joined off the loop: a large join lets go of the interpreter while it copies
            return await anyio.to_thread.run_sync(b"".join, chunks)
        return b"".join(chunks)

    def _timeout(self, remaining: float) -> httpx2.Timeout:
        """The client's timeouts, each cut to end at most DEADLINE_GRACE after the call's deadline."""
        configured = self._http.timeout
        cap = remaining + DEADLINE_GRACE

        def bound(value: float | None) -> float:
            return cap if value is None else min(value, cap)

        return httpx2.Timeout(
            connect=bound(configured.connect),
            read=bound(configured.read),
            write=bound(configured.write),
            pool=bound(configured.pool),
        )

    def _raise_for_status(self, response: httpx2.Response, content: bytes, method: str, path: str, what: str) -> None:
        if not response.is_success:
            said = self._excerpt(content)
            raise status_error(
                response.status_code,
                response.headers,
                method=method,
                path=path,
                what=what,
                said=said,
                callers_key=current_caller_key() is not None,
            )

    async def _json(self, response: httpx2.Response, content: bytes, method: str, path: str) -> Any:
        """The answer's JSON, every string in it encodable and free of secrets; InvalidResponseError if unreadable.

        A large answer is parsed in a worker thread (see PARSE_IN_THREAD_BYTES), so the event loop keeps serving.
        """
        if len(content) > PARSE_IN_THREAD_BYTES:
            data, why = await anyio.to_thread.run_sync(self._decode, content)  # context (the caller's key) follows
        else:
            data, why = self._decode(content)
        if why is not None:
            raise self._invalid(response.status_code, method, path, why)
        return data

    def _decode(self, content: bytes) -> tuple[Any, str | None]:
        """Parse `content`: the data and None, or None and why it could not be read.

        Strings are walked only when the raw bytes hold an escape (`\\u...`: a lone surrogate such as `"\\ud83d"`
        becomes U+FFFD) or a secret in play (an answer that echoes a key never passes it on, nor a cut of it).
        """
        hook = _same if len(content) > PARSE_IN_THREAD_BYTES else None
        try:
            data = json.loads(content, object_hook=hook)
        except RecursionError:
            return None, NESTED_TOO_DEEP
        except (ValueError, UnicodeDecodeError):
            kind = "an HTML page" if b"<html" in content[:500].lower() else "something that is not JSON"
            return None, f"it sent {kind}"
        secrets = self._secrets.in_play()
        if _holds_any(content, [b"\\u", *(secret.encode() for secret in secrets)]):
            data = map_json(data, lambda text: redact_text(encodable(text), secrets))
        return data, None

    # ---- messages -----------------------------------------------------------------------------------------

    def _invalid(self, status: int, method: str, path: str, why: str) -> InvalidResponseError:
        return InvalidResponseError(
            f"The Wave API's answer to {method} {path} could not be read: {self._secrets.text(why)}. Try again "
            "shortly; if it persists, check that WAVE_API_URL points at the Wave API.",
            status_code=status,
            method=method,
            path=path,
        )

    def _too_large(self, status: int, method: str, path: str) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"The Wave API's answer to {method} {path} is larger than {self._max_response_bytes:,} bytes, so it was "
            "not read. If the run's result really is that large, the operator can raise WAVE_MAX_RESPONSE_BYTES (an "
            "answer may take up to about 30 times its size in memory).",
            status_code=status,
            method=method,
            path=path,
        )

    def _unknown_outcome(self, workflow_id: str, why: str) -> OutcomeUnknownError:
        return OutcomeUnknownError(
            f"The run of workflow '{workflow_id}' may or may not have started: {why}. Do not start it again blindly: "
            "that could run it twice. Ask the user to check in Wave whether a run of this workflow began just now "
            "(the API offers no way to look it up), and start it again only if none did."
        )

    def _excerpt(self, content: bytes) -> str:
        if not content.strip():
            return ""
        if b"<html" in content[:500].lower():
            title = _HTML_TITLE.search(content)
            text = f"an HTML page titled {title.group(1).decode(errors='replace')!r}" if title else "an HTML page"
        else:
            text = content.decode(errors="replace")  # whole (error bodies are read to 64 KiB): masked before cut
        text = " ".join("".join(c if c.isprintable() else " " for c in self._secrets.text(text)).split())
        if len(text) > EXCERPT_CHARS:
            text = text[:EXCERPT_CHARS] + "…"
        return f" The API said: {text}"


SEARCH_WINDOW = 1 << 20
"""A large answer is searched this many bytes at a time: each search holds the interpreter about a millisecond."""


def _holds_any(content: bytes, needles: list[bytes]) -> bool:
    """True when `content` holds one of `needles`. Searched a window at a time (each overlapping the next by the
    longest needle), offering the interpreter to the event loop between windows: searching 19 MB at once held it
    16 ms, even from a worker thread."""
    overlap = max(len(needle) for needle in needles) - 1
    for start in range(0, len(content), SEARCH_WINDOW):
        if start:
            time.sleep(0)
        end = start + SEARCH_WINDOW + overlap
        if any(content.find(needle, start, end) != -1 for needle in needles):
            return True
    return False


def _as_is(data: Any) -> Any:
    return data


def _same(value: dict[str, Any], _count: list[int] = [0]) -> dict[str, Any]:  # noqa: B006 - a counter, on purpose
    """json.loads' hook for each object of a large answer: the object as it is. Being Python code, it is where the
    interpreter may switch threads; every YIELD_EVERY objects it offers the interpreter to the event loop outright
    (on a busy machine, waiting for the switch interval alone left the loop waiting 100 ms and more)."""
    _count[0] += 1
    if _count[0] % YIELD_EVERY == 0:
        time.sleep(0)
    return value


class LazyTransport(httpx2.AsyncBaseTransport):
    """Builds the real transport on the first request, once, in a worker thread: its TLS set-up (40 to 70 ms of
    loading certificates) stays off the server's start, and off the event loop, which keeps serving meanwhile."""

    def __init__(self, build: Callable[[], httpx2.AsyncBaseTransport]) -> None:
        self._build = build
        self._transport: httpx2.AsyncBaseTransport | None = None
        self._building = anyio.Lock()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._transport is None:
            async with self._building:  # requests arriving together wait for the one build
                if self._transport is None:
                    self._transport = await anyio.to_thread.run_sync(self._build)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def _no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: one pooled client serves every HTTP caller, so no answer may leave state
    (a session or balancer cookie) that a later request, perhaps another caller's, would send back."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _kind(exc: Exception) -> str:
    return type(exc).__name__
