"""OAuth 2.1 resource server: access tokens from the identity provider an organisation already runs.

With WAVE_MCP_OAUTH_ISSUER and WAVE_MCP_PUBLIC_URL set, every MCP request must carry a JWT access token issued by
that issuer, for this resource (`aud`), not expired, signed with one of the issuer's keys. This module only
establishes who the caller is and what it was granted (`grant.Grant`); the rules (read-only without `wave:run`,
the per-user list of workflows) live in the guard.

- `ProviderKeys`: the issuer's key set, found through its discovery document (RFC 8414, then OpenID Connect),
  fetched once, fetched again when a token names an unknown key id (at most once per `refresh_interval`, so a
  flood of made-up key ids costs one fetch) or when the set is older than `max_age`; never fetched per request.
- `JwtVerifier`: the SDK's `TokenVerifier`, verifying with pyjwt (signature, `alg` from a fixed list of
  asymmetric algorithms, `iss`, `aud`, `exp`, `sub` required). It never raises: any failure is a refusal (401).
- `ProtectedResource`: ASGI, built from the SDK's pieces: the RFC 9728 metadata document (naming the issuer and
  both scopes), the bearer middleware with 401 and `WWW-Authenticate: Bearer ..., resource_metadata="..."`, the
  `wave:read` scope required for any MCP request (403 without it), then the caller's grant set for the request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt
from mcp.client.auth.utils import build_oauth_authorization_server_metadata_discovery_urls
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from wave_mcp.config import Settings, validate_url
from wave_mcp.grant import SCOPE_READ, SCOPE_RUN, Grant, granted

__all__ = [
    "ALGORITHMS",
    "SCOPES",
    "JwtVerifier",
    "ProtectedResource",
    "ProviderKeys",
    "grant_of",
    "verifier_for",
]

log = logging.getLogger(__name__)

SCOPES = [SCOPE_READ, SCOPE_RUN]
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
"""Signature algorithms accepted: asymmetric only, so neither `none` nor a key set's public key used as an HMAC
secret can pass."""
REFRESH_INTERVAL = 30.0
"""Least seconds between two fetches of the key set (or two attempts at discovery)."""
MAX_AGE = 3600.0
"""A key set older than this is fetched again at the next verification, so a withdrawn key stops working."""
LEEWAY = 30.0
"""Seconds of clock difference with the provider tolerated on `exp`, `iat` and `nbf`."""
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 1_000_000
RESOURCE_NAME = "Wave workflows"
ROOT_METADATA_PATH = "/.well-known/oauth-protected-resource"


class Refused(Exception):
    """A token was refused; the message says why in words that hold no part of the token."""


class ProviderKeys:
    """The issuer's signing keys, by key id (see the module docstring for when they are fetched)."""

    def __init__(
        self,
        issuer: str,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        refresh_interval: float = REFRESH_INTERVAL,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        """The issuer as configured until discovery, then exactly as its discovery document spells it."""
        self._transport = transport
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        """The last attempt at the first fetch, or at a fetch again once keys are known (the first successful
        fetch does not count: a new key id right after it may still cause one)."""
        self._lock = anyio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id: from the cache, else (rate-limited) from a fresh fetch of the set; None if unknown."""
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        async with self._lock:  # one fetch for many requests that wait for the same keys
            key = self._keys.get(kid)
            if (key is None or self._stale()) and self._may_fetch():
                await self._refresh()
                key = self._keys.get(kid)
        return key

    def _stale(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at > self._max_age

    def _may_fetch(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= self._refresh_interval

    async def _refresh(self) -> None:
        """Fetch the key set (discovering where it is first); on failure keep the keys known so far."""
        first = self._fetched_at is None
        self._tried_at = self._clock()
        try:
            async with httpx2.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT) as http:
                if self._jwks_uri is None:
                    self._jwks_uri = await self._discover(http)
                keys = _signing_keys(await _get_json(http, self._jwks_uri))
        except (httpx2.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning(
                "Could not read the signing keys of %s: %s (tokens it signed with new keys are refused)",
                self.issuer,
                exc,
            )
            return
        self._keys, self._fetched_at = keys, self._clock()
        if first:
            self._tried_at = None
        log.info("Signing keys of %s read: %d key(s)", self.issuer, len(keys))

    async def _discover(self, http: httpx2.AsyncClient) -> str:
        """The `jwks_uri` from the issuer's discovery document; the issuer as the document spells it."""
        tried: list[str] = []
        for url in build_oauth_authorization_server_metadata_discovery_urls(self.issuer, self.issuer):
            try:
                document = await _get_json(http, url)
            except (httpx2.HTTPError, ValueError) as exc:
                tried.append(f"{url} ({exc})")
                continue
            issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
            if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer.rstrip("/"):
                raise ValueError(f"the discovery document {url} names another issuer: {issuer!r}")
            if not isinstance(jwks_uri, str):
                raise ValueError(f"the discovery document {url} has no jwks_uri")
            self.issuer = issuer
            return validate_url(jwks_uri, "jwks_uri", example="https://login.example.com/jwks")
        raise ValueError("no discovery document answered: " + "; ".join(tried))


async def _get_json(http: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    """A JSON object from `url` (200 only, no redirects followed, bounded in size)."""
    response = await http.get(url, headers={"accept": "application/json"})
    if response.status_code != 200:
        raise ValueError(f"HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise ValueError("answer too large")
    document = json.loads(response.content)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def _signing_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWK set, by key id (keys for encryption, or without an id, left out)."""
    keys = jwt.PyJWKSet.from_dict(document).keys
    return {key.key_id: key for key in keys if key.key_id and key.public_key_use in (None, "sig")}


class JwtVerifier:
    """The SDK's `TokenVerifier` for JWT access tokens of one issuer, for one audience."""

    def __init__(self, keys: ProviderKeys, *, audience: str, resource: str, leeway: float = LEEWAY) -> None:
        self._keys = keys
        self._audience = audience
        self._resource = resource
        self._leeway = leeway

    async def verify_token(self, token: str) -> AccessToken | None:
        """The verified token, or None (never an exception: the bearer middleware would answer 500)."""
        try:
            return await self._verify(token)
        except Refused as exc:
            log.info("Access token refused: %s", exc)
        except jwt.PyJWTError as exc:
            log.info("Access token refused: %s", _reason(exc))
        except Exception as exc:  # a refusal, whatever went wrong
            log.warning("Access token refused: verification failed (%s)", type(exc).__name__)
        return None

    async def _verify(self, token: str) -> AccessToken:
        header = jwt.get_unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise Refused(f"signature algorithm {str(alg)[:20]!r} not accepted")
        if not isinstance(kid, str) or not kid:
            raise Refused("the token names no key id (kid)")
        key = await self._keys.key(kid)
        if key is None:
            raise Refused(f"key id {kid[:64]!r} is not among the issuer's signing keys")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=self._audience,
            issuer=self._keys.issuer,
            leeway=self._leeway,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Refused("the token's subject (sub) is not a string")
        client = claims.get("client_id") or claims.get("azp") or ""
        return AccessToken(
            token=token,
            client_id=str(client),
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=self._resource,
            subject=subject,
            claims=claims,
        )


def _reason(exc: jwt.PyJWTError) -> str:
    """pyjwt's refusal in a few words (its messages name claims and algorithms, never the token)."""
    return {
        jwt.ExpiredSignatureError: "expired",
        jwt.InvalidAudienceError: "issued for another audience (aud)",
        jwt.InvalidIssuerError: "issued by another issuer (iss)",
        jwt.InvalidSignatureError: "bad signature",
        jwt.MissingRequiredClaimError: str(exc),
    }.get(type(exc), f"{type(exc).__name__}: {str(exc)[:120]}")


def _scopes(claims: dict[str, Any]) -> list[str]:
    """The token's scopes: `scope` (RFC 9068, space-separated) or `scp` (a list or a string, as some providers)."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def grant_of(token: AccessToken, workflows_claim: str | None) -> Grant:
    """What a verified token grants: the right to start runs with `wave:run`; with a workflows claim configured,
    only the workflows it lists (a list, or a string separated by commas or blanks; none when absent)."""
    workflows: frozenset[str] | None = None
    if workflows_claim:
        value = (token.claims or {}).get(workflows_claim)
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        items = value if isinstance(value, list) else []
        workflows = frozenset(item for item in items if isinstance(item, str))
    return Grant(
        subject=token.subject or token.client_id,
        may_run=SCOPE_RUN in token.scopes,
        workflows=workflows,
        workflows_claim=workflows_claim or "",
    )


def verifier_for(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> JwtVerifier:
    """The verifier for WAVE_MCP_OAUTH_ISSUER, WAVE_MCP_PUBLIC_URL and WAVE_MCP_OAUTH_AUDIENCE."""
    assert settings.mcp_oauth_issuer is not None
    assert settings.mcp_public_url is not None
    keys = ProviderKeys(settings.mcp_oauth_issuer, transport=transport)
    audience = settings.mcp_oauth_audience or settings.mcp_public_url
    return JwtVerifier(keys, audience=audience, resource=settings.mcp_public_url)


class ProtectedResource:
    """ASGI: the protected resource metadata (open to all), and `app` only for requests with a valid token that
    grants `wave:read`, run under the caller's grant, the Authorization header taken out."""

    def __init__(self, app: ASGIApp, settings: Settings, verifier: TokenVerifier) -> None:
        assert settings.mcp_oauth_issuer is not None
        assert settings.mcp_public_url is not None
        auth = AuthSettings.model_validate(  # from strings: its URLs keep an empty path as given (exact issuer)
            {
                "issuer_url": settings.mcp_oauth_issuer,
                "resource_server_url": settings.mcp_public_url,
                "required_scopes": [SCOPE_READ],
                "validate_token_resource": True,
            }
        )
        assert auth.resource_server_url is not None
        metadata_url = build_resource_metadata_url(auth.resource_server_url)
        routes = create_protected_resource_routes(
            auth.resource_server_url, [auth.issuer_url], scopes_supported=SCOPES, resource_name=RESOURCE_NAME
        )
        self.metadata_path = urlsplit(str(metadata_url)).path
        self._metadata = Starlette(routes=routes)
        self._workflows_claim = settings.mcp_oauth_workflows_claim
        required = RequireAuthMiddleware(self._granted, auth.required_scopes or [], metadata_url)
        backend = BearerAuthBackend(verifier, resource_server_url=auth.resource_server_url)
        self._protected = AuthenticationMiddleware(AuthContextMiddleware(required), backend=backend)
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in (self.metadata_path, ROOT_METADATA_PATH):
            # the root path too: clients without the WWW-Authenticate hint try it, and this server has one resource
            await self._metadata({**scope, "path": self.metadata_path}, receive, send)
        elif scope["type"] == "http":
            await self._protected(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    async def _granted(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope["user"]
        assert isinstance(user, AuthenticatedUser)  # RequireAuthMiddleware let nothing else through
        headers = [(name, value) for name, value in scope["headers"] if name != b"authorization"]
        with granted(grant_of(user.access_token, self._workflows_claim)):
            await self._app({**scope, "headers": headers}, receive, send)
