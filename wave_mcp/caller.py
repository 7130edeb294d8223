"""The Wave key of the caller being served, when an HTTP caller sent its own (see `http`).

A context variable: the HTTP layer sets it around one request, the API client sends it instead of the configured
key, and the log filter scrubs it. Outside such a request it is None and the configured key is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["CALLER_KEY_HEADER", "caller_key", "current_caller_key"]

CALLER_KEY_HEADER = "X-Wave-Api-Key"
"""The request header in which an HTTP caller may send its own Wave key."""

_caller_key: ContextVar[str | None] = ContextVar("wave_mcp_caller_key", default=None)


@contextmanager
def caller_key(key: str | None) -> Iterator[None]:
    """Use `key` for every Wave request made inside this block (and the tasks it starts)."""
    token = _caller_key.set(key or None)
    try:
        yield
    finally:
        _caller_key.reset(token)


def current_caller_key() -> str | None:
    """The key of the caller being served, or None to use the configured one."""
    return _caller_key.get()
