"""The sandbox: a simulated Wave API (Starlette), with demo workflows, deterministic timing and fault injection.

It writes its JSON by hand in the API's own shapes (camelCase, nine fractional digits in timestamps) so that it
checks `models` instead of mirroring them. Routes: `GET /workflows`, `POST /workflows/{id}/execute`,
`GET /runs/{id}`; test hooks under `/_sandbox/` (request log, faults, extra attributes in every run answer). Every
request needs `x-api-key`.

In process, serve it through `SandboxTransport`, which fails the way a network does (resets and timeouts become
httpx2 transport errors); over a socket (uvicorn), an injected reset really drops the connection mid-answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import anyio
import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from wave_mcp.config import SANDBOX_API_KEY

__all__ = [
    "APP_ID",
    "DEMO_WORKFLOWS",
    "FAULTS_AFTER_RUN_CREATED",
    "FAULT_KINDS",
    "SHAPED_FAULTS",
    "Fault",
    "InjectedReset",
    "SandboxState",
    "SandboxTransport",
    "create_app",
    "in_process_transport",
    "wave_timestamp",
]

APP_ID = "2109031a772d090f92f1"
SHAPED_FAULTS = ("surrogate", "deep", "abyss", "many", "trickle")
"""Faults that answer with the real answer, changed: lone surrogates (half an emoji, `"\\ud83d"`) in the workflow's
name, the result and an attribute; a result (and an attribute) nested DEEP_LEVELS deep; the result nested ABYSS_LEVELS
deep, past any parser; the result made of many tiny objects (about `size` bytes, default MANY_BYTES); the answer
trickled a byte every `interval` seconds (default TRICKLE_INTERVAL)."""
FAULT_KINDS = (
    *("500", "502", "503", "504", "429", "reset", "hang", "garbage", "html", "redirect", "huge"),
    *SHAPED_FAULTS,
)
FAULT_ROUTES = ("execute", "get", "list", "any")
FAULTS_AFTER_RUN_CREATED = ("reset", "hang", "502", "504", "garbage", "html", "huge", *SHAPED_FAULTS)
"""On `execute`, these faults strike after the run was created: the API did start it, but its answer is lost or odd."""
HUGE_BYTES = 30_000_000
DEEP_LEVELS = 450
ABYSS_LEVELS = 100_000
MANY_BYTES = 19_000_000
TRICKLE_INTERVAL = 0.2
HALF_EMOJI = "\ud83d"


def wave_timestamp(moment: float) -> str:
    """A timestamp as the API writes it: UTC, nine fractional digits."""
    whole = int(moment)
    nanos = round((moment - whole) * 1e9) % 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def _number(seed: str, low: int, high: int) -> int:
    digest = hashlib.sha256(seed.encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


@dataclass(frozen=True)
class DemoWorkflow:
    """A workflow of the sandbox: how long it runs, whether it fails, and what it returns."""

    id: str
    name: str
    description: str
    seconds: Callable[[dict[str, Any]], float]
    outcome: Callable[[dict[str, Any]], tuple[str, Any]]
    check: Callable[[dict[str, Any]], str | None] = lambda params: None


def _monthly_report(params: dict[str, Any]) -> tuple[str, Any]:
    month, year = str(params.get("month")), params.get("year", 2026)
    seed = f"{year}-{month}"
    return "completed", {
        "month": month,
        "year": year,
        "orders": _number(seed + "o", 800, 2400),
        "revenue_eur": _number(seed + "r", 40_000, 160_000),
        "new_customers": _number(seed + "c", 20, 180),
        "summary": f"Monthly report for {month} {year} is ready.",
    }


def _check_monthly(params: dict[str, Any]) -> str | None:
    if "month" not in params:
        return "missing parameter: month"
    return None


MAX_EXPORT_ROWS = 100_000


def _check_export(params: dict[str, Any]) -> str | None:
    rows = params.get("rows", 5000)
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= MAX_EXPORT_ROWS:
        return f"rows must be a whole number from 0 to {MAX_EXPORT_ROWS}"
    return None


def _export(params: dict[str, Any]) -> tuple[str, Any]:
    rows = int(params.get("rows", 5000))
    return "completed", {
        "count": rows,
        "orders": [
            {"id": f"ord-{i:06d}", "customer": f"customer-{i % 97:03d}", "total_eur": _number(str(i), 5, 900)}
            for i in range(rows)
        ],
    }


def _timer_seconds(params: dict[str, Any]) -> float:
    value = params.get("seconds", 5)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 5.0


DEMO_WORKFLOWS: dict[str, DemoWorkflow] = {
    w.id: w
    for w in (
        DemoWorkflow(
            id="8988f685-2b8c-4a09-9955-150426265d32",
            name="My workflow",
            description="This is my first workflow",
            seconds=lambda params: 1.0,
            outcome=lambda params: ("completed", {"key1": params.get("param1"), "key2": params.get("param2")}),
        ),
        DemoWorkflow(
            id="monthly-report",
            name="Monthly report",
            description="Builds the sales report of one month: orders, revenue and new customers.",
            seconds=lambda params: 6.0,
            outcome=_monthly_report,
            check=_check_monthly,
        ),
        DemoWorkflow(
            id="nightly-import",
            name="Nightly import",
            description="Imports yesterday's orders from the shop database.",
            seconds=lambda params: 2.0,
            outcome=lambda params: (
                "failed",
                {"error": "Source database unreachable: connection refused", "step": "extract"},
            ),
        ),
        DemoWorkflow(
            id="export-orders",
            name="Export orders",
            description="Exports every order as one large JSON document.",
            seconds=lambda params: 1.5,
            outcome=_export,
            check=_check_export,
        ),
        DemoWorkflow(
            id="timer",
            name="Timer",
            description="Waits `seconds` seconds (default 5), then completes. Handy for trying waits.",
            seconds=_timer_seconds,
            outcome=lambda params: ("completed", {"waited_seconds": _timer_seconds(params)}),
        ),
    )
}

_CREATED_AT = "2023-01-25T15:16:35.484854Z"


@dataclass
class Fault:
    """One injected failure: `kind` on the next `times` requests of `route`, once `after` of them have passed."""

    kind: str
    route: str = "any"
    times: int = 1
    retry_after: str | None = None
    after: int = 0
    size: int = MANY_BYTES
    interval: float = TRICKLE_INTERVAL


@dataclass
class SandboxRun:
    """A run in the sandbox's memory."""

    id: str
    workflow: DemoWorkflow
    params: dict[str, Any]
    started_wall: float
    started: float
    seconds: float


