"""stdout purity on a real subprocess: every line `python -m wave_mcp` writes to stdout is a JSON-RPC message, in
both eras, while warnings fire, logging runs at DEBUG, a stray `print` happens during serving and the API
misbehaves in every way the sandbox can inject."""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.stdio import stdio_client as spawn_stdio
from mcp.types import CallToolResult, jsonrpc_message_adapter

from tests.helpers import API_KEY, ERAS, EXAMPLE_ID, ROOT, GuardedClient, server_env, text_of
from wave_mcp.sandbox import Fault, SandboxState

pytestmark = [pytest.mark.anyio, pytest.mark.stdio]


NOISE = textwrap.dedent(
    '''
    """Loaded by the interpreter at start (on PYTHONPATH): warnings at start, then, while the MCP transport has
    diverted fd 1 (that is, while serving), a stray print and a warning every 20 ms."""
    import os
    import threading
    import time
    import warnings

    warnings.simplefilter("always")
    warnings.warn("noise: a warning at start-up", UserWarning, stacklevel=1)
    _wire = os.fstat(1)


    def _noise() -> None:
        deadline = time.monotonic() + 60
        while (os.fstat(1).st_ino, os.fstat(1).st_dev) == (_wire.st_ino, _wire.st_dev):
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)
        for number in range(3000):
            if (os.fstat(1).st_ino, os.fstat(1).st_dev) == (_wire.st_ino, _wire.st_dev):
                return  # serving is over: the SDK gave fd 1 back to the wire at shut-down
            print(f"noise: stray print {number}", flush=True)
            warnings.warn(f"noise: warning {number}", RuntimeWarning, stacklevel=1)
            time.sleep(0.02)


    threading.Thread(target=_noise, daemon=True).start()
    '''
)


async def misbehaving_session(client: GuardedClient, state: SandboxState) -> list[CallToolResult]:
    """Tool calls that meet every fault at least once; returns the results."""
    results = [await client.call_tool("list_workflows", {})]
    state.faults.append(Fault("502", "execute"))
    results.append(await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID}))
    started = await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID, "params": {"param1": "a"}})
    results.append(started)
    run_id = (started.structured_content or {})["id"]
    for kind in ("500", "503", "504", "429", "reset", "garbage", "html"):
        state.faults.append(Fault(kind, "get", retry_after="0" if kind == "429" else None))
    seen: list[Any] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    results.append(
        await client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 20}, progress_callback=on_progress)
    )
    for kind in ("hang", "redirect", "huge"):
        state.faults.append(Fault(kind, "get"))
        results.append(await client.call_tool("get_run", {"run_id": run_id}))
    results.append(await client.call_tool("get_run", {"run_id": "../workflows"}))
    results.append(await client.call_tool("get_run", {"run_id": ""}))
    results.append(await client.call_tool("get_run", {"run_id": run_id}))
    assert seen, "progress notifications were sent too"
    return results


@pytest.mark.parametrize("era", ERAS)
async def test_every_stdout_line_is_json_rpc(
    era: str, tmp_path: Path, sandbox_server: tuple[str, SandboxState]
) -> None:
    """Even with noisy start-up, warnings and debug logging, every line on stdout is a JSON-RPC message."""
    url, state = sandbox_server
    state.faults.clear()
    (tmp_path / "sitecustomize.py").write_text(NOISE)
    wire = tmp_path / "stdout.jsonl"
    env = server_env(
        url,
        WAVE_LOG_LEVEL="DEBUG",
        WAVE_REQUEST_TIMEOUT="1",
        PYTHONPATH=f"{tmp_path}:{ROOT}",
        PYTHONWARNINGS="always",
    )
    params = StdioServerParameters(
        command="/bin/sh",
        args=["-c", '"$0" -m wave_mcp | tee "$1"', sys.executable, str(wire)],
        env=env,
        cwd=str(ROOT),
    )
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(spawn_stdio(params, errlog=errlog), mode=era, read_timeout_seconds=60) as session:
            results = await misbehaving_session(GuardedClient(session), state)
        errlog.seek(0)
        stderr = errlog.read()
    state.faults.clear()

    lines = wire.read_text().splitlines()
    assert len(lines) >= len(results)
    for line in lines:
        message = jsonrpc_message_adapter.validate_json(line)
        assert json.loads(line)["jsonrpc"] == "2.0", message

    outcomes = [(r.is_error, text_of(r)) for r in results]
    assert [error for error, _ in outcomes] == [False, True, False, False, True, True, True, True, True, False]
    assert "may or may not have started" in outcomes[1][1]
    assert (results[3].structured_content or {})["status"] == "completed", outcomes[3][1]
    for expected, (_, text) in zip(
        ["did not answer GET", "redirect (HTTP 307)", "larger than", "knows no run '../workflows'", "validation error"],
        outcomes[4:9],
        strict=True,
    ):
        assert expected in text, text

    for noise in ("noise: a warning at start-up", "noise: stray print", "noise: warning", "httpcore2", "DEBUG"):
        assert noise in stderr, f"{noise!r} should have gone to stderr"
    assert API_KEY not in stderr and API_KEY not in wire.read_text()
