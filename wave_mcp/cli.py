"""The command line: flags -> settings -> serve, sandbox, check or demo. `wave-mcp` alone serves MCP on stdio."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from wave_mcp import __version__
from wave_mcp.errors import ConfigError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

__all__ = ["main", "parse_args"]

COMMANDS = ("serve", "sandbox", "check", "demo", "config")


def _setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (`--api-url` for WAVE_API_URL, ...); absent flags leave the setting alone."""
    from wave_mcp.config import Settings

    group = parser.add_argument_group("settings (each also read from WAVE_<NAME> and .env)")
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = f"WAVE_{name.upper()}"
        helptext = f"{info.description} [{env}; {_default_of(info)}]"
        if info.annotation is bool:
            group.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=helptext
            )
        else:
            group.add_argument(flag, dest=name, default=argparse.SUPPRESS, metavar="VALUE", help=helptext)


def _default_of(info: FieldInfo) -> str:
    """How `--help` shows a setting's default: its value, or "not set" / "none"."""
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "default: not set"
    if isinstance(value, list):
        return "default: " + (",".join(value) or "none")
    if isinstance(value, bool):
        return "default: " + ("on" if value else "off")
    return f"default: {value}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wave-mcp",
        description="MCP server for Wave workflows. With no command, serves MCP on stdio.",
    )
    parser.add_argument("--version", action="version", version=f"wave-mcp {__version__}")
    _setting_flags(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve MCP on stdio (the default) or Streamable HTTP")
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP: address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP: port to listen on (default 8000)")
    _setting_flags(serve)
    sandbox = commands.add_parser("sandbox", help="run the sandbox Wave API alone, for other tools to use")
    sandbox.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--key", default=None, help="API key the sandbox accepts (default: sandbox-key)")
    sandbox.add_argument("--time-scale", type=float, default=1.0, help="multiply every run's duration (default 1)")
    check = commands.add_parser("check", help="check the configuration and reach the API")
    _setting_flags(check)
    demo = commands.add_parser("demo", help="a terminal walkthrough: run a workflow through the server, live")
    demo.add_argument("--workflow", help="workflow id to run (needed with a real key; default in the sandbox)")
    demo.add_argument("--params", type=_json_object, help="its parameters as a JSON object")
    _setting_flags(demo)
    from wave_mcp.clientconfig import CLIENTS

    config = commands.add_parser("config", help="print the configuration for an MCP client, for this installation")
    config.add_argument("client", choices=sorted(CLIENTS), metavar="CLIENT", help=", ".join(sorted(CLIENTS)))
    config.add_argument(
        "--sandbox", action="store_true", default=argparse.SUPPRESS, help="a configuration for the sandbox (no key)"
    )
    return parser


def _json_object(text: str) -> dict[str, Any]:
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"month": "March"}\'')
    return value


def _fail(message: str) -> NoReturn:
    print(f"wave-mcp: {message}", file=sys.stderr)
    raise SystemExit(2)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from wave_mcp.config import Settings

    return {name: value for name, value in vars(args).items() if name in Settings.model_fields}


def _serve(overrides: dict[str, Any], args: argparse.Namespace) -> None:
    from wave_mcp.config import load_settings
    from wave_mcp.logs import configure_logging

    settings = load_settings(overrides)
    http = getattr(args, "transport", "stdio") == "http"
    if not http and not settings.key:
        raise ConfigError("WAVE_API_KEY is not set: callers' own keys (WAVE_MCP_HTTP_CALLER_KEYS) work only over HTTP")
    configure_logging(settings.log_level, settings.secrets())
    transport = None
    if settings.sandbox:  # imported only then: the sandbox costs start-up time
        from wave_mcp.sandbox import in_process_transport

        transport = in_process_transport()
    if http:
        from wave_mcp.http import serve_http

        serve_http(settings, host=args.host, port=args.port, transport=transport)
        return
    import anyio

    from wave_mcp.server import build_server
    from wave_mcp.stdio import serve_stdio

    anyio.run(serve_stdio, build_server(settings, transport=transport))


def _sandbox(args: argparse.Namespace) -> None:
    from wave_mcp.config import SANDBOX_API_KEY
    from wave_mcp.listen import bind
    from wave_mcp.sandbox import serve

    key = args.key or SANDBOX_API_KEY
    sock = bind(args.host, args.port)  # "port N is in use" (exit 2) before announcing anything
    print(f"Sandbox Wave API on http://{args.host}:{args.port} (x-api-key: {key}). Ctrl-C stops it.", flush=True)
    serve(sock, api_key=key, time_scale=args.time_scale)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line as `main` reads it: the command, its options and the settings given as flags. An unknown
    command or flag prints the usage and exits with code 2."""
    return _parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `wave-mcp` and `python -m wave_mcp`."""
    args = parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "serve":
            _serve(_overrides(args), args)
        elif command == "sandbox":
            _sandbox(args)
        elif command == "check":
            from wave_mcp.check import run_check

            raise SystemExit(run_check(_overrides(args)))
        elif command == "demo":
            from wave_mcp.demo import run_demo

            raise SystemExit(run_demo(_overrides(args), args.workflow, args.params))
        elif command == "config":
            from wave_mcp.clientconfig import installed_command, render

            print(render(args.client, installed_command(), sandbox=getattr(args, "sandbox", False)), end="")
    except ConfigError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
