"""Every file in client-configs/ parses, has its client's shape, starts the real entry point, keeps the key the
way its client keeps secrets and names only settings that exist; `wave-mcp config` prints the same shapes with
this installation's command; server.json and the README agree with the package."""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tomllib
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.helpers import ROOT
from wave_mcp import __version__
from wave_mcp.cli import main, parse_args
from wave_mcp.clientconfig import CLIENTS, PLACEHOLDER_KEY, Launch, installed_command, render
from wave_mcp.config import ENV_PREFIX, Settings

CONFIGS = ROOT / "client-configs"
SETTING_NAMES = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
VARIANTS = [(client, sandbox) for client in sorted(CLIENTS) for sandbox in (False, True)]
EXAMPLES = sorted(CONFIGS.glob("*_example.py"))


def parse(text: str, filename: str) -> Any:
    """Parse a configuration as its client would (JSON, TOML or YAML by its name)."""
    if filename.endswith(".json"):
        return json.loads(text)
    if filename.endswith(".toml"):
        return tomllib.loads(text)
    if filename.endswith(".yaml"):
        return yaml.safe_load(text)
    raise AssertionError(f"unknown configuration format: {filename}")


def server_entry(client: str, document: Any) -> dict[str, Any]:
    """The wave server's entry in `client`'s own shape; fails if the shape is not the documented one."""
    if client in ("claude-desktop", "claude-code", "cursor", "windsurf"):
        assert set(document) == {"mcpServers"}
        entry = document["mcpServers"]["wave"]
    elif client == "vscode":
        assert "mcpServers" not in document, "VS Code reads `servers`, not `mcpServers`"
        entry = document["servers"]["wave"]
        assert entry["type"] == "stdio"
    elif client == "zed":
        assert set(document) == {"context_servers"}
        entry = document["context_servers"]["wave"]
    elif client == "codex":
        assert set(document) == {"mcp_servers"}
        entry = document["mcp_servers"]["wave"]
    elif client == "continue":
        assert document["schema"] == "v1" and document["name"] and document["version"]
        (entry,) = document["mcpServers"]
        assert entry["name"] == "wave" and entry["type"] == "stdio"
    else:
        raise AssertionError(f"no shape known for {client}")
    assert isinstance(entry["command"], str) and isinstance(entry["args"], list), "command is one string"
    return dict(entry)


def check_entry_point(entry: dict[str, Any]) -> None:
    """The command starts wave-mcp (the console script or `python -m wave_mcp`) and its arguments parse."""
    command, args = entry["command"], entry["args"]
    if Path(command).name in ("wave-mcp", "wave-mcp.exe"):
        flags = args
    else:
        assert Path(command).name.startswith("python") and args[:2] == ["-m", "wave_mcp"], entry
        flags = args[2:]
    parse_args(flags)  # SystemExit on an unknown flag


def check_secret(client: str, entry: dict[str, Any], document: Any, sandbox: bool) -> None:
    """Only real settings are named, and the key is kept where the client keeps secrets."""
    env: dict[str, str] = entry.get("env") or {}
    forwarded: list[str] = entry.get("env_vars", [])
    assert set(env) | set(forwarded) <= SETTING_NAMES
    if sandbox:
        assert not env and not forwarded and "--sandbox" in entry["args"]
        assert "inputs" not in document
        return
    expected = {
        "claude-desktop": PLACEHOLDER_KEY,
        "zed": PLACEHOLDER_KEY,
        "claude-code": "${WAVE_API_KEY}",
        "cursor": "${env:WAVE_API_KEY}",
        "windsurf": "${env:WAVE_API_KEY}",
        "vscode": "${input:wave-api-key}",
        "continue": "${{ secrets.WAVE_API_KEY }}",
    }
    if client == "codex":
        assert forwarded == ["WAVE_API_KEY"] and not env
        return
    assert env == {"WAVE_API_KEY": expected[client]}
    if client == "vscode":
        (prompt,) = document["inputs"]
        assert prompt == {"type": "promptString", "id": "wave-api-key", "description": "Wave API key", "password": True}


# ---- the files in client-configs/ ----------------------------------------------------------------------------------


def test_every_file_is_known() -> None:
    """client-configs/ holds exactly the rendered files, the examples and the README."""
    rendered = {CLIENTS[client].static_name(sandbox) for client, sandbox in VARIANTS}
    present = {path.name for path in CONFIGS.iterdir()}
    assert present == rendered | {path.name for path in EXAMPLES} | {"README.md"}
    assert len(EXAMPLES) == 4


