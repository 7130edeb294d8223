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

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wave_mcp.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "MISSING_KEY",
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
OAUTH_ONLY = ("mcp_public_url", "mcp_oauth_audience", "mcp_oauth_workflows_claim")
"""Settings that mean something only with WAVE_MCP_OAUTH_ISSUER."""
MISSING_KEY = (
    "WAVE_API_KEY is not set: set it in the environment or pass --api-key (or try the built-in sandbox with --sandbox)"
)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """The server's configuration. Field descriptions are the configuration table of docs/configuration.md."""

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
    mcp_oauth_issuer: str | None = Field(
        default=None,
        description="Over HTTP: the issuer URL of the identity provider whose access tokens this server accepts "
        "(OAuth 2.1 resource server; needs WAVE_MCP_PUBLIC_URL). Exactly as its discovery document spells it. "
        "Plain `http` only for loopback hosts.",
    )
    mcp_public_url: str | None = Field(
        default=None,
        description="Over HTTP with OAuth: the URL clients use for the MCP endpoint, e.g. "
        "`https://mcp.example.com/mcp`: the resource tokens must be issued for (their audience).",
    )
    mcp_oauth_audience: str | None = Field(
        default=None,
        description="Over HTTP with OAuth: the audience (`aud`) tokens must carry, when the provider cannot use "
        "WAVE_MCP_PUBLIC_URL (the default) as it is.",
    )
    mcp_oauth_workflows_claim: str | None = Field(
        default=None,
        description="Over HTTP with OAuth: a token claim listing the workflow ids its holder may list, read and "
        "run, e.g. `wave_workflows`; narrows WAVE_ALLOWED_WORKFLOWS. A token without the claim gets none.",
    )

    @field_validator("allowed_workflows", "mcp_http_allowed_hosts", "mcp_http_allowed_origins", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("catalog", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        """An empty WAVE_CATALOG (as a bundle's host sends for an optional file left empty) means no catalog."""
        return None if isinstance(value, str) and not value.strip() else value

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

    @field_validator("mcp_oauth_issuer", "mcp_public_url", mode="before")
    @classmethod
    def _check_oauth_url(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value
        issuer = info.field_name == "mcp_oauth_issuer"
        example = "https://login.example.com/realms/acme" if issuer else "https://mcp.example.com/mcp"
        return validate_url(value, f"{ENV_PREFIX}{str(info.field_name).upper()}", example=example)

    @field_validator("mcp_oauth_audience", "mcp_oauth_workflows_claim", mode="before")
    @classmethod
    def _blank_text_is_none(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.sandbox:
            self.api_url = SANDBOX_API_URL
            self.api_key = SecretStr(SANDBOX_API_KEY)
            if self.catalog is None:
                self.catalog = example_catalog_path()
        elif self.api_key is not None and not self.api_key.get_secret_value().strip():
            self.api_key = None
        problems: list[str] = []
        if self.api_key is None and not self.mcp_http_caller_keys:
            problems.append(MISSING_KEY)
        if self.poll_interval_min > self.poll_interval_max:
            problems.append("WAVE_POLL_INTERVAL_MIN must not be larger than WAVE_POLL_INTERVAL_MAX")
        if self.wait_default > self.wait_max:
            problems.append("WAVE_WAIT_DEFAULT must not be larger than WAVE_WAIT_MAX")
        problems += self._oauth_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _oauth_problems(self) -> list[str]:
        """OAuth needs its issuer and public URL together, and excludes the static token."""
        if self.mcp_oauth_issuer is not None and self.mcp_http_token is not None:
            return [
                "WAVE_MCP_HTTP_TOKEN and WAVE_MCP_OAUTH_ISSUER are both set: choose one (the static token for simple "
                "set-ups, OAuth for connectors and teams)"
            ]
        if self.mcp_oauth_issuer is not None and self.mcp_public_url is None:
            return [
                "WAVE_MCP_OAUTH_ISSUER needs WAVE_MCP_PUBLIC_URL: the URL clients use for the MCP endpoint, e.g. "
                "https://mcp.example.com/mcp"
            ]
        if self.mcp_oauth_issuer is None:
            given = [name for name in OAUTH_ONLY if getattr(self, name) is not None]
            return [f"{ENV_PREFIX}{name.upper()} applies only with WAVE_MCP_OAUTH_ISSUER: set both" for name in given]
        return []

    @property
    def oauth(self) -> bool:
        """True when HTTP callers must bring an access token from WAVE_MCP_OAUTH_ISSUER."""
        return self.mcp_oauth_issuer is not None and self.mcp_public_url is not None

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
    return validate_url(value, "WAVE_API_URL", example=DEFAULT_API_URL).rstrip("/")


def validate_url(value: str, name: str, *, example: str) -> str:
    """Accept an http(s) URL without credentials, query or fragment; plain http only for loopback hosts. Returns it
    stripped of surrounding blanks, otherwise as given (an issuer is compared exactly)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL such as {example}")
    if parts.username or parts.password:
        hint = "; put the key in WAVE_API_KEY" if name == "WAVE_API_URL" else ""
        raise ValueError(f"{name} must not contain a user name or password{hint}")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must not have a query string or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"{name} uses plain http to {parts.hostname}: use https "
            "(plain http is allowed only for loopback hosts such as 127.0.0.1)"
        )
    return value.strip()


def is_loopback(host: str) -> bool:
    """True for an address or name (IPv6 in brackets or not) that only this machine can reach."""
    bare = host.strip("[]").lower()
    if bare in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def load_settings(overrides: dict[str, Any] | None = None, *, require_key: bool = True) -> Settings:
    """Build the settings from flags (`overrides`), environment and `.env`; raise ConfigError in one line that
    names every problem at once, each by its flag when the value came from one.

    With `require_key=False` a missing WAVE_API_KEY alone is no error (for `check`, which shows it as missing).
    """
    flags = dict(overrides or {})
    try:
        return Settings(**flags)
    except ValidationError as exc:
        problems = _problems(exc, flags)
        bad = {_field_of(error) for error in exc.errors()} - {""}
    if bad:  # fields that failed hide the checks across fields: run those again with the bad ones at default
        problems += [problem for problem in _retry_problems(flags, bad) if problem not in problems]
    if problems == [MISSING_KEY] and not require_key:
        settings = Settings(**{**flags, "mcp_http_caller_keys": True})
        return settings.model_copy(update={"mcp_http_caller_keys": False})
    raise ConfigError("; ".join(problems))


def _retry_problems(flags: dict[str, Any], bad: set[str]) -> list[str]:
    """The problems left once the fields in `bad` are at their defaults, leaving out those that name them."""
    defaults = {name: Settings.model_fields[name].get_default(call_default_factory=True) for name in bad}
    try:
        Settings(**{**flags, **defaults})
    except ValidationError as exc:
        names = {f"{ENV_PREFIX}{name.upper()}" for name in bad}
        return [problem for problem in _problems(exc, flags) if not any(name in problem for name in names)]
    return []


def _field_of(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


def _problems(exc: ValidationError, flags: dict[str, Any]) -> list[str]:
    """Each error as `WAVE_NAME: message` (or the message alone when it names the setting itself), followed by
    `(given as --flag)` when the value came from a flag."""
    problems: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = _field_of(error)
        name = f"{ENV_PREFIX}{field.upper()}"
        given = f" (given as --{field.replace('_', '-')})" if field in flags else ""
        if not field:
            problems += message.split("; ")
        else:
            problems.append((message if message.startswith(name) else f"{name}: {message}") + given)
    return problems


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
