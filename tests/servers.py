"""Helpers that run wave-mcp for tests: an ASGI app on a loopback port in a thread, the real
`python -m wave_mcp serve --transport http` as a subprocess, or the real `python -m wave_mcp` over stdio spoken to in
raw JSON-RPC lines."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.helpers import API_KEY, EXAMPLE_ID, ROOT, GuardedClient, ProgressLog, free_port, server_env

START_SECONDS = 20.0


@contextmanager
def app_in_thread(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on a loopback port (a free one unless given); yield its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Spawned:
    """A server subprocess: its base URL and, once it has stopped, its stderr."""

    url: str
    stderr: str = ""


@contextmanager
def http_subprocess(env: dict[str, str], *args: str, port: int | None = None) -> Iterator[Spawned]:
    """`python -m wave_mcp serve --transport http --port N` with `env` (N free unless given); waits for `/healthz`.
    On exit it stops the process and checks that its stderr does not hold the test key."""
    port = port or free_port()
    command = [sys.executable, "-m", "wave_mcp", "serve", "--transport", "http", "--port", str(port), *args]
    with tempfile.TemporaryFile("w+") as errlog:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog
        )
        spawned = Spawned(f"http://127.0.0.1:{port}")
        try:
            _wait_healthy(spawned.url, process)
            yield spawned
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            errlog.seek(0)
            spawned.stderr = errlog.read()
    assert API_KEY not in spawned.stderr, "the API key appeared in the HTTP server's stderr"


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with code {process.returncode}"
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the HTTP server did not become healthy")


class KeyRecorder:
    """ASGI middleware in front of the sandbox: records the path and `x-api-key` of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str | None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            values = [value.decode() for name, value in scope["headers"] if name == b"x-api-key"]
            self.seen.append((scope["path"], values[0] if values else None))
        await self.app(scope, receive, send)

    def keys_for(self, prefix: str) -> set[str | None]:
        """The keys sent with requests whose path starts with `prefix`."""
        return {key for path, key in self.seen if path.startswith(prefix)}


@asynccontextmanager
async def connect(url: str, mode: str, headers: dict[str, str] | None = None) -> AsyncIterator[GuardedClient]:
    """The SDK's Streamable HTTP client, sending `headers` with every request."""
    timeout = httpx2.Timeout(30, read=120)
    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=timeout) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield GuardedClient(client)


async def run_example(client: GuardedClient) -> tuple[dict[str, Any], list[float]]:
    """Start the example workflow and wait for it: the report, and the progress values received by then."""
    started = await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": {"param1": "a"}})
    run = started.structured_content or {}
    progress = ProgressLog()
    done = await client.call_tool(
        "wait_for_run", {"run_id": run["id"], "timeout_seconds": 10}, progress_callback=progress
    )
    return done.structured_content or {}, progress.values


def jsonrpc_line(request_id: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    """One JSON-RPC request as a line's bytes (without its newline)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


class StdioLines:
    """`python -m wave_mcp` over stdio, spoken to in raw JSON-RPC lines."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._next_id = 1_000  # above the ids a test writes itself
        self.initialized: dict[str, Any] = {}
        """The answer to `initialize`."""

    def send(self, line: bytes) -> None:
        self._stdin.write(line + b"\n")
        self._stdin.flush()

    def receive(self) -> dict[str, Any]:
        """The next message the server writes."""
        message: dict[str, Any] = json.loads(self._stdout.readline())
        return message

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request with an id of its own; its answer (notifications before it are passed over)."""
        self._next_id += 1
        self.send(jsonrpc_line(self._next_id, method, params))
        while True:
            answer = self.receive()
            if answer.get("id") == self._next_id:
                return answer

    def peak_kib(self) -> int:
        """The server's peak resident memory so far, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0


@contextmanager
def stdio_lines(url: str) -> Iterator[StdioLines]:
    """The real server over stdio against the API at `url`, initialized in the 2025-11-25 era."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wave_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(url),
        cwd=ROOT,
    )
    server = StdioLines(process)
    try:
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        server.initialized = server.request("initialize", init)
        server.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        yield server
    finally:
        try:
            process.communicate(timeout=10)  # closes stdin, reads what is left, closes stdout: no pipe left open
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
