"""Helpers for the catalog and guard-rail tests: catalog files and in-memory clients of a configured server."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client

from tests.helpers import GuardedClient, make_settings
from wave_mcp.config import example_catalog_path
from wave_mcp.server import build_server

EXAMPLE = example_catalog_path()


def write_catalog(directory: Path, text: str, name: str = "catalog.toml") -> Path:
    """Write a catalog file (TOML text is dedented) and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_json_catalog(directory: Path, workflows: list[dict[str, Any]], name: str = "catalog.json") -> Path:
    path = directory / name
    path.write_text(json.dumps({"workflow": workflows}), encoding="utf-8")
    return path


@asynccontextmanager
async def serve(transport: httpx2.ASGITransport, mode: str, **settings: Any) -> AsyncIterator[GuardedClient]:
    """An in-memory client of a server built with these settings (the test key, the sandbox as network)."""
    server = build_server(make_settings(**settings), transport=transport)
    async with Client(server, mode=mode) as client:
        yield GuardedClient(client)
