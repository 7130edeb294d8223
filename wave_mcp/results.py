"""Reports as MCP tool results, and WaveError as the tool error the model reads: one place for both translations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent

from wave_mcp.errors import WaveError
from wave_mcp.models import RunReport
from wave_mcp.reports import render_text

__all__ = ["error_result", "tool_errors", "tool_result"]


def tool_result(report: RunReport) -> CallToolResult:
    """The tool result of a report: the text for the model and the structured content (the service masked both)."""
    return CallToolResult(
        content=[TextContent(type="text", text=render_text(report))],
        structured_content=report.model_dump(mode="json"),
    )


def error_result(exc: WaveError) -> CallToolResult:
    """The tool result of a failure, as a tool error reaches the client: its message, `isError`."""
    return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Every WaveError becomes a ToolError, whose message the model reads (other exceptions are masked)."""
    try:
        yield
    except WaveError as exc:
        raise ToolError(str(exc)) from None