@dataclass
class SandboxState:
    """What the sandbox remembers: runs, every request received, and faults still to inject."""

    api_key: str
    time_scale: float
    clock: Callable[[], float]
    runs: dict[str, SandboxRun] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    given_up: list[tuple[str, str]] = field(default_factory=list)
    """Requests held by a `hang` fault whose caller gave up on them (disconnected, or was cancelled in process)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Attributes put into every run answer as they are (any JSON, lone surrogates included): a test hook."""

    def take_fault(self, route: str) -> Fault | None:
        """The next fault for `route`, counting it down."""
        for fault in self.faults:
            if fault.route in (route, "any") and fault.after > 0:
                fault.after -= 1
                return None
            if fault.route in (route, "any") and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def count(self, method: str, prefix: str = "") -> int:
        """How many requests with this method (and path prefix) arrived."""
        return sum(1 for m, path in self.requests if m == method and path.startswith(prefix))


def _workflow_json(workflow: DemoWorkflow) -> dict[str, Any]:
    return {
        "appId": APP_ID,
        "createdAt": _CREATED_AT,
        "description": workflow.description,
        "id": workflow.id,
        "name": workflow.name,
        "updatedAt": _CREATED_AT,
    }


def _run_json(state: SandboxState, run: SandboxRun) -> dict[str, Any]:
    body: dict[str, Any] = {
        "appId": APP_ID,
        "id": run.id,
        "params": run.params,
        "startedAt": wave_timestamp(run.started_wall),
        "status": "running",
        "workflow": _workflow_json(run.workflow),
    }
    if state.clock() - run.started >= run.seconds * state.time_scale:
        status, result = run.workflow.outcome(run.params)
        body["status"] = status
        body["result"] = result
    return body | state.extra


def _run_response(state: SandboxState, run: SandboxRun) -> Response:
    """A run's answer; with `extra` attributes as ASCII JSON, where a lone surrogate travels as its escape."""
    if not state.extra:
        return JSONResponse(_run_json(state, run))
    return Response(json.dumps(_run_json(state, run)).encode(), media_type="application/json")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


class InjectedReset(ConnectionResetError):
    """The sandbox dropping a connection on purpose."""


class _DroppedResponse(Response):
    """Starts a successful answer, sends a few bytes of it, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
        raise InjectedReset("sandbox: connection reset (injected)")


class _QuietInjectedResets(logging.Filter):
    """Keeps uvicorn from logging a traceback for every reset the sandbox injects on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedReset))


