"""The wheel and the MCP Bundle as users get them: built, checked, installed where nothing else is, and started.

Built once per session (module-scoped fixtures). The wheel goes into an empty venv from the package index (uv's
cache makes repeats fast), which also leaves in uv's cache every package the bundle locks. The bundle's own command
then runs exactly as its manifest says, with uv offline: it installs from that cache and cannot reach the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.external import node_tool
from tests.helpers import EXAMPLE_ID, EXAMPLE_PARAMS, ROOT
from wave_mcp import __version__

pytestmark = pytest.mark.stdio

TOOLS = ["execute_workflow", "get_run", "list_workflows", "wait_for_run"]
SLOW = 300.0
"""Bound on a build or an install (a guard against hangs, not a speed check)."""
SANDBOX_KEY_FIELD = "sandbox-ignores-this-key"
"""What the test types as the API key in the bundle's form; the sandbox replaces it with its own."""
RESOLVE = """
const [library, manifestPath, directory, userConfig] = process.argv.slice(2);
const { getMcpConfigForManifest } = await import(library);
const { readFileSync } = await import("node:fs");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const config = await getMcpConfigForManifest({
  manifest, extensionPath: directory, systemDirs: {}, userConfig: JSON.parse(userConfig), pathSeparator: "/",
});
process.stdout.write(JSON.stringify(config ?? null));
"""
"""mcpb's own getMcpConfigForManifest (the code Claude Desktop uses): the command line the host would start."""


def uv() -> Path:
    """The uv binary of the dev group."""
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.skip("uv is not installed: uv pip sync requirements.lock (the dev group)")
    return Path(find_uv_bin())


def bare_env(**variables: str) -> dict[str, str]:
    """This environment (certificates, proxies, HOME) without anything that could put the work tree or a venv on
    the path, without WAVE_* settings, uv never downloading a Python; then `variables`."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    base = {name: value for name, value in os.environ.items() if name not in dropped and not name.startswith("WAVE_")}
    return {**base, "LANG": "C.UTF-8", "UV_PYTHON_DOWNLOADS": "never", **variables}


def run(command: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its stdout, or a failure that shows its output."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env if env is not None else bare_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SLOW,
        check=False,
    )
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


# ---- the sdist and the wheel ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it (as `uv build` does by default)."""
    out = tmp_path_factory.mktemp("dist")
    run([uv(), "build", "--quiet", "--python", sys.executable, "--out-dir", out, ROOT], cwd=out)
    return out


