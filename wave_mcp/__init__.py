"""wave-mcp: an MCP server that lets AI assistants start Wave workflows, follow their runs and report results."""

__version__ = "0.1.0"

__all__ = ["__version__"]