class SandboxTransport(httpx2.ASGITransport):
    """The in-process sandbox, failing the way a network does: a connection the app drops becomes
    httpx2.ReadError, and an answer slower than the request's read timeout becomes httpx2.ReadTimeout
    (a bare ASGITransport knows no timeouts and re-raises the app's own exception)."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            with anyio.fail_after(timeout):
                return await super().handle_async_request(request)
        except TimeoutError:
            raise httpx2.ReadTimeout("sandbox: no answer within the read timeout", request=request) from None
        except ConnectionError as exc:
            raise httpx2.ReadError(f"sandbox: {exc}", request=request) from None


class _TrickledResponse(Response):
    """Sends its body a byte every `interval` seconds, until it is all sent or the client goes away."""

    def __init__(self, body: bytes, interval: float) -> None:
        super().__init__(body, media_type="application/json")
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def until_gone() -> None:  # a client that gives up ends the trickle (and lets a server stop)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(until_gone)
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            for index in range(len(self.body)):
                await send({"type": "http.response.body", "body": self.body[index : index + 1], "more_body": True})
                await anyio.sleep(self.interval)
            await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()


def _nested(levels: int) -> bytes:
    return b"[" * levels + b'"bottom"' + b"]" * levels


def _shaped(fault: Fault, answer: Response) -> Response:
    """The real `answer` (a successful one) changed as the shaped fault `fault.kind` says (see SHAPED_FAULTS)."""
    body: bytes = bytes(answer.body)
    if fault.kind == "trickle":
        return _TrickledResponse(body, fault.interval)
    data = json.loads(body)
    if fault.kind == "surrogate":
        for item in data if isinstance(data, list) else [data.get("workflow") or {}]:
            item["name"] = f"{item.get('name')} {HALF_EMOJI}"
        if isinstance(data, dict):
            data["result"] = {"text": f"half an emoji: {HALF_EMOJI}", HALF_EMOJI: [HALF_EMOJI, "\udc00 alone"]}
            data["note"] = HALF_EMOJI
        return Response(json.dumps(data).encode(), media_type="application/json")  # ASCII, with \ud83d escapes
    if not isinstance(data, dict):
        return answer
    data["result"] = "@@"
    if fault.kind == "deep":
        data["trace"] = "@@"
        filler = _nested(DEEP_LEVELS)
    elif fault.kind == "abyss":
        filler = _nested(ABYSS_LEVELS)
    else:
        count = max(fault.size // 9, 1)
        filler = b"[" + b",".join(b'{"i":%d}' % (i % 100) for i in range(count)) + b"]"
    return Response(json.dumps(data).encode().replace(b'"@@"', filler), media_type="application/json")


def in_process_transport() -> SandboxTransport:
    """The sandbox served in this process, as `--sandbox` uses it (serve and check alike)."""
    return SandboxTransport(app=create_app())


async def _fault_response(state: SandboxState, fault: Fault, request: Request) -> Response:
    if fault.kind == "hang":  # until the client gives up: it disconnects or, in process, its task is cancelled
        try:
            while (await request.receive())["type"] != "http.disconnect":
                pass
        finally:
            state.given_up.append((request.method, request.url.path))
        return Response(status_code=499)
    if fault.kind == "reset":
        return _DroppedResponse()
    if fault.kind == "garbage":
        return Response(b'{"id": "run-1", "status": "runn', media_type="application/json")
    if fault.kind == "html":
        page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return Response(page, status_code=502, media_type="text/html")
    if fault.kind == "redirect":
        return Response(status_code=307, headers={"location": "https://elsewhere.example/runs/x"})
    if fault.kind == "huge":
        return Response(
            b'{"id":"x","status":"completed","result":"' + b"x" * HUGE_BYTES + b'"}', media_type="application/json"
        )
    if fault.kind == "429":
        headers = {"retry-after": fault.retry_after} if fault.retry_after else None
        return JSONResponse({"message": "Too many requests"}, status_code=429, headers=headers)
    return _error(int(fault.kind), f"injected failure {fault.kind}")


def create_app(
    *, api_key: str = SANDBOX_API_KEY, time_scale: float = 1.0, clock: Callable[[], float] = time.monotonic
) -> Starlette:
    """The sandbox API. `time_scale` multiplies every run's duration (0.1 makes a 10 s run take 1 s)."""
    state = SandboxState(api_key=api_key, time_scale=time_scale, clock=clock)
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietInjectedResets) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_QuietInjectedResets())

    async def api(request: Request) -> Response:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?")[0]
        state.requests.append((request.method, raw_path))
        if request.headers.get("x-api-key") != state.api_key:
            return _error(401, "Invalid API key")
        parts = [unquote(part) for part in raw_path.strip("/").split("/")]
        if parts[0] == "_sandbox":
            return await _admin(state, request, parts[1:])
        route = _route(request.method, parts)
        if route is None:
            return _error(404, "Not found")
        fault = state.take_fault(route)
        shaped = fault is not None and fault.kind in SHAPED_FAULTS
        if fault is not None and not shaped and not (route == "execute" and fault.kind in FAULTS_AFTER_RUN_CREATED):
            return await _fault_response(state, fault, request)
        response = await _answer(state, request, route, parts)
        if fault is not None and response.status_code == 200:  # the run was created, but its answer is lost or odd
            return _shaped(fault, response) if shaped else await _fault_response(state, fault, request)
        return response

    app = Starlette(routes=[Route("/{path:path}", api, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])
    app.state.sandbox = state
    return app


async def _answer(state: SandboxState, request: Request, route: str, parts: list[str]) -> Response:
    """The answer of `route` when nothing goes wrong."""
    if route == "list":
        return JSONResponse([_workflow_json(w) for w in DEMO_WORKFLOWS.values()])
    if route == "get":
        run = state.runs.get(parts[1])
        return _run_response(state, run) if run else _error(404, f"Run {parts[1]} not found")
    return await _execute(state, request, parts[1])


async def _execute(state: SandboxState, request: Request, workflow_id: str) -> Response:
    """Start a run of a demo workflow, as `POST /workflows/{id}/execute` does."""
    workflow = DEMO_WORKFLOWS.get(workflow_id)
    if workflow is None:
        return _error(404, f"Workflow {workflow_id} not found")
    try:
        params = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "Body is not valid JSON")
    if not isinstance(params, dict):
        return _error(400, "Body must be a JSON object of parameters")
    problem = workflow.check(params)
    if problem:
        return _error(400, problem)
    run = SandboxRun(
        id=str(uuid.uuid4()),
        workflow=workflow,
        params=params,
        started_wall=time.time(),
        started=state.clock(),
        seconds=workflow.seconds(params),
    )
    state.runs[run.id] = run
    return _run_response(state, run)