def one(folder: Path, pattern: str) -> Path:
    """The single file in `folder` matching `pattern`."""
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def venv(dists: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty venv (uv's: not even pip) with the wheel installed, and nothing of the work tree on its path."""
    place = tmp_path_factory.mktemp("venv")
    target = place / "venv"
    run([uv(), "venv", "--quiet", "--python", sys.executable, target], cwd=place)
    python = target / "bin" / "python"
    empty = subprocess.run(
        [python, "-c", "import wave_mcp"], cwd=place, env=bare_env(), capture_output=True, check=False
    )
    assert empty.returncode != 0, "wave_mcp was importable before the wheel was installed"
    run([uv(), "pip", "install", "--quiet", "--python", python, one(dists, "*.whl")], cwd=place)
    return target


def test_the_sdist_and_the_wheel_pass_twine_check(dists: Path) -> None:
    """`twine check --strict` accepts both files: metadata and README render as PyPI will show them."""
    files = [one(dists, "*.tar.gz"), one(dists, "*.whl")]
    output = run([sys.executable, "-m", "twine", "check", "--strict", *files], cwd=dists, env=dict(os.environ))
    assert output.count("PASSED") == 2


def test_the_wheel_carries_the_example_catalog_and_nothing_of_the_work_tree(dists: Path) -> None:
    """The wheel holds the package with its data (example catalog, py.typed) and the console script, not tests."""
    with zipfile.ZipFile(one(dists, "*.whl")) as wheel:
        names = set(wheel.namelist())
        entry_points = next(name for name in names if name.endswith("entry_points.txt"))
        scripts = wheel.read(entry_points).decode()
    assert {"wave_mcp/examples/catalog.toml", "wave_mcp/py.typed", "wave_mcp/cli.py"} <= names
    assert "wave-mcp = wave_mcp.cli:main" in scripts
    assert not [name for name in names if name.startswith(("tests/", "bench/", "bundle/"))]
    with tarfile.open(one(dists, "*.tar.gz")) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "wave_mcp/examples/catalog.toml"} <= members


def test_the_installed_command_runs_from_the_venv(venv: Path, tmp_path: Path) -> None:
    """`wave-mcp --version` from the venv names this version, and the package comes from the venv."""
    assert run([venv / "bin" / "wave-mcp", "--version"], cwd=tmp_path).strip() == f"wave-mcp {__version__}"
    where = run([venv / "bin" / "python", "-c", "import wave_mcp; print(wave_mcp.__file__)"], cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(venv)


async def list_over_stdio(parameters: StdioServerParameters) -> tuple[list[str], dict[str, Any]]:
    """Start a server as an MCP client does: its tool names and the sandbox's monthly report as listed."""
    async with Client(stdio_client(parameters), read_timeout_seconds=60) as client:
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        listing = (await client.call_tool("list_workflows", {})).structured_content or {}
    report = next(item for item in listing["workflows"] if item["id"] == "monthly-report")
    return names, report


@pytest.mark.anyio
async def test_the_installed_server_answers_over_stdio(venv: Path, tmp_path: Path) -> None:
    """`wave-mcp --sandbox` from the venv lists the tools, and its workflows carry the example catalog's params."""
    parameters = StdioServerParameters(
        command=str(venv / "bin" / "wave-mcp"), args=["--sandbox"], env=bare_env(), cwd=str(tmp_path)
    )
    names, report = await list_over_stdio(parameters)
    assert names == TOOLS
    assert report["source"] == "both" and set(report["params_schema"]["properties"]) == {"month", "year"}


def test_the_installed_demo_runs(venv: Path, tmp_path: Path) -> None:
    """`wave-mcp demo` from the venv runs a workflow against the sandbox to its result (the one-second example
    workflow: tests/test_cli.py runs the default, six-second one)."""
    params = json.dumps(EXAMPLE_PARAMS)
    command: list[str | Path] = [venv / "bin" / "wave-mcp", "demo", "--workflow", EXAMPLE_ID, "--params", params]
    output = run(command, cwd=tmp_path, env=bare_env(COLUMNS="160"))
    assert "of 'My workflow' completed" in output
    assert '"key1": "value 1"' in output


# ---- the MCP Bundle -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcpb() -> tuple[Path, dict[str, str]]:
    """The mcpb CLI from .tools/ and an environment with Node 22 first on PATH (skips, saying how, without it)."""
    return node_tool("mcpb")


@pytest.fixture(scope="module")
def bundle(mcpb: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`bundle/build.py` as `make bundle` runs it: the .mcpb file (its lock comes from the package index)."""
    command, env = mcpb
    out = tmp_path_factory.mktemp("bundle")
    run([sys.executable, ROOT / "bundle" / "build.py", "--mcpb", command, "--uv", uv(), "--out", out], ROOT, env)
    return one(out, "*.mcpb")


@pytest.fixture(scope="module")
def unpacked(bundle: Path, mcpb: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle unpacked by mcpb, as the host unpacks it."""
    command, env = mcpb
    target = tmp_path_factory.mktemp("installed") / "wave-mcp"
    run([command, "unpack", bundle, target], target.parent, env)
    return target


def resolve(mcpb: tuple[Path, dict[str, str]], unpacked: Path, user_config: dict[str, Any]) -> dict[str, Any]:
    """The command line and environment the host starts for this user configuration (mcpb's own code)."""
    command, env = mcpb
    library = (command.parent.parent / "@anthropic-ai" / "mcpb" / "dist" / "index.js").as_uri()
    script = unpacked.parent / "resolve.mjs"
    script.write_text(RESOLVE, encoding="utf-8")
    output = run(["node", script, library, unpacked / "manifest.json", unpacked, json.dumps(user_config)], ROOT, env)
    config: dict[str, Any] = json.loads(output)
    return config


def test_the_bundle_is_named_for_the_version_and_validates(bundle: Path, unpacked: Path, mcpb: Any) -> None:
    """dist's file is wave-mcp-<version>.mcpb; `mcpb validate` accepts its manifest and its icon; it carries the
    lock, the trimmed pyproject and the package with its example catalog, and no tests."""
    command, env = mcpb
    assert bundle.name == f"wave-mcp-{__version__}.mcpb"
    assert "Manifest schema validation passes!" in run([command, "validate", unpacked / "manifest.json"], ROOT, env)
    files = {path.relative_to(unpacked).as_posix() for path in unpacked.rglob("*") if path.is_file()}
    assert {"manifest.json", "icon.png", "pyproject.toml", "uv.lock", "wave_mcp/examples/catalog.toml"} <= files
    assert not [name for name in files if name.startswith(("tests/", ".venv/")) or "__pycache__" in name]
    assert "optional-dependencies" not in (unpacked / "pyproject.toml").read_text(encoding="utf-8")


def test_the_manifest_asks_for_the_settings_and_maps_them(unpacked: Path, mcpb: Any) -> None:
    """The form asks for the key (secret, required), URL, catalog, allow-list and read-only switch; the host turns
    them into WAVE_* variables, with nothing left unreplaced when only the key is filled in."""
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == __version__ and manifest["tools_generated"] is True
    assert manifest["server"]["type"] == "uv"
    fields = manifest["user_config"]
    assert fields["api_key"]["sensitive"] is True and fields["api_key"]["required"] is True
    assert fields["catalog"]["type"] == "file" and fields["read_only"]["type"] == "boolean"
    config = resolve(mcpb, unpacked, {"api_key": SANDBOX_KEY_FIELD})
    assert config["command"] == "uv"
    assert config["args"][:3] == ["run", "--directory", str(unpacked)]
    assert config["env"] == {
        "WAVE_API_KEY": SANDBOX_KEY_FIELD,
        "WAVE_API_URL": "https://api.wave.stream",
        "WAVE_CATALOG": "",
        "WAVE_ALLOWED_WORKFLOWS": "",
        "WAVE_READ_ONLY": "false",
    }
    chosen = resolve(mcpb, unpacked, {"api_key": "k", "read_only": True, "allowed_workflows": "a,b"})
    assert chosen["env"]["WAVE_READ_ONLY"] == "true" and chosen["env"]["WAVE_ALLOWED_WORKFLOWS"] == "a,b"


@pytest.mark.anyio
async def test_the_bundle_s_command_answers_over_stdio(venv: Path, unpacked: Path, mcpb: Any) -> None:
    """The manifest's command, resolved by mcpb and run as the host runs it (uv run in the unpacked bundle, which
    installs the locked packages) with the sandbox switched on, lists the tools and the example catalog.

    Not as the host: uv is offline (UV_OFFLINE: the packages come from uv's cache, filled by the `venv` fixture's
    install of the same dependencies, and nothing can be fetched) and is told which Python to use (the host's uv
    finds or downloads one). Not exercised: Claude Desktop itself, its form and its secret store."""
    config = resolve(mcpb, unpacked, {"api_key": SANDBOX_KEY_FIELD})
    assert config["command"] == "uv"
    env = bare_env(UV_OFFLINE="1", UV_PYTHON=sys.executable, **config["env"], WAVE_SANDBOX="true")
    parameters = StdioServerParameters(command=str(uv()), args=config["args"], env=env, cwd=str(unpacked.parent))
    names, report = await list_over_stdio(parameters)
    assert names == TOOLS
    assert set(report["params_schema"]["properties"]) == {"month", "year"}
    installed = unpacked / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert (installed / "site-packages" / "mcp").is_dir(), "uv did not install the locked packages in the bundle"
