"""Client configurations: one shape per MCP client, rendered for a given command.

`wave-mcp config CLIENT` renders them with the absolute command of this installation; the files in
`client-configs/` are the same renderings with a placeholder command (`python -m wave_mcp.clientconfig DIR`
writes them, and a test checks that they are up to date). Standard library only: the CLI imports this at start.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CLIENTS", "PLACEHOLDER_KEY", "Client", "Launch", "installed_command", "render", "write_static"]

SERVER_NAME = "wave"
KEY_VARIABLE = "WAVE_API_KEY"
PLACEHOLDER_KEY = "your-wave-api-key"
VSCODE_INPUT = "wave-api-key"


@dataclass(frozen=True)
class Launch:
    """How a client starts the server: a command and its arguments."""

    command: str
    args: tuple[str, ...] = ()

    def with_sandbox(self, sandbox: bool) -> Launch:
        return Launch(self.command, (*self.args, "--sandbox")) if sandbox else self


def installed_command() -> Launch:
    """This installation, by absolute path: its `wave-mcp` script if it sits beside the interpreter, else
    `python -m wave_mcp` with this interpreter (a venv's own, not the one it links to)."""
    python = Path(sys.executable).absolute()
    script = python.parent / ("wave-mcp.exe" if sys.platform == "win32" else "wave-mcp")
    if script.is_file():
        return Launch(str(script))
    return Launch(str(python), ("-m", "wave_mcp"))


# ---- the shapes -------------------------------------------------------------------------------------------------


def _stdio(launch: Launch, env: dict[str, str] | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {**extra, "command": launch.command, "args": list(launch.args)}
    if env:
        entry["env"] = env
    return entry


def _key(value: str, sandbox: bool) -> dict[str, str] | None:
    return None if sandbox else {KEY_VARIABLE: value}


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _claude_desktop(launch: Launch, sandbox: bool) -> str:
    return _json({"mcpServers": {SERVER_NAME: _stdio(launch, _key(PLACEHOLDER_KEY, sandbox))}})


def _claude_code(launch: Launch, sandbox: bool) -> str:
    # Claude Code expands ${VAR} from the user's environment, so the key stays out of a shared .mcp.json.
    entry = _stdio(launch, _key("${" + KEY_VARIABLE + "}", sandbox), type="stdio")
    return _json({"mcpServers": {SERVER_NAME: entry}})


def _cursor(launch: Launch, sandbox: bool) -> str:
    # Cursor interpolates ${env:NAME} from the environment it was started in.
    return _json({"mcpServers": {SERVER_NAME: _stdio(launch, _key("${env:" + KEY_VARIABLE + "}", sandbox))}})


def _vscode(launch: Launch, sandbox: bool) -> str:
    # VS Code asks once for the key (masked) and keeps it in its secret storage.
    entry = _stdio(launch, _key("${input:" + VSCODE_INPUT + "}", sandbox), type="stdio")
    document: dict[str, Any] = {}
    if not sandbox:
        document["inputs"] = [
            {"type": "promptString", "id": VSCODE_INPUT, "description": "Wave API key", "password": True}
        ]
    document["servers"] = {SERVER_NAME: entry}
    return _json(document)


def _windsurf(launch: Launch, sandbox: bool) -> str:
    # Windsurf interpolates ${env:NAME} in command, args and env.
    return _json({"mcpServers": {SERVER_NAME: _stdio(launch, _key("${env:" + KEY_VARIABLE + "}", sandbox))}})


def _zed(launch: Launch, sandbox: bool) -> str:
    return _json({"context_servers": {SERVER_NAME: _stdio(launch, _key(PLACEHOLDER_KEY, sandbox))}})


def _codex(launch: Launch, sandbox: bool) -> str:
    lines = [
        f"[mcp_servers.{SERVER_NAME}]",
        f"command = {_toml_string(launch.command)}",
        "args = [" + ", ".join(_toml_string(arg) for arg in launch.args) + "]",
    ]
    if not sandbox:
        # env_vars forwards these variables from Codex's own environment: the key is not written here.
        lines.append(f"env_vars = [{_toml_string(KEY_VARIABLE)}]")
    lines.append("tool_timeout_sec = 60")
    return "\n".join(lines) + "\n"


def _continue(launch: Launch, sandbox: bool) -> str:
    lines = [
        "name: Wave workflows",
        "version: 0.1.0",
        "schema: v1",
        "mcpServers:",
        f"  - name: {SERVER_NAME}",
        "    type: stdio",
        f"    command: {_yaml_string(launch.command)}",
        "    args: [" + ", ".join(_yaml_string(arg) for arg in launch.args) + "]",
    ]
    if not sandbox:
        # A secret kept by Continue (Hub secrets or the local .env that Continue reads).
        lines += ["    env:", f'      {KEY_VARIABLE}: "${{{{ secrets.{KEY_VARIABLE} }}}}"']
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable text is a valid TOML basic string


def _yaml_string(value: str) -> str:
    return json.dumps(value)  # and a valid YAML double-quoted scalar


@dataclass(frozen=True)
class Client:
    """One MCP client: its name, where its configuration goes, and how it is rendered."""

    id: str
    title: str
    destination: str
    filename: str
    renderer: Callable[[Launch, bool], str]
    placeholder: Launch = Launch("wave-mcp")

    def static_name(self, sandbox: bool) -> str:
        stem, _, suffix = self.filename.rpartition(".")
        return f"{stem}.sandbox.{suffix}" if sandbox else self.filename


CLIENTS: dict[str, Client] = {
    client.id: client
    for client in (
        Client(
            "claude-desktop",
            "Claude Desktop",
            "claude_desktop_config.json: macOS ~/Library/Application Support/Claude/, Windows %APPDATA%\\Claude\\",
            "claude-desktop.json",
            _claude_desktop,
            # Claude Desktop does not see the shell's PATH: it needs the absolute path.
            Launch("/absolute/path/to/bin/wave-mcp"),
        ),
        Client("claude-code", "Claude Code", ".mcp.json at the project root", "claude-code.json", _claude_code),
        Client("cursor", "Cursor", ".cursor/mcp.json in the project, or ~/.cursor/mcp.json", "cursor.json", _cursor),
        Client("vscode", "VS Code", ".vscode/mcp.json in the workspace", "vscode.json", _vscode),
        Client("windsurf", "Windsurf", "~/.codeium/windsurf/mcp_config.json", "windsurf.json", _windsurf),
        Client("zed", "Zed", "merge into Zed's settings.json (~/.config/zed/settings.json)", "zed.json", _zed),
        Client("codex", "Codex", "append to ~/.codex/config.toml (or .codex/config.toml)", "codex.toml", _codex),
        Client("continue", "Continue", ".continue/mcpServers/wave.yaml in the workspace", "continue.yaml", _continue),
    )
}


def render(client: str, launch: Launch, *, sandbox: bool = False) -> str:
    """The configuration text for `client`, starting the server with `launch`."""
    return CLIENTS[client].renderer(launch.with_sandbox(sandbox), sandbox)


def write_static(directory: Path) -> list[Path]:
    """Write every client's file, and its sandbox variant, with the placeholder command into `directory`."""
    written = []
    for client in CLIENTS.values():
        for sandbox in (False, True):
            path = directory / client.static_name(sandbox)
            path.write_text(render(client.id, client.placeholder, sandbox=sandbox), encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_static(Path(sys.argv[1] if len(sys.argv) > 1 else "client-configs")):
        print(written_path)
