"""Ids, params and sizes: what may be sent to the API and how much of its answers is kept. No I/O."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from urllib.parse import quote

from wave_mcp.errors import InvalidInputError

__all__ = [
    "DESCRIPTION_CHARS",
    "ERROR_BODY_BYTES",
    "EXCERPT_CHARS",
    "KEY_CHARS",
    "MAX_DEPTH",
    "MAX_ID_LENGTH",
    "MAX_PARAMS_BYTES",
    "MAX_PARAMS_DEPTH",
    "NAME_CHARS",
    "REPLACEMENT",
    "SCALAR_CHARS",
    "SMALL_FIELD_CHARS",
    "check_id",
    "encodable",
    "encode_params",
    "has_surrogates",
    "too_deep",
]

MAX_ID_LENGTH = 256
"""Longest workflow or run id accepted from a caller."""
MAX_PARAMS_BYTES = 1_000_000
"""Largest request body (a run's params as JSON) sent to the API."""
MAX_PARAMS_DEPTH = 100
"""Deepest nesting of lists and objects in params."""
ERROR_BODY_BYTES = 65_536
"""Of an answer that is not a success only this much is read: enough for an excerpt."""
EXCERPT_CHARS = 200
"""Longest excerpt of an error body quoted in an error message."""
SMALL_FIELD_CHARS = 2_000
"""`params` and the other attributes each get this many characters (as JSON) in a report; the rest is left out."""
SCALAR_CHARS = 300
"""Longest id, status, name or timestamp copied from the API into a report; longer ones are cut."""
KEY_CHARS = 100
"""Longest attribute name copied into a report."""
NAME_CHARS = 200
"""Longest workflow name in a listing."""
DESCRIPTION_CHARS = 1_000
"""Longest workflow description in a listing."""
MAX_DEPTH = 100
"""Values nested deeper than this are sent as JSON text, not as structure (serialisers stop at about 250 levels)."""
REPLACEMENT = "\ufffd"
"""What a lone UTF-16 surrogate in the API's text becomes: U+FFFD, the replacement character."""

_SURROGATE = re.compile("[\ud800-\udfff]")

_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def check_id(value: str, kind: str) -> str:
    """Refuse ids that could leave their path segment; return the id percent-encoded as one segment."""
    if not value or not value.strip():
        raise InvalidInputError(f"The {kind} id is empty: pass the id exactly as listed.")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(f"The {kind} id is {len(value)} characters long; ids have at most {MAX_ID_LENGTH}.")
    if value in (".", ".."):
        raise InvalidInputError(f"{value!r} is not a valid {kind} id.")
    if any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in value):
        raise InvalidInputError(f"The {kind} id contains control characters: pass the id exactly as listed.")
    return quote(value, safe="")


def encode_params(params: dict[str, Any]) -> bytes:
    """The request body: `params` as compact UTF-8 JSON, at most MAX_PARAMS_BYTES; InvalidInputError otherwise."""
    if too_deep(params, MAX_PARAMS_DEPTH):
        raise InvalidInputError(f"params is nested more than {MAX_PARAMS_DEPTH} levels deep: send a flatter object.")
    try:
        body = json.dumps(params, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as exc:
        why = "it is nested too deeply" if isinstance(exc, RecursionError) else _first_line(exc)
        raise InvalidInputError(
            f"params cannot be sent as JSON ({why}): pass plain JSON values (no NaN or Infinity)."
        ) from None
    if len(body) > MAX_PARAMS_BYTES:
        raise InvalidInputError(
            f"params is {len(body):,} bytes as JSON; at most {MAX_PARAMS_BYTES:,} bytes can be sent."
        )
    return body


def has_surrogates(text: str) -> bool:
    """True when `text` holds a lone UTF-16 surrogate (half of a pair), which no UTF-8 encoder accepts."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def encodable(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so that it can be written as UTF-8 anywhere."""
    return _SURROGATE.sub(REPLACEMENT, text) if has_surrogates(text) else text


def too_deep(value: Any, limit: int) -> bool:
    """True when `value` nests lists and objects more than `limit` levels deep (checked without recursion).

    Wide lists and objects are scanned for containers at C speed (`map(type, ...)`) before any is visited.
    """
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        kinds = set(map(type, children))
        if dict in kinds or list in kinds:
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
