"""Streamable HTTP: the MCP server as an ASGI app for remote use, behind any load balancer.

Stateless (no session lives in a process, so any instance can answer any request), loopback by default, Host and
Origin checked against DNS rebinding by the SDK, and in front of it a gate of our own:

- `GET /healthz` answers 200 without credentials, for load balancers;
- with WAVE_MCP_HTTP_TOKEN set, every other request must carry `Authorization: Bearer <token>` (compared in
  constant time), else 401;
- with WAVE_MCP_OAUTH_ISSUER and WAVE_MCP_PUBLIC_URL set instead, every other request must carry an access token
  from that identity provider, for this resource (see `oauth`): the caller's grant then narrows what the guard
  allows;
- with WAVE_MCP_HTTP_CALLER_KEYS on, a caller's `X-Wave-Api-Key` header is used for its Wave requests (see
  `caller`); both credentials are taken out of the request before the MCP layer sees it, so they cannot be
  logged or echoed from there.

Slow or greedy clients are cut off: a request must arrive whole (headers and body) within REQUEST_ARRIVAL_SECONDS
(`GuardedH11Protocol`: uvicorn itself waits forever for headers sent a byte at a time), its headers within
MAX_HEADER_BYTES and its body within MAX_BODY_BYTES (413), and an idle connection is closed after
KEEP_ALIVE_SECONDS.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

import h11
import httpx2
from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from wave_mcp.caller import CALLER_KEY_HEADER, caller_key
from wave_mcp.config import Settings, is_loopback
from wave_mcp.listen import bind
from wave_mcp.server import build_server

__all__ = ["MAX_BODY_BYTES", "MCP_PATH", "GuardedH11Protocol", "create_http_app", "serve_http", "transport_security"]

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
MAX_KEY_LENGTH = 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest request body (one JSON-RPC message; a workflow's params are at most 1 MB of it); larger ones get 413."""
MAX_HEADER_BYTES = 16 * 1024
"""Largest request head (request line and headers); larger ones get 400."""
KEEP_ALIVE_SECONDS = 5
"""An idle connection is closed after this long."""

_AUTHORIZATION = b"authorization"
_CALLER_KEY = CALLER_KEY_HEADER.lower().encode()


