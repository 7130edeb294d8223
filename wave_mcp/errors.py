"""One exception tree for everything wave-mcp can raise. Each message says what happened and what to do.

    WaveError
    ├── ConfigError               bad settings or catalog: the server does not start
    ├── InvalidInputError         an id or params refused before anything was sent
    ├── AccessDeniedError         the operator's allow-list or read-only mode refused it
    ├── WaveConnectionError       no connection (nothing sent), or it broke during a read  (transient)
    ├── WaveTimeoutError          a read got no answer in time                           (transient)
    ├── OutcomeUnknownError       an execute may or may not have started a run
    └── WaveAPIError              the API answered with an error (status, method, path)
        ├── AuthenticationError   401, 403
        ├── NotFoundError         404
        ├── InvalidParametersError 400, 422
        ├── RateLimitedError      409, 429, with retry_after                             (transient)
        ├── UpstreamError         5xx                                                    (transient)
        ├── RedirectError         3xx, never followed with the key
        └── InvalidResponseError  garbled, non-JSON or unexpected answer                 (transient)
            └── ResponseTooLargeError  an answer over WAVE_MAX_RESPONSE_BYTES: not read, not retried

Messages never contain the API key: they are built from our own words, ids and a short, scrubbed excerpt.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConfigError",
    "InvalidInputError",
    "InvalidParametersError",
    "InvalidResponseError",
    "NotFoundError",
    "OutcomeUnknownError",
    "RateLimitedError",
    "RedirectError",
    "ResponseTooLargeError",
    "UpstreamError",
    "WaveAPIError",
    "WaveConnectionError",
    "WaveError",
    "WaveTimeoutError",
]


class WaveError(Exception):
    """Base of every error wave-mcp raises on purpose; `str()` is the message for the user or model."""

    transient: ClassVar[bool] = False
    """True when the same read may succeed if tried again shortly."""


class ConfigError(WaveError):
    """The configuration or the catalog is invalid; the server cannot start."""


class InvalidInputError(WaveError):
    """An argument was refused before any request was made."""


class AccessDeniedError(WaveError):
    """The operator's settings (allow-list, read-only mode) do not permit this."""


class WaveConnectionError(WaveError):
    """No connection to the API (then nothing was sent), or a read's connection broke. An execute raises this only
    in the first case: a broken connection after its request went out is an OutcomeUnknownError."""

    transient = True


class WaveTimeoutError(WaveError):
    """A read request got no answer within the request timeout."""

    transient = True


class OutcomeUnknownError(WaveError):
    """An execute request went out but its answer was lost: the run may have started."""


class WaveAPIError(WaveError):
    """The API answered with an error status."""

    def __init__(self, message: str, *, status_code: int, method: str, path: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.path = path


class AuthenticationError(WaveAPIError):
    """401 or 403: the key was rejected."""


class NotFoundError(WaveAPIError):
    """404: no such workflow or run."""


class InvalidParametersError(WaveAPIError):
    """400 or 422: the API refused the request's content."""


class RateLimitedError(WaveAPIError):
    """409 or 429: busy or rate-limited; `retry_after` is the API's hint in seconds, if any."""

    transient = True

    def __init__(self, message: str, *, status_code: int, method: str, path: str, retry_after: float | None) -> None:
        super().__init__(message, status_code=status_code, method=method, path=path)
        self.retry_after = retry_after


class UpstreamError(WaveAPIError):
    """5xx: the API failed."""

    transient = True


class RedirectError(WaveAPIError):
    """3xx: the API pointed elsewhere; not followed, so the key stays with the configured origin."""


class InvalidResponseError(WaveAPIError):
    """The answer could not be understood (not JSON, too large, or an unexpected shape)."""

    transient = True


class ResponseTooLargeError(InvalidResponseError):
    """The answer was larger than the configured bound; reading it again would not help."""

    transient = False
