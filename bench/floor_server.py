"""The call-overhead floor: an MCPServer whose one tool makes a bare httpx2 GET and returns the JSON as is.

`python bench/floor_server.py URL KEY`. What `get_run` costs beyond this is wave-mcp's own work.
"""

import sys
from typing import Any

import httpx2
from mcp.server.mcpserver import MCPServer

server = MCPServer("floor", log_level="WARNING")  # else each request is logged (rich), ~1 ms
http = httpx2.AsyncClient(base_url=sys.argv[1], headers={"x-api-key": sys.argv[2]})


@server.tool()
async def get(path: str) -> dict[str, Any]:
    """GET a path of the API and return its JSON."""
    response = await http.get(path)
    data: dict[str, Any] = response.json()
    return data


if __name__ == "__main__":
    server.run()
