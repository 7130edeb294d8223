"""`wave-mcp check`: show each setting and where it came from (key masked), check the catalog, then reach the API
once."""

from __future__ import annotations

import sys
from typing import Any

import anyio

from wave_mcp.catalog import load_catalog
from wave_mcp.client import WaveClient
from wave_mcp.config import MISSING_KEY, Settings, example_catalog_path, load_settings, setting_sources
from wave_mcp.errors import WaveError
from wave_mcp.logs import configure_logging

__all__ = ["format_table", "masked", "run_check", "settings_table"]


def masked(secret: str) -> str:
    """A key as it may be shown: its length and last four characters, only when it is long enough to spare them."""
    tail = secret[-4:] if len(secret) >= 16 else ""
    return f"set, {len(secret)} characters" + (f", ending in …{tail}" if tail else "")


SANDBOX_FORCED = ("api_key", "api_url")
"""Settings that `--sandbox` sets whatever else says (and the example catalog when no other is given)."""


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value) or "(none)"
    return "(not set)" if value is None else str(value)


def settings_table(settings: Settings, overrides: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each setting as (variable, value as shown, where it came from); the key masked or marked as missing."""
    sources = setting_sources(overrides)
    if settings.sandbox:
        forced = [*SANDBOX_FORCED, *(["catalog"] if settings.catalog == example_catalog_path() else [])]
        sources.update(dict.fromkeys(forced, "--sandbox"))
    rows: list[tuple[str, str, str]] = []
    for name in Settings.model_fields:
        value = _show(getattr(settings, name))
        if name == "api_key":
            value = _show_key(settings)
        rows.append((f"WAVE_{name.upper()}", value, sources[name]))
    return rows


def _show_key(settings: Settings) -> str:
    if settings.key:
        return masked(settings.key)
    if settings.mcp_http_caller_keys:
        return "(not set: HTTP callers send their own)"
    return "MISSING: required (or use --sandbox)"


def format_table(rows: list[tuple[str, str, str]]) -> list[str]:
    """The rows in aligned columns, as wide as their longest cell."""
    name_width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    return [f"  {name:<{name_width}}  {value:<{value_width}}  ({source})" for name, value, source in rows]


def run_check(overrides: dict[str, Any]) -> int:
    """Print the configuration, check the catalog, then make one API call: 0 when the API answered, 1 when it
    did not, 2 when the key is missing (after the table, which marks it)."""
    settings = load_settings(overrides, require_key=False)
    configure_logging(settings.log_level, settings.secrets())
    print("wave-mcp configuration:")
    print("\n".join(format_table(settings_table(settings, overrides))))
    if settings.catalog is not None:
        catalog = load_catalog(settings.catalog)  # ConfigError (exit code 2) when invalid
        print(f"Catalog {settings.catalog}: valid, {len(catalog.entries)} workflow(s).")
    if not settings.key and not settings.mcp_http_caller_keys:
        print(f"wave-mcp: {MISSING_KEY}", file=sys.stderr)
        return 2
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
