"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`) against `wave-mcp serve
--transport http`, for every server scenario that applies to a server without the suite's fixture tools.

The server runs with the example catalog (the sandbox's workflows), so that its whole surface is there. To add a
scenario, add it to SCENARIOS; resources-list and prompts-list join by themselves while the server offers at least
one resource or prompt.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.external import node_tool
from tests.helpers import ROOT, make_settings, server_env
from tests.servers import Spawned, http_subprocess
from wave_mcp.config import example_catalog_path
from wave_mcp.sandbox import SandboxState
from wave_mcp.server import build_server

pytestmark = [pytest.mark.external, pytest.mark.stdio]

SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"]
"""Scenarios that need none of the suite's fixture tools, resources or prompts. Left out, and why: the
tools-call-*, resources-read-*, prompts-get-*, elicitation-*, json-schema-2020-12 and server-sse-* scenarios call
fixtures by name (test_simple_text, test_reconnection, ...); logging-set-level and completion-complete exercise
capabilities this server does not declare."""

WHEN_OFFERED = {"resources-list": "list_resources", "prompts-list": "list_prompts"}
"""Scenarios that apply once the server offers at least one of these (checked on the server itself)."""


def _offered() -> list[str]:
    server = build_server(make_settings(catalog=example_catalog_path()))

    async def count(method: str) -> int:
        return len(await getattr(server, method)())

    return [scenario for scenario, method in WHEN_OFFERED.items() if anyio.run(count, method)]


@pytest.fixture(scope="module")
def http_server(sandbox_server: tuple[str, SandboxState]) -> Iterator[Spawned]:
    """One server for all scenarios, as a load balancer would see it: stateless, on loopback."""
    api_url, _ = sandbox_server
    with http_subprocess(server_env(api_url, WAVE_CATALOG=str(example_catalog_path()))) as spawned:
        yield spawned


@pytest.mark.parametrize("scenario", SCENARIOS + _offered())
def test_conformance_scenario(scenario: str, http_server: Spawned, tmp_path: Path) -> None:
    """The suite's own checks for this scenario all succeed."""
    executable, env = node_tool("conformance")
    done = subprocess.run(
        [str(executable), "server", "--url", f"{http_server.url}/mcp", "--scenario", scenario, "-o", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    reports = sorted(tmp_path.glob("*/checks.json"))
    assert reports, f"no checks were written:\n{done.stdout}\n{done.stderr}"
    checks = [check for report in reports for check in json.loads(report.read_text())]
    failed = [
        f"{check['id']}: {check.get('errorMessage', check['status'])}"
        for check in checks
        if check["status"] != "SUCCESS"
    ]
    assert checks and not failed, "\n".join(failed)
    assert done.returncode == 0, done.stdout[-2000:]
