"""MCP over stdio, hardened against what a client may send: the SDK's server loop behind our own line reader and writer.

Why not the SDK's `stdio_server()`: its reader reads a line of any length whole (a 200 MB line took 800 MB), and a
line it cannot parse (not JSON, or JSON with a lone surrogate such as `"\\ud83d"`, which its parser refuses) is
dropped without an answer, so the client waits forever; its writer stops for good when one message cannot be encoded.
This module replaces just those two ends and feeds the SDK's own server loop (`Server.run`, as the SDK's
`run_stdio_async` does) through memory streams:

- a line longer than MAX_LINE_BYTES is refused (`-32600`, with its id when the line starts as JSON-RPC messages
  usually do) while only its first bytes are kept: the rest is read and dropped;
- a line that is not JSON is answered with `-32700 Parse error` and `id: null`, as JSON-RPC 2.0 asks;
- JSON that is not a valid message gets `-32600` (`-32602` when the cause is a lone surrogate), with its id;
- a message that cannot be encoded is sent with its lone surrogates replaced by U+FFFD, or else answered `-32603`.

While serving, fd 0 reads /dev/null and fd 1 goes to stderr (as the SDK does), so stray prints miss the wire.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

from wave_mcp.limits import encodable, has_surrogates
from wave_mcp.redact import map_json

__all__ = ["MAX_LINE_BYTES", "serve_stdio"]

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 4 * 1024 * 1024
"""Longest message line read (parameters are at most 1 MB as JSON); a longer one is refused, not held."""
READ_CHUNK = 64 * 1024
HEAD_BYTES = 512
"""Of a line too long, this much is kept to find its id."""

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

_LEADING_ID = re.compile(rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")')

Incoming = MemoryObjectSendStream[SessionMessage | Exception]


async def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve `server` on this process's stdin and stdout until stdin ends."""
    lowlevel = server._lowlevel_server  # what the SDK's own run_stdio_async serves; only the two ends differ
    with _claimed_stdio() as (wire_in, wire_out):
        out = _Output(wire_out)
        incoming, received = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        outgoing, to_write = anyio.create_memory_object_stream[SessionMessage](0)
        async with anyio.create_task_group() as group:
            group.start_soon(_read_messages, wire_in, incoming, out)
            group.start_soon(_write_messages, to_write, out)
            await lowlevel.run(received, outgoing, lowlevel.create_initialization_options())
            group.cancel_scope.cancel()


@contextmanager
def _claimed_stdio() -> Iterator[tuple[int, int]]:
    """The wire's two descriptors, private; meanwhile fd 0 reads /dev/null and fd 1 writes to stderr."""
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    try:
        yield wire_in, wire_out
    finally:
        sys.stdout.flush()
        os.dup2(wire_out, 1)
        os.dup2(wire_in, 0)  # wire_in itself stays open: the reading thread may still block on it


