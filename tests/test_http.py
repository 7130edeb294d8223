"""Streamable HTTP, with the SDK's own HTTP client in both protocol eras: tools and progress, cancellation, the
bearer token, Host/Origin checks, callers' own keys, several stateless instances behind a round-robin balancer,
and the real `wave-mcp serve --transport http` subprocess."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from tests.helpers import (
    API_KEY,
    ERAS,
    EXAMPLE_ID,
    INITIALIZE,
    LEGACY_HEADERS,
    POLL_INTERVAL_MAX,
    GuardedClient,
    make_settings,
    server_env,
    stays,
    until,
)
from tests.servers import KeyRecorder, app_in_thread, connect, http_subprocess, run_example
from wave_mcp.caller import CALLER_KEY_HEADER, caller_key
from wave_mcp.client import WaveClient
from wave_mcp.config import Settings, is_loopback, load_settings
from wave_mcp.errors import AuthenticationError, ConfigError, UpstreamError
from wave_mcp.http import create_http_app, transport_security
from wave_mcp.logs import SecretFilter
from wave_mcp.sandbox import Fault, SandboxState

pytestmark = pytest.mark.anyio

TOOLS = ["execute_workflow", "get_run", "list_workflows", "wait_for_run"]
TOKEN = "tok_4c1d9b7e2a6f8e0d3b5a"
SERVER_KEY = "wk_server_only_9a8b7c6d5e4f"
"""A key the sandbox rejects: where it is configured, only a caller's own key (API_KEY) works."""


@pytest.fixture
def recorder(sandbox_app: Starlette) -> KeyRecorder:
    """The in-process sandbox behind a recorder of the keys it receives."""
    return KeyRecorder(sandbox_app)


@contextmanager
def serve(recorder: KeyRecorder, **overrides: Any) -> Iterator[str]:
    """An HTTP server over the sandbox with these settings; yields the MCP endpoint's URL."""
    app = create_http_app(make_settings(**overrides), transport=httpx2.ASGITransport(app=recorder))
    with app_in_thread(app) as base:
        yield f"{base}/mcp"


def _errors(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in _errors(inner)]
    return [group]


# ---- tools, progress, cancellation ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_and_progress_over_http(recorder: KeyRecorder, mode: str) -> None:
    """The four tools are listed, and a wait reports progress to the HTTP client before its result."""
    with serve(recorder) as url:
        async with connect(url, mode) as client:
            tools = await client.list_tools()
            assert sorted(tool.name for tool in tools.tools) == TOOLS
            report, seen = await run_example(client)
            fetched = await client.call_tool("get_run", {"run_id": report["id"]})
    assert report["status"] == "completed" and report["timed_out"] is False
    assert report["result"] == {"key1": "a", "key2": None}
    assert (fetched.structured_content or {})["result"] == report["result"]
    assert seen, "no progress notification reached the HTTP client"
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


@pytest.mark.parametrize("mode", ERAS)
async def test_cancellation_stops_polling(recorder: KeyRecorder, sandbox: SandboxState, mode: str) -> None:
    """A cancelled wait sends no further requests. The 2026-07-28 client's cancel reaches the server at once;
    a 2025-11-25 client's cancel notification travels in another stateless request, so its call ends when the
    client closes the connection that carries it."""
    path = ""

    def polls() -> int:
        return sandbox.count("GET", path)

    with serve(recorder) as url:
        async with connect(url, mode) as client:
            started = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 600}})
            run_id = (started.structured_content or {})["id"]
            path = f"/runs/{run_id}"
            sandbox.faults.append(Fault("hang", "get", after=1))  # the second poll is held until its caller gives up
            async with anyio.create_task_group() as group:
                arguments = {"run_id": run_id, "timeout_seconds": 60}
                group.start_soon(partial(client.call_tool, "wait_for_run", arguments))
                await until(lambda: polls() == 2, "the wait's second poll")
                group.cancel_scope.cancel()
            if mode == "auto":
                await until(lambda: bool(sandbox.given_up), "the cancel reaching the wait (its held poll abandoned)")
        if mode == "legacy":
            await until(lambda: bool(sandbox.given_up), "the closed connection ending the wait (its poll abandoned)")
        assert polls() == 2, "the wait had not been polling"
        await stays(lambda: polls() == 2, "polling went on after the cancel", seconds=2 * POLL_INTERVAL_MAX)


# ---- bearer token -------------------------------------------------------------------------------------------------


