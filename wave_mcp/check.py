"""`wave-mcp check`: show each setting and where it came from (key masked), check the catalog, then reach the API
once."""

from __future__ import annotations

from typing import Any

import anyio

from wave_mcp.catalog import load_catalog
from wave_mcp.client import WaveClient
from wave_mcp.config import Settings, load_settings, setting_sources
from wave_mcp.errors import WaveError
from wave_mcp.logs import configure_logging

__all__ = ["masked", "run_check"]


def masked(secret: str) -> str:
    """A key as it may be shown: its length and last four characters, only when it is long enough to spare them."""
    tail = secret[-4:] if len(secret) >= 16 else ""
    return f"set, {len(secret)} characters" + (f", ending in …{tail}" if tail else "")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "(none)"
    return "(not set)" if value is None else str(value)


def run_check(overrides: dict[str, Any]) -> int:
    """Print the configuration and the result of one API call; 0 when the API answered, 1 when it did not."""
    settings = load_settings(overrides)
    configure_logging(settings.log_level, settings.secrets())
    sources = setting_sources(overrides)
    print("wave-mcp configuration:")
    for name in Settings.model_fields:
        value = _show(getattr(settings, name))
        if name == "api_key":
            value = masked(settings.key) if settings.key else "(not set: HTTP callers send their own)"
        print(f"  WAVE_{name.upper():<22} {value:<40} ({sources[name]})")
    if settings.catalog is not None:
        catalog = load_catalog(settings.catalog)  # ConfigError (exit code 2) when invalid
        print(f"Catalog {settings.catalog}: valid, {len(catalog.entries)} workflow(s).")
    return anyio.run(_reach, settings)


async def _reach(settings: Settings) -> int:
    transport = None
    if settings.sandbox:
        from wave_mcp.sandbox import in_process_transport

        transport = in_process_transport()
    print(f"Reaching {settings.api_url} ...")
    async with WaveClient.open(settings, transport=transport) as client:
        try:
            workflows, note = await client.list_workflows()
        except WaveError as exc:
            print(f"FAILED: {exc}")
            return 1
    if workflows is None:
        print(f"OK: the API answered. {note}")
    else:
        print(f"OK: the API answered and lists {len(workflows)} workflow(s).")
    return 0
