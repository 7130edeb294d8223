"""`make bundle`: stage the MCP Bundle's files, check the manifest with mcpb, pack `dist/wave-mcp-<version>.mcpb`.

    python bundle/build.py [--mcpb PATH] [--out DIR]

The bundle is of the `uv` server type: it carries the source and `pyproject.toml`, and the host (Claude Desktop)
installs the dependencies with uv on the user's machine. Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bundle"
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")
"""Besides the package: what uv needs to build and install the project (hatchling reads the readme and licence)."""
DEFAULT_MCPB = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "mcpb"
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


class BundleError(Exception):
    """A step of the build failed; the message says which and what to do."""


def project_version() -> str:
    """The version in pyproject.toml, the one source of the bundle's version."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def stage(into: Path) -> Path:
    """Copy the manifest, icon, project files and package into `into` (emptied first); return the manifest."""
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    version = project_version()
    if manifest["version"] != version:
        raise BundleError(f"manifest.json says version {manifest['version']}, pyproject.toml {version}: align them")
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for name in ("manifest.json", "icon.png"):
        shutil.copy2(HERE / name, into / name)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, into / name)
    shutil.copytree(ROOT / "wave_mcp", into / "wave_mcp", ignore=SKIPPED)
    return into / "manifest.json"


def mcpb(command: Path, *args: str) -> str:
    """Run the mcpb CLI; its output, or BundleError with it."""
    if not command.exists():
        raise BundleError(f"{command} is not installed: run `make bundle` (it installs @anthropic-ai/mcpb with npm)")
    done = subprocess.run([str(command), *args], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise BundleError(f"mcpb {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def build(out: Path, command: Path = DEFAULT_MCPB) -> Path:
    """Stage (in a temporary directory), validate and pack; return the path of the .mcpb file."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"wave-mcp-{project_version()}.mcpb"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="wave-mcp-bundle-") as scratch:
        staged = Path(scratch) / "wave-mcp"
        manifest = stage(staged)
        mcpb(command, "validate", str(manifest))
        mcpb(command, "pack", str(staged), str(target))
    if not target.is_file():
        raise BundleError(f"mcpb pack wrote no {target}")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Build the bundle; print where it is and its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mcpb", type=Path, default=DEFAULT_MCPB, help=f"the mcpb CLI (default: {DEFAULT_MCPB})")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist)")
    args = parser.parse_args(argv)
    try:
        target = build(args.out.resolve(), args.mcpb)
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    print(f"{target} ({target.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
