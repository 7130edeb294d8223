"""Helpers that run wave-mcp over HTTP for tests: an ASGI app on a loopback port in a thread, or the real
`python -m wave_mcp serve --transport http` as a subprocess."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.helpers import API_KEY, EXAMPLE_ID, ROOT, GuardedClient, ProgressLog, free_port

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