async def test_token_missing_or_wrong_is_refused(recorder: KeyRecorder) -> None:
    """Without the right bearer token: 401 with a Bearer challenge and nothing reaches the API; the health check
    needs no token."""
    with serve(recorder, mcp_http_token=TOKEN) as url:
        async with httpx2.AsyncClient() as http:
            answers = {
                label: await http.post(url, json=INITIALIZE, headers={**LEGACY_HEADERS, **extra})
                for label, extra in {
                    "missing": {},
                    "wrong": {"authorization": "Bearer " + TOKEN[:-1] + "x"},
                    "basic": {"authorization": "Basic " + TOKEN},
                    "empty": {"authorization": "Bearer"},
                }.items()
            }
            healthy = await http.get(url.removesuffix("/mcp") + "/healthz")
            accepted = await http.post(
                url, json=INITIALIZE, headers={**LEGACY_HEADERS, "authorization": f"Bearer {TOKEN}"}
            )
    for label, answer in answers.items():
        assert answer.status_code == 401, label
        assert answer.headers["www-authenticate"].startswith("Bearer"), label
        assert TOKEN not in answer.text, label
    assert "Authorization: Bearer" in answers["missing"].json()["error"]
    assert "not accepted" in answers["wrong"].json()["error"]
    assert healthy.status_code == 200
    assert accepted.status_code == 200
    assert recorder.seen == [], "a refused request reached the Wave API"


@pytest.mark.parametrize("mode", ERAS)
async def test_token_with_sdk_client(recorder: KeyRecorder, mode: str) -> None:
    """The SDK client works with the token and fails without it, in each era."""
    with serve(recorder, mcp_http_token=TOKEN) as url:
        async with connect(url, mode, {"authorization": f"Bearer {TOKEN}"}) as client:
            listing = await client.call_tool("list_workflows", {})
        with pytest.raises(BaseException) as refused:  # noqa: PT011 - the SDK wraps the error in task groups
            async with connect(url, mode) as client:
                await client.list_tools()
    assert EXAMPLE_ID in [w["id"] for w in (listing.structured_content or {})["workflows"]]
    assert any(isinstance(error, MCPError) for error in _errors(refused.value)), refused.value


def test_a_blank_http_token_stops_the_server_instead_of_turning_authentication_off() -> None:
    """A token variable left empty by a deployment is an error, never "no token"."""
    with pytest.raises(ConfigError, match="WAVE_MCP_HTTP_TOKEN is set but empty"):
        load_settings({"api_key": API_KEY, "mcp_http_token": "   "})


# ---- Host and Origin ---------------------------------------------------------------------------------------------


