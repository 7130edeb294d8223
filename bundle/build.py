"""`make bundle`: stage the MCP Bundle's files, lock them, check the manifest with mcpb, pack
`dist/wave-mcp-<version>.mcpb`.

    python bundle/build.py [--mcpb PATH] [--uv PATH] [--out DIR]

The bundle is of the `uv` server type: it carries the source, a trimmed `pyproject.toml` and a `uv.lock`, and the
host (Claude Desktop) installs exactly the locked dependencies with `uv run --frozen --no-editable` on the user's
machine (not editable: that would need `editables` besides hatchling). Only the standard library runs here, plus
the mcpb and uv commands.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bundle"
PROJECT_FILES = ("README.md", "LICENSE")
"""Besides the package and pyproject.toml: what hatchling reads when uv builds the project on the user's machine."""
PYPROJECT_TABLES = ("build-system", "project", "project.scripts", "project.urls", "tool.hatch.build.targets.wheel")
"""The tables of pyproject.toml the bundle keeps: no extras (uv would resolve the test tools and agent frameworks
for its lock on the user's machine), no tool settings."""
DEFAULT_MCPB = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "mcpb"
DEFAULT_UV = Path(shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv") or "uv")
"""uv beside this interpreter (the venv's, from the dev group), else on PATH."""
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
    (into / "pyproject.toml").write_text(bundle_pyproject((ROOT / "pyproject.toml").read_text(encoding="utf-8")))
    shutil.copytree(ROOT / "wave_mcp", into / "wave_mcp", ignore=SKIPPED)
    return into / "manifest.json"


def bundle_pyproject(text: str) -> str:
    """pyproject.toml with only the tables in PYPROJECT_TABLES; the project's dependencies are unchanged."""
    kept: list[str] = []
    keep = True
    for line in text.splitlines(keepends=True):
        header = re.match(r"^\[\[?([^\]]+)\]\]?\s*$", line)
        if header:
            keep = header[1].strip() in PYPROJECT_TABLES
        if keep:
            kept.append(line)
    trimmed = "".join(kept)
    expected = {key: value for key, value in tomllib.loads(text)["project"].items() if key != "optional-dependencies"}
    if tomllib.loads(trimmed)["project"] != expected:
        raise BundleError("pyproject.toml lost part of [project] when trimmed for the bundle: check bundle_pyproject")
    return trimmed


def mcpb(command: Path, *args: str) -> str:
    """Run the mcpb CLI; its output, or BundleError with it."""
    if not command.exists():
        raise BundleError(f"{command} is not installed: run `make bundle` (it installs @anthropic-ai/mcpb with npm)")
    done = subprocess.run([str(command), *args], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise BundleError(f"mcpb {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def lock(staged: Path, uv: Path) -> None:
    """Write the bundle's uv.lock (from the package index), so that the host installs exactly these versions."""
    if not uv.exists():
        raise BundleError(f"{uv} is not installed: `pip install uv` (it is in the dev dependency group), or pass --uv")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [str(uv), "lock", "--quiet", "--directory", str(staged)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BundleError(f"uv lock failed:\n{done.stderr}")


def build(out: Path, command: Path = DEFAULT_MCPB, uv: Path = DEFAULT_UV) -> Path:
    """Stage (in a temporary directory), lock, validate and pack; return the path of the .mcpb file."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"wave-mcp-{project_version()}.mcpb"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="wave-mcp-bundle-") as scratch:
        staged = Path(scratch) / "wave-mcp"
        manifest = stage(staged)
        lock(staged, uv)
        mcpb(command, "validate", str(manifest))
        mcpb(command, "pack", str(staged), str(target))
    if not target.is_file():
        raise BundleError(f"mcpb pack wrote no {target}")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Build the bundle; print where it is and its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mcpb", type=Path, default=DEFAULT_MCPB, help=f"the mcpb CLI (default: {DEFAULT_MCPB})")
    parser.add_argument("--uv", type=Path, default=DEFAULT_UV, help=f"uv, to lock the versions (default: {DEFAULT_UV})")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist)")
    args = parser.parse_args(argv)
    try:
        target = build(args.out.resolve(), args.mcpb, args.uv)
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    print(f"{target} ({target.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
