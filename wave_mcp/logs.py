"""Logging to stderr only (stdout is the MCP channel), with the API key scrubbed from every line."""

from __future__ import annotations

import logging
import sys

from wave_mcp.redact import Secrets

__all__ = ["SecretFilter", "configure_logging"]

QUIET_LIBRARIES = (
    "httpx2",
    "httpcore2",
    "httpx",
    "httpcore",
    "stamina",
    "uvicorn.access",
    "mcp.server.streamable_http",  # "Terminating session: None" at INFO after every stateless HTTP request
)


class SecretFilter(logging.Filter):
    """Replaces each secret (and the key of the HTTP caller being served) in a record's message and traceback
    text with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = Secrets(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._secrets.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._secrets.text(record.stack_info)
        record.msg, record.args = self._secrets.text(message), None
        return True


def configure_logging(level: str, secrets: list[str]) -> None:
    """One stderr handler on the root logger, scrubbing `secrets`; chatty libraries only warn unless DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # stamina logs each scheduled retry as a bare warning; the retries end in our own clear error anyway
    logging.getLogger("stamina").setLevel(logging.DEBUG if level == "DEBUG" else logging.ERROR)
    logging.captureWarnings(True)
