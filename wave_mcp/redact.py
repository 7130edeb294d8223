"""Keeping secrets out of what the server says: text and JSON values with every occurrence masked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["MASK", "redact_json", "redact_text"]

MASK = "***"


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """`text` with each non-empty secret replaced by MASK."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_json(value: Any, secrets: Sequence[str]) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, scalars) with secrets masked in every string and key."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_text(str(key), secrets): redact_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(item, secrets) for item in value]
    return value
