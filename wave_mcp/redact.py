"""Keeping secrets out of what the server says: the secrets in play, and text and JSON with each one masked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from wave_mcp.caller import current_caller_key

__all__ = ["MASK", "Secrets", "map_json", "redact_json", "redact_text"]

MASK = "***"


class Secrets:
    """The secrets of this server (its API key, its HTTP token) and, while one is served, the HTTP caller's own key.

    The one place that knows which secrets are in play: the API client, the run service and the log filter mask
    through it.
    """

    def __init__(self, configured: Iterable[str] = ()) -> None:
        self._configured = tuple(secret for secret in configured if secret)

    def in_play(self) -> list[str]:
        """Every secret to mask now: the configured ones and the key of the caller being served."""
        caller = current_caller_key()
        return [*self._configured, caller] if caller else list(self._configured)

    def text(self, text: str) -> str:
        """`text` with every secret in play masked."""
        return redact_text(text, self.in_play())

    def json(self, value: Any) -> Any:
        """A copy of a JSON-like value with every secret in play masked in its strings and keys."""
        return redact_json(value, self.in_play())


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """`text` with each non-empty secret replaced by MASK."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_json(value: Any, secrets: Sequence[str]) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, scalars) with secrets masked in every string and key."""
    return map_json(value, lambda text: redact_text(text, secrets))


def map_json(value: Any, text: Callable[[str], str]) -> Any:
    """A copy of a JSON-like value with `text` applied to every string and key (tuples become lists).

    Walks with a stack of its own, so no nesting depth can exhaust Python's recursion limit.
    """

    def mask(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        if isinstance(item, dict):
            return {}
        if isinstance(item, list | tuple):
            return []
        return item

    root = mask(value)
    pending: list[tuple[Any, Any]] = [(value, root)] if isinstance(value, dict | list | tuple) else []
    while pending:
        source, copy = pending.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            masked = mask(item)
            if isinstance(copy, dict):
                copy[text(str(key))] = masked
            else:
                copy.append(masked)
            if isinstance(item, dict | list | tuple):
                pending.append((item, masked))
    return root
