"""Settings: every `WAVE_*` variable, its flag, its default, and the checks made at start.

Precedence: command-line flag, then environment, then a `.env` file in the working directory, then the default.
"""

from __future__ import annotations

import ipaddress
import os
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wave_mcp.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "SANDBOX_API_KEY",
    "SANDBOX_API_URL",
    "Settings",
    "example_catalog_path",
    "is_loopback",
    "load_settings",
    "setting_sources",
]

ENV_PREFIX = "WAVE_"
DEFAULT_API_URL = "https://api.wave.stream"
SANDBOX_API_URL = "http://sandbox.wave.invalid"
SANDBOX_API_KEY = "sandbox-key"
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """The server's configuration. Field descriptions are the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=True,
    )

    api_key: SecretStr | None = Field(
        default=None, description="Wave API key, sent as `x-api-key`. Required unless `--sandbox` is used."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="Base URL of the Wave API. Plain `http` only for loopback hosts."
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds to wait for a connection.")
    request_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for one API answer.")
    poll_interval_min: float = Field(
        default=0.5, ge=0.05, le=60, description="Shortest pause between two polls of a run, in seconds."
    )
    poll_interval_max: float = Field(
        default=10.0, ge=0.1, le=300, description="Longest pause between two polls of a run, in seconds."
    )
    wait_default: float = Field(
        default=30.0, ge=0, le=3600, description="Seconds `wait_for_run` waits when the caller gives no timeout."
    )
    wait_max: float = Field(
        default=300.0, gt=0, le=3600, description="Longest wait a caller may ask of `wait_for_run`, in seconds."
    )
    max_result_chars: int = Field(
        default=40_000, ge=1_000, le=5_000_000, description="Most characters of a run's result sent to the model."
    )
    max_response_bytes: int = Field(
        default=8_000_000,
        ge=10_000,
        le=1_000_000_000,
        description="Largest API answer read, in bytes. Parsed, an answer takes up to about 30 times its size in "
        "memory (many tiny objects): the default keeps the server near 300 MB at most.",
    )
    catalog: Path | None = Field(
        default=None,
        description="TOML or JSON file describing workflows: parameters, results, typed tools. With --sandbox, "
        "the example catalog of the sandbox's workflows unless another is given.",
    )
    allowed_workflows: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated workflow ids: only these may be listed or run."
    )
    read_only: bool = Field(default=False, description="Offer no tool that starts a workflow.")
    workflow_tools: bool = Field(default=False, description="Offer one typed tool per catalogued workflow.")
    log_level: LogLevel = Field(default="INFO", description="Level of the log lines written to stderr.")
    sandbox: bool = Field(default=False, description="Serve against the built-in sandbox API: no key, no network.")
    mcp_http_token: SecretStr | None = Field(
        default=None,
        description="Over HTTP: the bearer token every caller must send (`Authorization: Bearer ...`). "
        "Unset: no token is asked for.",
    )
    mcp_http_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Over HTTP: comma-separated Host header values accepted besides loopback ones, e.g. "
        "`mcp.example.com` or `mcp.example.com:*` (any port).",
    )
    mcp_http_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Over HTTP: comma-separated browser Origins accepted besides loopback ones, e.g. "
        "`https://app.example.com`. Requests without an Origin header are not affected.",
    )
    mcp_http_caller_keys: bool = Field(
        default=False,
        description="Over HTTP: let each caller send its own Wave key in the `X-Wave-Api-Key` header, used "
        "instead of WAVE_API_KEY for that caller's requests. With it, WAVE_API_KEY may be left unset.",
    )

    @field_validator("allowed_workflows", "mcp_http_allowed_hosts", "mcp_http_allowed_origins", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("mcp_http_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if not value.get_secret_value().strip():
            raise ValueError("WAVE_MCP_HTTP_TOKEN is set but empty: give it a token, or unset it to serve without one")
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"WAVE_MCP_HTTP_TOKEN is too short: use at least {MIN_TOKEN_LENGTH} random characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return validate_api_url(value)

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.sandbox:
            self.api_url = SANDBOX_API_URL
            self.api_key = SecretStr(SANDBOX_API_KEY)
            if self.catalog is None:
                self.catalog = example_catalog_path()
        elif self.api_key is not None and not self.api_key.get_secret_value().strip():
            self.api_key = None
        if self.api_key is None and not self.mcp_http_caller_keys:
            raise ValueError(
                "WAVE_API_KEY is not set: set it in the environment or pass --api-key "
                "(or try the built-in sandbox with --sandbox)"
            )
        if self.poll_interval_min > self.poll_interval_max:
            raise ValueError("WAVE_POLL_INTERVAL_MIN must not be larger than WAVE_POLL_INTERVAL_MAX")
        if self.wait_default > self.wait_max:
            raise ValueError("WAVE_WAIT_DEFAULT must not be larger than WAVE_WAIT_MAX")
        return self

    @property
    def key(self) -> str:
        """The API key in clear, for the one place that sends it ("" when only callers' own keys are used)."""
        return self.api_key.get_secret_value() if self.api_key is not None else ""

    def secrets(self) -> list[str]:
        """Every configured secret in clear, for the log filter to scrub."""
        values = [self.key]
        if self.mcp_http_token is not None:
            values.append(self.mcp_http_token.get_secret_value())
        return [value for value in values if value]


def example_catalog_path() -> Path:
    """The example catalog shipped inside the package: it describes the sandbox's demo workflows."""
    return Path(str(files("wave_mcp") / "examples" / "catalog.toml"))


def validate_api_url(value: str) -> str:
    """Accept an http(s) base URL; plain http only for loopback hosts. Returns it without a trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("WAVE_API_URL must be an http(s) URL such as https://api.wave.stream")
    if parts.username or parts.password:
        raise ValueError("WAVE_API_URL must not contain a user name or password; put the key in WAVE_API_KEY")
    if parts.query or parts.fragment:
        raise ValueError("WAVE_API_URL must not have a query string or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"WAVE_API_URL uses plain http to {parts.hostname}: use https "
            "(plain http is allowed only for loopback hosts such as 127.0.0.1)"
        )
    return value.strip().rstrip("/")


def is_loopback(host: str) -> bool:
    """True for an address or name (IPv6 in brackets or not) that only this machine can reach."""
    bare = host.strip("[]").lower()
    if bare in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings from flags (`overrides`), environment and `.env`; raise ConfigError in one line."""
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"])
        name = f"{ENV_PREFIX}{field.upper()}"
        problems.append(message if not field or message.startswith(name) else f"{name}: {message}")
    return "; ".join(problems)


def setting_sources(overrides: dict[str, Any], env_file: Path = Path(".env")) -> dict[str, str]:
    """Where each setting's value came from: flag, environment, .env or default."""
    dotenv: dict[str, Any] = {}
    if env_file.is_file():
        from dotenv import dotenv_values

        dotenv = {key.upper(): value for key, value in dotenv_values(env_file).items()}
    sources: dict[str, str] = {}
    for name in Settings.model_fields:
        env_name = f"{ENV_PREFIX}{name.upper()}"
        if name in overrides:
            sources[name] = "flag"
        elif env_name in {key.upper() for key in os.environ}:
            sources[name] = "environment"
        elif env_name in dotenv:
            sources[name] = ".env"
        else:
            sources[name] = "default"
    return sources