async def _admin(state: SandboxState, request: Request, parts: list[str]) -> Response:
    """The test hooks under `/_sandbox/`: the request log, fault injection, extra attributes and a reset."""
    if parts == ["requests"] and request.method == "GET":
        return JSONResponse([{"method": m, "path": p} for m, p in state.requests])
    if parts == ["faults"] and request.method == "POST":
        spec = await request.json()
        if spec.get("kind") not in FAULT_KINDS or spec.get("route", "any") not in FAULT_ROUTES:
            return _error(400, f"kind must be one of {FAULT_KINDS}, route one of {FAULT_ROUTES}")
        state.faults.append(
            Fault(
                spec["kind"],
                spec.get("route", "any"),
                int(spec.get("times", 1)),
                spec.get("retry_after"),
                size=int(spec.get("size", MANY_BYTES)),
                interval=float(spec.get("interval", TRICKLE_INTERVAL)),
            )
        )
        return JSONResponse({"faults": len(state.faults)})
    if parts == ["extra"] and request.method == "POST":
        extra = await request.json()
        if not isinstance(extra, dict):
            return _error(400, "extra must be a JSON object of attributes")
        state.extra = extra
        return JSONResponse({"extra": len(extra)})
    if parts == ["reset"] and request.method == "POST":
        state.requests.clear()
        state.given_up.clear()
        state.faults.clear()
        state.extra = {}
        return JSONResponse({"ok": True})
    return _error(404, "Not found")


def _route(method: str, parts: list[str]) -> str | None:
    if method == "GET" and parts == ["workflows"]:
        return "list"
    if method == "POST" and len(parts) == 3 and parts[0] == "workflows" and parts[2] == "execute" and parts[1]:
        return "execute"
    if method == "GET" and len(parts) == 2 and parts[0] == "runs" and parts[1]:
        return "get"
    return None


def serve(
    sock: socket.socket, *, api_key: str = SANDBOX_API_KEY, time_scale: float = 1.0, log_level: str = "warning"
) -> None:
    """Run the sandbox alone on an already bound socket (see `listen.bind`) until interrupted."""
    import uvicorn

    config = uvicorn.Config(create_app(api_key=api_key, time_scale=time_scale), log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])
