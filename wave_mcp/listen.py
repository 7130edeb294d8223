"""The listening socket of `serve --transport http` and `sandbox`, bound before anything says it listens."""

from __future__ import annotations

import errno
import socket

from wave_mcp.errors import ConfigError

__all__ = ["bind"]


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` (as uvicorn binds: SO_REUSEADDR, IPv6 for an address with a colon), or a
    ConfigError in one line: "port N is in use" when another process holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, as getaddrinfo names it for uvicorn: asyncio sets TCP_NODELAY on accepted connections only
    # for sockets that say TCP, and without it every small answer waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} is in use on {host}: stop what holds it, or choose another with --port"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or type(exc).__name__}") from None
    except OverflowError:
        sock.close()
        raise ConfigError(f"port {port} is not a valid port: choose one from 1 to 65535 with --port") from None
    return sock