def transport_security(settings: Settings, host: str) -> TransportSecuritySettings:
    """Host and Origin rules: loopback names always, the bound address when it is a specific one, and the
    operator's own (WAVE_MCP_HTTP_ALLOWED_HOSTS / _ORIGINS). Requests without an Origin header pass."""
    hosts = [name for loopback in LOOPBACK_HOSTS for name in (loopback, f"{loopback}:*")]
    origins = [
        f"{scheme}://{name}{port}" for scheme in ("http", "https") for name in LOOPBACK_HOSTS for port in ("", ":*")
    ]
    if host not in ("0.0.0.0", "::", ""):
        bound = f"[{host}]" if ":" in host else host
        hosts += [bound, f"{bound}:*"]
    if settings.mcp_public_url is not None:  # the name clients use, by definition
        public = urlsplit(settings.mcp_public_url).netloc
        hosts += [public, f"{public}:*"] if ":" not in public.rsplit("]", 1)[-1] else [public]
    hosts += settings.mcp_http_allowed_hosts
    origins += settings.mcp_http_allowed_origins
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=_unique(hosts), allowed_origins=_unique(origins)
    )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request to arrive whole (headers and body).

    uvicorn bounds idle time between requests (keep-alive) but not the arrival of a request: a client that sends its
    headers a byte at a time keeps a connection, and its memory, forever. Here the clock starts at the connection
    (or at the first byte of a later request) and stops when the request is complete; past `arrival_seconds` the
    connection is closed.
    """

    arrival_seconds = 15.0
    """Seconds a client has to send one whole request."""

    _arrival: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._arrival is None and self._arriving():
            self._arm()
        super().data_received(data)
        if not self._arriving():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arriving(self) -> bool:
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _arm(self) -> None:
        self._disarm()
        self._arrival = self.loop.call_later(self.arrival_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None

    def _too_slow(self) -> None:
        self._arrival = None
        if self._arriving() and not self.transport.is_closing():
            log.info("Closed a connection whose request did not arrive within %g s", self.arrival_seconds)
            self.transport.close()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


class HttpGate:
    """ASGI middleware: health check, bearer token or OAuth, and the caller's own Wave key (see the module
    docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings, verifier: TokenVerifier | None = None) -> None:
        self.app = app
        token = settings.mcp_http_token
        self._token = token.get_secret_value().encode() if token is not None else None
        self._caller_keys = settings.mcp_http_caller_keys
        self._own_key = bool(settings.key)
        self._next: ASGIApp = self._with_caller_key
        if settings.oauth:
            from wave_mcp.oauth import ProtectedResource, verifier_for

            self._next = ProtectedResource(self._with_caller_key, settings, verifier or verifier_for(settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            await _answer(send, 200, {"status": "ok"})
            return
        if self._token is not None:
            refusal = self._check_token(_header(scope["headers"], _AUTHORIZATION))
            if refusal is not None:
                await _answer(send, 401, {"error": refusal}, {"www-authenticate": 'Bearer realm="wave-mcp"'})
                return
        await self._next(scope, receive, send)

    async def _with_caller_key(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request, once its caller is let in, under the caller's own key if it sent one (and allowed)."""
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        key = _header(headers, _CALLER_KEY)
        refusal = self._check_caller_key(key)
        if refusal is not None:
            await _answer(send, 401 if key is None else 400, {"error": refusal})
            return
        stripped = [(name, value) for name, value in headers if name not in (_AUTHORIZATION, _CALLER_KEY)]
        with caller_key(key.decode() if key else None):
            await self.app({**scope, "headers": stripped}, receive, send)

    def _check_token(self, authorization: bytes | None) -> str | None:
        assert self._token is not None
        scheme, _, presented = (authorization or b"").partition(b" ")
        if authorization is None or scheme.lower() != b"bearer" or not presented.strip():
            return "This server needs a bearer token: send 'Authorization: Bearer <token>' (ask its operator)."
        if not hmac.compare_digest(presented.strip(), self._token):
            return "The bearer token was not accepted: check the token configured in your client."
        return None

    def _check_caller_key(self, key: bytes | None) -> str | None:
        if key is None:
            if self._caller_keys and not self._own_key:
                return f"This server has no Wave key of its own: send yours in the {CALLER_KEY_HEADER} header."
            return None
        if not self._caller_keys:
            return (
                f"This server does not take callers' own Wave keys: leave out the {CALLER_KEY_HEADER} header (its "
                "operator can allow them with WAVE_MCP_HTTP_CALLER_KEYS)."
            )
        if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isascii() or any(c < 0x21 for c in key):
            return f"The {CALLER_KEY_HEADER} header does not hold a valid key: send the key alone, without spaces."
        return None


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


async def _answer(send: Send, status: int, body: dict[str, str], extra: dict[str, str] | None = None) -> None:
    content = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    headers += [(name.encode(), value.encode()) for name, value in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def create_http_app(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    transport: httpx2.AsyncBaseTransport | None = None,
    verifier: TokenVerifier | None = None,
) -> ASGIApp:
    """The whole HTTP app: the gate in front of the SDK's stateless Streamable HTTP endpoint at `/mcp`.

    `json_response` stays off: progress notifications need the event stream. With OAuth configured, `verifier`
    replaces the one made from the settings (tests).
    """
    server = build_server(settings, transport=transport)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        transport_security=transport_security(settings, host),
        host=host,
        max_request_body_size=MAX_BODY_BYTES,
    )
    return HttpGate(app, settings, verifier)


def serve_http(settings: Settings, *, host: str, port: int, transport: httpx2.AsyncBaseTransport | None = None) -> None:
    """Serve until interrupted. Logs go through the root logger (stderr, secrets scrubbed)."""
    import uvicorn

    if not is_loopback(host):
        if settings.mcp_http_token is None and not settings.oauth:
            log.warning(
                "Listening on %s without WAVE_MCP_HTTP_TOKEN or WAVE_MCP_OAUTH_ISSUER: anyone who can reach this port "
                "can use this server (and its WAVE_API_KEY, if set). Set one, or keep it behind an authenticating "
                "proxy.",
                host,
            )
        if not settings.mcp_http_allowed_hosts and settings.mcp_public_url is None:
            log.warning(
                "WAVE_MCP_HTTP_ALLOWED_HOSTS is empty: requests whose Host header names this server by another "
                "name than %s or a loopback address are refused (421). List the names clients use.",
                host,
            )
    sock = bind(host, port)  # ConfigError "port N is in use" before a word about listening
    app = create_http_app(settings, host=host, transport=transport)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",
        server_header=False,
        lifespan="on",
        http=GuardedH11Protocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    log.info("Streamable HTTP on http://%s:%d%s", f"[{host}]" if ":" in host else host, port, MCP_PATH)
    if settings.oauth:
        log.info("OAuth: access tokens from %s for %s required", settings.mcp_oauth_issuer, settings.mcp_public_url)
    uvicorn.Server(config).run(sockets=[sock])