@pytest.mark.parametrize(("client", "sandbox"), VARIANTS)
def test_static_config(client: str, sandbox: bool) -> None:
    """The file parses, has the client's shape, starts the real entry point, and is what the generator writes
    (regenerate with `make client-configs`)."""
    spec = CLIENTS[client]
    path = CONFIGS / spec.static_name(sandbox)
    text = path.read_text(encoding="utf-8")
    assert text == render(client, spec.placeholder, sandbox=sandbox), f"{path.name} is stale: make client-configs"
    document = parse(text, path.name)
    entry = server_entry(client, document)
    check_entry_point(entry)
    check_secret(client, entry, document, sandbox)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_parses_and_starts_wave_mcp(example: Path) -> None:
    """Each framework example is valid Python, starts wave-mcp, forwards WAVE_* settings and holds no key."""
    source = example.read_text(encoding="utf-8")
    tree = ast.parse(source)
    assert ast.get_docstring(tree), "each example says how to run it"
    assert '"wave-mcp"' in source and '"-m", "wave_mcp"' in source and "--server-command" in source
    assert 'startswith("WAVE_")' in source
    assert "WAVE_API_KEY=" not in source.replace("WAVE_API_KEY=...", "")
    for name in re.findall(r"\bWAVE_[A-Z_]+\b", source):
        assert name in SETTING_NAMES, f"{example.name} names {name}, which is no setting"


# ---- wave-mcp config -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("client", "sandbox"), VARIANTS)
def test_config_command_prints_this_installation(client: str, sandbox: bool) -> None:
    """`wave-mcp config CLIENT` prints a configuration that parses, in the same shape, with an absolute command
    that exists."""
    out = io.StringIO()
    with redirect_stdout(out):
        main(["config", client, *(["--sandbox"] if sandbox else [])])
    document = parse(out.getvalue(), CLIENTS[client].filename)
    entry = server_entry(client, document)
    check_entry_point(entry)
    check_secret(client, entry, document, sandbox)
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    launch = installed_command()
    assert [entry["command"], *entry["args"]] == [launch.command, *launch.with_sandbox(sandbox).args]


def test_sandbox_before_config_gives_the_sandbox_configuration() -> None:
    """`wave-mcp --sandbox config zed` prints the same as `wave-mcp config zed --sandbox`: a sandbox configuration."""
    before, after = io.StringIO(), io.StringIO()
    with redirect_stdout(before):
        main(["--sandbox", "config", "zed"])
    with redirect_stdout(after):
        main(["config", "zed", "--sandbox"])
    assert before.getvalue() == after.getvalue()
    assert "--sandbox" in after.getvalue()


def test_installed_command_falls_back_to_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a wave-mcp script beside the interpreter, the command is that interpreter with -m wave_mcp."""
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.touch()
    monkeypatch.setattr(sys, "executable", str(python))
    assert installed_command() == Launch(str(python), ("-m", "wave_mcp"))
    (python.parent / "wave-mcp").touch()
    assert installed_command() == Launch(str(python.parent / "wave-mcp"))


@pytest.mark.anyio
@pytest.mark.stdio
async def test_printed_config_starts_a_server() -> None:
    """The real `python -m wave_mcp config` output, taken as a client would, starts a working server."""
    done = await anyio.run_process(
        [sys.executable, "-m", "wave_mcp", "config", "claude-code", "--sandbox"], cwd=ROOT, check=True
    )
    entry = json.loads(done.stdout)["mcpServers"]["wave"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=str(ROOT))
    async with Client(params, read_timeout_seconds=30) as client:
        listing = await client.call_tool("list_workflows", {})
    assert not listing.is_error
    assert "monthly-report" in [w["id"] for w in (listing.structured_content or {})["workflows"]]


# ---- registry metadata and README --------------------------------------------------------------------------------


def test_server_json_matches_the_package() -> None:
    """server.json: the registry's shape, this package and version, the key marked secret, real settings only,
    and the same name as the README's mcp-name line."""
    server = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert server["$schema"].endswith("/schemas/2025-12-11/server.schema.json")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert len(server["description"]) <= 100
    assert server["version"] == project["version"] == __version__
    (package,) = server["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["version"] == project["version"] and package["transport"] == {"type": "stdio"}
    variables = {variable["name"]: variable for variable in package["environmentVariables"]}
    assert set(variables) <= SETTING_NAMES
    assert variables["WAVE_API_KEY"]["isSecret"] is True and variables["WAVE_API_KEY"]["isRequired"] is True
    assert all(not v["isSecret"] for name, v in variables.items() if name != "WAVE_API_KEY")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"<!-- mcp-name: {server['name']} -->" in readme


def test_readme_is_short_and_its_links_and_the_docs_links_resolve() -> None:
    """The README stays an overview (at most 12,500 bytes; the details live in docs/), and every relative link in it
    and in docs/ names a file that exists."""
    assert len((ROOT / "README.md").read_bytes()) <= 12_500
    pages = [ROOT / "README.md", ROOT / "client-configs" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to a missing {target}"


def test_docs_document_settings_and_clients() -> None:
    """Every setting is in the configuration table (docs/configuration.md, linked from the README), and the README
    points to every client's file."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert "(docs/configuration.md)" in readme
    for name in sorted(SETTING_NAMES):
        assert f"| `{name}` |" in configuration, f"{name} is missing from docs/configuration.md's table"
    for client in CLIENTS.values():
        assert f"client-configs/{client.filename}" in readme, f"the README does not point to {client.filename}"
    guide = (CONFIGS / "README.md").read_text(encoding="utf-8")
    for path in CONFIGS.iterdir():
        if path.name != "README.md":
            assert path.name in guide, f"client-configs/README.md does not mention {path.name}"
    assert "claude mcp add" in readme
