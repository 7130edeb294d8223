"""WaveClient: the Wave API over one pooled httpx2.AsyncClient. HTTP becomes `errors`; only reads are retried."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import httpx2

from wave_mcp import __version__
from wave_mcp.caller import CALLER_KEY_HEADER, current_caller_key
from wave_mcp.config import Settings
from wave_mcp.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidInputError,
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
from wave_mcp.models import Run, Workflow, parse_run, parse_workflows, too_deep
from wave_mcp.redact import redact_json, redact_text

__all__ = [
    "DEADLINE_GRACE",
    "MAX_ID_LENGTH",
    "MAX_PARAMS_BYTES",
    "MAX_PARAMS_DEPTH",
    "WaveClient",
    "check_id",
    "encode_params",
    "parse_retry_after",
    "too_deep",
]

T = TypeVar("T")

MAX_ID_LENGTH = 256
MAX_PARAMS_BYTES = 1_000_000
MAX_PARAMS_DEPTH = 100
RETRY_AFTER_CAP = 30.0
READ_ATTEMPTS = 4
WAIT_INITIAL = 0.25
WAIT_MAX = 3.0
WAIT_JITTER = 0.5
EXCERPT_CHARS = 200
ERROR_BODY_BYTES = 65_536
"""Of an answer that is not a success only this much is read: enough for an excerpt."""
REMEMBERED_RUNS = 2048
POOL_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
"""Connections to the API. Keeping more alive costs CPU: httpcore probes every idle connection whenever a request
starts or ends (with 100 kept alive, a poll cost ~30 % more CPU at 1,000 concurrent waits, see bench/scale.py)."""
DEADLINE_GRACE = 0.5
"""Each request's own timeouts end this long after its call's deadline; a backstop ends the call at twice this."""

_AMBIGUOUS_STATUS = {502, 504}
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def check_id(value: str, kind: str) -> str:
    """Refuse ids that could leave their path segment; return the id percent-encoded as one segment."""
    if not value or not value.strip():
        raise InvalidInputError(f"The {kind} id is empty: pass the id exactly as listed.")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(f"The {kind} id is {len(value)} characters long; ids have at most {MAX_ID_LENGTH}.")
    if value in (".", ".."):
        raise InvalidInputError(f"{value!r} is not a valid {kind} id.")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") for char in value):
        raise InvalidInputError(f"The {kind} id contains control characters: pass the id exactly as listed.")
    return quote(value, safe="")


def encode_params(params: dict[str, Any]) -> bytes:
    """The request body: `params` as compact UTF-8 JSON, at most MAX_PARAMS_BYTES; InvalidInputError otherwise."""
    if too_deep(params, MAX_PARAMS_DEPTH):
        raise InvalidInputError(f"params is nested more than {MAX_PARAMS_DEPTH} levels deep: send a flatter object.")
    try:
        body = json.dumps(params, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as exc:
        why = "it is nested too deeply" if isinstance(exc, RecursionError) else _first_line(exc)
        raise InvalidInputError(
            f"params cannot be sent as JSON ({why}): pass plain JSON values (no NaN or Infinity)."
        ) from None
    if len(body) > MAX_PARAMS_BYTES:
        raise InvalidInputError(
            f"params is {len(body):,} bytes as JSON; at most {MAX_PARAMS_BYTES:,} bytes can be sent."
        )
    return body


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


class WaveClient:
    """The three API calls the server needs, with errors mapped, reads retried and sizes bounded."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        secret: str,
        max_response_bytes: int,
        call_timeout: float | None = None,
    ) -> None:
        self._http = http
        self._secret = secret
        self._max_response_bytes = max_response_bytes
        self._call_timeout = call_timeout if call_timeout is not None else (http.timeout.read or 30.0)
        self._known_workflows: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._last_reads: OrderedDict[tuple[bytes, str], tuple[Run, float]] = OrderedDict()

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
                secret=settings.key,
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
            run = parse_run(self._json(response, content, "POST", path))
        except (InvalidResponseError, ValueError) as exc:
            raise self._unknown_outcome(
                workflow_id, f"the API accepted the request (HTTP {response.status_code}) but its answer was unreadable"
            ) from exc
        self._remember(run)
        self._note_read(run)
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

        run = await self._read(path, what=f"run '{run_id}'", deadline=self._deadline(deadline), parse=parse)
        run = self._enrich(run)
        self._note_read(run)
        return run

    def last_read(self, run_id: str) -> tuple[Run, float] | None:
        """The run as last read while it was running, and when (a `time.monotonic()` value); None otherwise.

        A new wait for that run goes on at its pace from there instead of reading it again at once. Each HTTP
        caller with a key of its own sees only its own reads.
        """
        return self._last_reads.get((_caller_tag(), run_id))

    def _deadline(self, deadline: float | None) -> float:
        return time.monotonic() + self._call_timeout if deadline is None else deadline

    # ---- reads: retried ---------------------------------------------------------------------------------

    async def _read(self, path: str, *, what: str, deadline: float, parse: Callable[[Any], T] = lambda data: data) -> T:
        """GET `path` and parse it, retrying transient failures while the next try can still end by `deadline`."""
        import stamina  # here, not at the top: it and tenacity cost ~10 ms of a start that only lists tools

        async for attempt in stamina.retry_context(
            on=self._retry_hook(deadline),
            attempts=READ_ATTEMPTS,
            timeout=None,
            wait_initial=WAIT_INITIAL,
            wait_max=WAIT_MAX,
            wait_jitter=WAIT_JITTER,
        ):
            with attempt:
                response, content = await self._send_read(path, deadline)
                self._raise_for_status(response, content, "GET", path, what)
                return parse(self._json(response, content, "GET", path))
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    @staticmethod
    def _retry_hook(deadline: float) -> Callable[[Exception], bool | float]:
        """Retry transient errors only, and only when the pause before the next try ends before `deadline`."""
        failures = 0

        def should_retry(exc: Exception) -> bool | float:
            nonlocal failures
            failures += 1
            if not (isinstance(exc, WaveError) and exc.transient):
                return False
            remaining = deadline - time.monotonic()
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                if exc.retry_after > RETRY_AFTER_CAP or exc.retry_after >= remaining:
                    return False
                return float(exc.retry_after)
            longest_pause = min(WAIT_MAX, WAIT_INITIAL * 2.0 ** (failures - 1) + WAIT_JITTER)
            return longest_pause < remaining

        return should_retry

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
        ERROR_BODY_BYTES, for its excerpt. The request's timeouts end at most DEADLINE_GRACE after `deadline`, and a
        backstop raises httpx2.ReadTimeout one more DEADLINE_GRACE later, whatever the transport does.
        """
        headers = {"content-type": "application/json"} if body is not None else {}
        key = current_caller_key()
        if key:
            headers["x-api-key"] = key
        elif not self._secret:
            raise AccessDeniedError(
                f"No Wave API key for this request: send your own in the {CALLER_KEY_HEADER} header (this server "
                "has no WAVE_API_KEY of its own). Nothing was sent."
            )
        remaining = max(deadline - time.monotonic(), 0.0)
        backstop = remaining + 2 * DEADLINE_GRACE
        with anyio.move_on_after(backstop):
            try:
                async with self._http.stream(
                    method, path, content=body, headers=headers, timeout=self._timeout(remaining)
                ) as response:
                    return response, await self._read_body(response, method, path)
            except httpx2.PoolTimeout:
                raise WaveConnectionError(
                    "This server has too many requests to the Wave API in flight (PoolTimeout); nothing was sent. "
                    "Try again shortly."
                ) from None
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                raise WaveConnectionError(
                    f"Could not connect to the Wave API ({_kind(exc)}); nothing was sent. Check WAVE_API_URL and "
                    "the network, then try again."
                ) from None
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
        status = response.status_code
        if 200 <= status < 300:
            return
        where: dict[str, Any] = {"status_code": status, "method": method, "path": path}
        said = self._excerpt(response, content)
        if 300 <= status < 400:
            target = self._origin(response.headers.get("location", ""))
            raise RedirectError(
                f"The Wave API answered {method} {path} with a redirect (HTTP {status}) to {target}. It was not "
                "followed, so the API key stays with the configured origin: set WAVE_API_URL to the API's real "
                "address.",
                **where,
            )
        if status in (401, 403):
            whose = f"the key in your {CALLER_KEY_HEADER} header" if current_caller_key() else "WAVE_API_KEY"
            raise AuthenticationError(
                f"The Wave API rejected the API key (HTTP {status}). Check {whose}: it must be a valid key for "
                f"this API.{said}",
                **where,
            )
        if status == 404:
            hint = "call list_workflows for the valid ids" if what.startswith("workflow") else "check the run id"
            raise NotFoundError(f"The Wave API knows no {what} (HTTP 404): {hint}.{said}", **where)
        if status in (400, 422):
            raise InvalidParametersError(
                f"The Wave API refused the request for {what} as invalid (HTTP {status}).{said} Fix the parameters "
                "and try again.",
                **where,
            )
        if status in (409, 429):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            when = f"after {retry_after:.0f} s" if retry_after is not None else "in a little while"
            raise RateLimitedError(
                f"The Wave API is busy or rate-limiting requests (HTTP {status}): try again {when}.{said}",
                retry_after=retry_after,
                **where,
            )
        if status >= 500:
            raise UpstreamError(
                f"The Wave API failed (HTTP {status}) on {method} {path}. It is not this server's doing: try again "
                f"shortly.{said}",
                **where,
            )
        raise WaveAPIError(f"The Wave API answered {method} {path} with HTTP {status}.{said}", **where)

    def _json(self, response: httpx2.Response, content: bytes, method: str, path: str) -> Any:
        try:
            data = json.loads(content)
        except RecursionError:
            raise self._invalid(response.status_code, method, path, "its JSON is nested too deeply") from None
        except (ValueError, UnicodeDecodeError):
            kind = "an HTML page" if b"<html" in content[:500].lower() else "something that is not JSON"
            raise self._invalid(response.status_code, method, path, f"it sent {kind}") from None
        secrets = self._secrets()
        if b"\\u" in content or any(secret.encode() in content for secret in secrets):
            data = redact_json(data, secrets)  # an answer that echoes a key never passes it on
        return data

    # ---- messages -----------------------------------------------------------------------------------------

    def _invalid(self, status: int, method: str, path: str, why: str) -> InvalidResponseError:
        return InvalidResponseError(
            f"The Wave API's answer to {method} {path} could not be read: {self._scrub(why)}. Try again shortly; if "
            "it persists, check that WAVE_API_URL points at the Wave API.",
            status_code=status,
            method=method,
            path=path,
        )

    def _too_large(self, status: int, method: str, path: str) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"The Wave API's answer to {method} {path} is larger than {self._max_response_bytes:,} bytes, so it was "
            "not read. If the run's result really is that large, the operator can raise WAVE_MAX_RESPONSE_BYTES.",
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

    def _excerpt(self, response: httpx2.Response, content: bytes) -> str:
        if not content.strip():
            return ""
        if b"<html" in content[:500].lower():
            title = _HTML_TITLE.search(content)
            text = f"an HTML page titled {title.group(1).decode(errors='replace')!r}" if title else "an HTML page"
        else:
            text = content.decode(errors="replace")  # whole (error bodies are read to 64 KiB): masked before cut
        text = " ".join("".join(c if c.isprintable() else " " for c in self._scrub(text)).split())
        if len(text) > EXCERPT_CHARS:
            text = text[:EXCERPT_CHARS] + "…"
        return f" The API said: {text}"

    def _secrets(self) -> list[str]:
        """The keys in play for this request: the server's and the HTTP caller's."""
        return [key for key in (self._secret, current_caller_key()) if key]

    def _scrub(self, text: str) -> str:
        return redact_text(text, self._secrets())

    @staticmethod
    def _origin(location: str) -> str:
        try:
            url = httpx2.URL(location) if location else None
        except (httpx2.InvalidURL, ValueError):
            return "an address that is not a valid URL"
        if url is None or not url.host:
            return "another address"
        return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")

    # ---- run names ----------------------------------------------------------------------------------------

    def _remember(self, run: Run) -> None:
        self._known_workflows[run.id] = (run.workflow_id, run.workflow_name)
        while len(self._known_workflows) > REMEMBERED_RUNS:
            self._known_workflows.popitem(last=False)

    def _note_read(self, run: Run) -> None:
        key = (_caller_tag(), run.id)
        self._last_reads.pop(key, None)
        if run.is_running:
            self._last_reads[key] = (run, time.monotonic())
            while len(self._last_reads) > REMEMBERED_RUNS:
                self._last_reads.popitem(last=False)

    def _enrich(self, run: Run) -> Run:
        """Fill in the workflow of a run started here when the API's answer leaves it out."""
        known = self._known_workflows.get(run.id)
        if known is None or (run.workflow_id and run.workflow_name):
            return run
        return run.model_copy(
            update={"workflow_id": run.workflow_id or known[0], "workflow_name": run.workflow_name or known[1]}
        )


def _as_is(data: Any) -> Any:
    return data


def _caller_tag() -> bytes:
    """Tells HTTP callers with keys of their own apart without keeping their keys: a digest, empty for the server's."""
    key = current_caller_key()
    return hashlib.blake2b(key.encode(), digest_size=16).digest() if key else b""


class LazyTransport(httpx2.AsyncBaseTransport):
    """Builds the real transport on the first request: its TLS set-up (about 50 ms) stays off the server's start."""

    def __init__(self, build: Callable[[], httpx2.AsyncBaseTransport]) -> None:
        self._build = build
        self._transport: httpx2.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._transport is None:
            self._transport = self._build()
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


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else _kind(exc)