async def test_host_and_origin_rules(recorder: KeyRecorder) -> None:
    """Foreign Host (421) and Origin (403) are refused, even with a valid token; loopback and configured origins
    pass, and so do requests without an Origin."""
    with serve(recorder, mcp_http_token=TOKEN, mcp_http_allowed_origins=["https://app.example.com"]) as url:
        base = {**LEGACY_HEADERS, "authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient() as http:

            async def status(**extra: str) -> int:
                return (await http.post(url, json=INITIALIZE, headers={**base, **extra})).status_code

            assert await status(host="evil.example.com") == 421
            assert await status(host="evil.example.com:80") == 421
            assert await status(origin="http://evil.example.com") == 403
            assert await status(origin="https://app.example.com.evil.net") == 403
            assert await status(origin="null") == 403
            assert await status(origin="https://app.example.com") == 200
            assert await status(origin="http://localhost:5173") == 200
            assert await status() == 200


def test_transport_security_lists() -> None:
    """Loopback names always; a specific bound address and the operator's names when given; never a wildcard."""
    settings = make_settings(mcp_http_allowed_hosts="mcp.example.com, mcp.example.com:*")
    loopback = transport_security(settings, "127.0.0.1")
    assert loopback.enable_dns_rebinding_protection
    assert {"127.0.0.1:*", "localhost:*", "[::1]:*", "mcp.example.com", "mcp.example.com:*"} <= set(
        loopback.allowed_hosts
    )
    assert "10.1.2.3:*" not in loopback.allowed_hosts
    bound = transport_security(settings, "10.1.2.3")
    assert {"10.1.2.3", "10.1.2.3:*"} <= set(bound.allowed_hosts)
    everywhere = transport_security(make_settings(), "0.0.0.0")
    assert all(not host.startswith("0.0.0.0") and host != "*" for host in everywhere.allowed_hosts)
    assert all(origin.split("://")[0] in ("http", "https") for origin in everywhere.allowed_origins)
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_the_bound_address_is_an_accepted_host_even_on_loopback() -> None:
    """Serving on 127.0.0.2 accepts requests addressed to 127.0.0.2."""
    rules = transport_security(make_settings(), "127.0.0.2")
    assert "127.0.0.2" in (rules.allowed_hosts or [])
    assert "127.0.0.2:*" in (rules.allowed_hosts or [])


# ---- callers' own keys ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_caller_keys(recorder: KeyRecorder, mode: str) -> None:
    """Two callers at once: one with its own key (accepted by the API), one without (the server's key, which
    the API rejects). Each request carries its own caller's key, and no result shows a key."""
    with serve(recorder, api_key=SERVER_KEY, mcp_http_caller_keys=True) as url:
        results: dict[str, Any] = {}

        async def with_own_key() -> None:
            async with connect(url, mode, {CALLER_KEY_HEADER: API_KEY}) as client:
                results["own"] = await run_example(client)

        async def without_key() -> None:
            async with connect(url, mode) as client:
                results["shared"] = await client.call_tool("list_workflows", {})

        async with anyio.create_task_group() as group:
            group.start_soon(with_own_key)
            group.start_soon(without_key)
    report, _ = results["own"]
    assert report["status"] == "completed"
    assert recorder.keys_for(f"/runs/{report['id']}") == {API_KEY}
    assert recorder.keys_for("/workflows/") == {API_KEY}
    assert results["shared"].is_error
    assert "rejected the API key" in results["shared"].content[0].text
    assert recorder.keys_for("/workflows") - {API_KEY} == {SERVER_KEY}
    assert SERVER_KEY not in results["shared"].model_dump_json()


async def test_caller_keys_without_server_key(recorder: KeyRecorder) -> None:
    """With no key of its own, the server refuses callers without one (401) before anything is sent."""
    with serve(recorder, api_key=None, mcp_http_caller_keys=True) as url:
        async with httpx2.AsyncClient() as http:
            refused = await http.post(url, json=INITIALIZE, headers=LEGACY_HEADERS)
            malformed = await http.post(url, json=INITIALIZE, headers={**LEGACY_HEADERS, CALLER_KEY_HEADER: "a b"})
        assert refused.status_code == 401 and CALLER_KEY_HEADER in refused.json()["error"]
        assert malformed.status_code == 400
        assert recorder.seen == []
        async with connect(url, "auto", {CALLER_KEY_HEADER: API_KEY}) as client:
            listing = await client.call_tool("list_workflows", {})
    assert not listing.is_error
    assert recorder.keys_for("/workflows") == {API_KEY}


async def test_caller_key_refused_when_not_enabled(recorder: KeyRecorder) -> None:
    """A caller's key is not silently replaced by the server's: the request is refused with a reason."""
    with serve(recorder) as url:
        async with httpx2.AsyncClient() as http:
            answer = await http.post(url, json=INITIALIZE, headers={**LEGACY_HEADERS, CALLER_KEY_HEADER: API_KEY})
    assert answer.status_code == 400
    assert "WAVE_MCP_HTTP_CALLER_KEYS" in answer.json()["error"]
    assert API_KEY not in answer.text


async def test_caller_key_scrubbed_from_errors_and_logs() -> None:
    """An API answer that echoes the caller's key reaches the model scrubbed, and so does a log line."""

    def echo(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(500, text=f"bad key {request.headers['x-api-key']}")

    settings = make_settings(api_key=SERVER_KEY, mcp_http_caller_keys=True)
    async with WaveClient.open(settings, transport=httpx2.MockTransport(echo)) as client:
        with caller_key(API_KEY), pytest.raises(UpstreamError) as failed:
            await client.get_run("r1")
    assert API_KEY not in str(failed.value) and "bad key ***" in str(failed.value)

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "header was %s", (API_KEY,), None)
    with caller_key(API_KEY):
        SecretFilter([SERVER_KEY]).filter(record)
    assert record.getMessage() == "header was ***"


async def test_a_rejected_caller_key_gets_the_callers_advice() -> None:
    """Over HTTP with callers' keys, a 401 tells the caller to fix its own header, not the operator's setting."""
    transport = httpx2.MockTransport(lambda request: httpx2.Response(401, json={"message": "bad key"}))
    async with WaveClient.open(make_settings(), transport=transport) as client:
        with caller_key("wk_caller_key_0123456789"), pytest.raises(AuthenticationError) as caught:
            await client.get_run("run-1")
        with pytest.raises(AuthenticationError) as server_key:
            await client.get_run("run-1")
    assert CALLER_KEY_HEADER in str(caught.value) and "WAVE_API_KEY" not in str(caught.value)
    assert "WAVE_API_KEY" in str(server_key.value)


def test_caller_keys_setting_rules() -> None:
    """Without a key of its own the server needs caller keys on; a short token is refused."""
    assert make_settings(api_key=None, mcp_http_caller_keys=True).key == ""
    with pytest.raises(ValueError, match="WAVE_API_KEY is not set"):
        make_settings(api_key=None)
    with pytest.raises(ValueError, match="too short"):
        make_settings(mcp_http_token="short")
    with pytest.raises(ValueError, match="set but empty"):
        make_settings(mcp_http_token="  ")
    assert Settings.model_fields["mcp_http_token"].description


# ---- several instances --------------------------------------------------------------------------------------------


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in miniature: each request goes to the next port in turn."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("mode", ERAS)
async def test_instances_behind_round_robin(recorder: KeyRecorder, mode: str) -> None:
    """Two instances, every request to the other one: a run started through one is waited for through the
    other. Works only because no session lives in an instance."""
    settings = make_settings()
    apps = [create_http_app(settings, transport=httpx2.ASGITransport(app=recorder)) for _ in range(2)]
    with app_in_thread(apps[0]) as first, app_in_thread(apps[1]) as second:
        ports = [httpx2.URL(first).port or 0, httpx2.URL(second).port or 0]
        balancer = RoundRobin(ports)
        async with (
            httpx2.AsyncClient(transport=balancer, timeout=httpx2.Timeout(30, read=120)) as http,
            Client(streamable_http_client(f"{first}/mcp", http_client=http), mode=mode) as client,
        ):
            report, _ = await run_example(GuardedClient(client))
    assert report["status"] == "completed"
    assert set(balancer.sent) == set(ports) and len(balancer.sent) >= 2


# ---- the real command ---------------------------------------------------------------------------------------------


def test_cli_serves_http_with_token(sandbox_server: tuple[str, SandboxState]) -> None:
    """`python -m wave_mcp serve --transport http` with WAVE_MCP_HTTP_TOKEN: both eras work with the token, the
    token is refused when absent, and neither key nor token reaches the logs."""
    api_url, _ = sandbox_server
    with http_subprocess(server_env(api_url, WAVE_MCP_HTTP_TOKEN=TOKEN)) as spawned:

        async def scenario() -> list[str]:
            statuses = []
            for mode in ERAS:
                async with connect(f"{spawned.url}/mcp", mode, {"authorization": f"Bearer {TOKEN}"}) as client:
                    report, seen = await run_example(client)
                    assert seen
                    statuses.append(report["status"])
            async with httpx2.AsyncClient() as http:
                refused = await http.post(f"{spawned.url}/mcp", json=INITIALIZE, headers=LEGACY_HEADERS)
            statuses.append(str(refused.status_code))
            return statuses

        assert anyio.run(scenario) == ["completed", "completed", "401"]
    assert "Streamable HTTP on http://127.0.0.1:" in spawned.stderr
    assert TOKEN not in spawned.stderr


def test_cli_refuses_stdio_without_own_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers' keys exist only over HTTP: stdio without WAVE_API_KEY stops at once with a reason."""
    from wave_mcp.cli import main

    monkeypatch.setenv("WAVE_MCP_HTTP_CALLER_KEYS", "true")
    with pytest.raises(SystemExit) as stopped:
        main(["serve"])
    assert stopped.value.code == 2
    assert "only over HTTP" in capsys.readouterr().err


def test_settings_errors_name_the_variables() -> None:
    """A bad token is reported under its variable's name."""
    from wave_mcp.config import load_settings

    with pytest.raises(ConfigError, match="WAVE_MCP_HTTP_TOKEN"):
        load_settings({"api_key": API_KEY, "mcp_http_token": "x"})
    assert json.loads(json.dumps(make_settings(mcp_http_allowed_origins="a,b").mcp_http_allowed_origins)) == [
        "a",
        "b",
    ]


def test_check_shows_http_settings_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    """`wave-mcp check` with only callers' keys: says so, masks the token, and explains why the API was not
    reached."""
    from wave_mcp.check import run_check

    code = run_check({"mcp_http_token": TOKEN, "mcp_http_caller_keys": True, "api_url": "https://wave.test"})
    out = capsys.readouterr().out
    assert code == 1
    assert "(not set: HTTP callers send their own)" in out
    assert TOKEN not in out and "WAVE_MCP_HTTP_TOKEN" in out
    assert f"send your own in the {CALLER_KEY_HEADER} header" in out