class _Output:
    """The wire out: whole lines, one writer at a time, written by a worker thread (a full pipe blocks it only)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = anyio.Lock()

    async def write(self, data: bytes) -> None:
        async with self._lock:
            await anyio.to_thread.run_sync(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    async def error(self, request_id: str | int | None, code: int, message: str) -> None:
        """Answer `request_id` (None: a message whose id is unknown) with a JSON-RPC error."""
        body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
        await self.write(json.dumps(body, ensure_ascii=False).encode() + b"\n")


async def _write_messages(to_write: MemoryObjectReceiveStream[SessionMessage], out: _Output) -> None:
    """Write each message the server sends, as many as are ready in one write."""
    async with to_write:
        async for first in to_write:
            lines = [_encoded(first)]
            while len(lines) < 256:
                try:
                    lines.append(_encoded(to_write.receive_nowait()))
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            await out.write(b"".join(lines))


def _encoded(message: SessionMessage) -> bytes:
    """One message as a line; never raises: what cannot be encoded becomes encodable, or an error for its id."""
    inner = message.message
    try:
        return inner.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
    except Exception:
        log.warning("A message could not be encoded as it was; its lone surrogates are replaced", exc_info=True)
    try:
        data = map_json(inner.model_dump(mode="json", by_alias=True, exclude_unset=True), encodable)
        return json.dumps(data, ensure_ascii=False).encode() + b"\n"
    except Exception:
        log.exception("A message could not be encoded at all")
    request_id = getattr(inner, "id", None)
    if request_id is None:
        return b""
    error = {"code": INTERNAL_ERROR, "message": "The answer could not be encoded."}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode() + b"\n"


async def _read_messages(wire_in: int, incoming: Incoming, out: _Output) -> None:
    """Read lines from the wire, each bounded; pass each message on, or answer what cannot be one."""
    chunks, chunk_out = anyio.create_memory_object_stream[bytes](4)
    token = anyio.lowlevel.current_token()

    def pump() -> None:  # a daemon thread: a read blocked at exit must not keep the process alive
        try:
            while chunk := os.read(wire_in, READ_CHUNK):
                anyio.from_thread.run(chunks.send, chunk, token=token)
        except (OSError, RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            with suppress(RuntimeError):  # the loop has ended
                anyio.from_thread.run_sync(chunks.close, token=token)

    threading.Thread(target=pump, name="wave-mcp-stdin", daemon=True).start()
    async with incoming, chunk_out:
        lines = _Lines()
        async for chunk in chunk_out:
            for line, head in lines.feed(chunk):
                await _handle(line, head, incoming, out)
        for line, head in lines.end():
            await _handle(line, head, incoming, out)


class _Lines:
    """Splits bytes into lines of at most MAX_LINE_BYTES; of a longer line only its head is kept (line is None)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._head: bytes | None = None  # set while a line too long is being skipped

    def feed(self, chunk: bytes) -> list[tuple[bytes | None, bytes]]:
        self._buffer += chunk
        found: list[tuple[bytes | None, bytes]] = []
        start = 0
        while (end := self._buffer.find(b"\n", start)) != -1:
            if self._head is not None:
                found.append((None, self._head))
                self._head = None
            else:
                found.append((bytes(self._buffer[start:end]), b""))
            start = end + 1
        del self._buffer[:start]
        if self._head is None and len(self._buffer) > MAX_LINE_BYTES:
            self._head = bytes(self._buffer[:HEAD_BYTES])
        if self._head is not None:
            self._buffer.clear()
        return found

    def end(self) -> list[tuple[bytes | None, bytes]]:
        """What is left when the input ends: a last line without its newline."""
        if self._head is not None:
            return [(None, self._head)]
        return [(bytes(self._buffer), b"")] if self._buffer.strip() else []


async def _handle(line: bytes | None, head: bytes, incoming: Incoming, out: _Output) -> None:
    """Pass one line on as a message, or answer it with the JSON-RPC error it deserves."""
    if line is None:
        match = _LEADING_ID.match(head)
        request_id = json.loads(match.group(1)) if match else None
        await out.error(
            request_id,
            INVALID_REQUEST,
            f"Invalid Request: the message is longer than {MAX_LINE_BYTES:,} bytes, the most this server reads in "
            "one line (a workflow's params may be at most 1,000,000 bytes of JSON). It was not read.",
        )
        return
    if not line.strip():
        return
    text = line.decode("utf-8", errors="replace")
    try:
        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except Exception as exc:
        refusal = _refusal(text)
        if refusal is None:
            await incoming.send(exc)  # not a request (a broken response or notification): nobody waits for an answer
        else:
            await out.error(*refusal)
        return
    await incoming.send(SessionMessage(message))


def _refusal(text: str) -> tuple[str | int | None, int, str] | None:
    """The error for a line the SDK could not read: its id, code and message; None when no answer is due."""
    try:
        data = json.loads(text)
    except RecursionError:
        return None, INVALID_REQUEST, "Invalid Request: the message is nested too deep to read."
    except ValueError:
        return None, PARSE_ERROR, "Parse error: the line is not JSON. Send one JSON-RPC message per line."
    if not isinstance(data, dict):
        return None, INVALID_REQUEST, "Invalid Request: send one JSON-RPC message (an object) per line."
    raw_id = data.get("id")
    request_id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    if "method" not in data or (request_id is None and "id" not in data):
        return None  # a response or a notification: JSON-RPC answers neither
    if has_surrogates(json.dumps(data, ensure_ascii=False)):
        return (
            request_id,
            INVALID_PARAMS,
            "Invalid params: the message holds a lone UTF-16 surrogate (an escape such as \\ud83d without its other "
            "half), which is not text. Send whole characters; nothing was done.",
        )
    return request_id, INVALID_REQUEST, "Invalid Request: the message is not a valid JSON-RPC 2.0 request."
