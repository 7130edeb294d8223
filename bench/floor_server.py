"""The call-overhead floor: an MCPServer whose one tool makes a bare httpx2 GET and returns the JSON as is.

`python bench/floor_server.py URL KEY` over stdio, or `... URL KEY --http PORT` over stateless Streamable HTTP on
loopback. What `get_run` costs beyond this is wave-mcp's own work.
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
    if "--http" in sys.argv:
        import uvicorn

        port = int(sys.argv[sys.argv.index("--http") + 1])
        app = server.streamable_http_app(stateless_http=True, json_response=False, host="127.0.0.1")
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        server.run()
