"""A real identity provider for the OAuth tests (npm's oidc-provider, see tests/oidc/provider.mjs), its signing keys,
and tokens from it through the client credentials grant. Skips the calling test when Node 22 or oidc-provider is not
installed in .tools/."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.external import INSTALL_HINT, TOOLS, node_tool
from tests.helpers import free_port

SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"
MODULE = TOOLS / "node" / "node_modules" / "oidc-provider" / "lib" / "index.js"
START_SECONDS = 30.0
BOTH = "wave:read wave:run"


@dataclass(frozen=True)
class Client:
    """A client registered at the provider: what it may ask for, its tokens' lifetime and extra claims."""

    client_id: str
    scope: str = BOTH
    ttl: int = 600
    claims: dict[str, Any] | None = None

    @property
    def secret(self) -> str:
        return f"secret-of-{self.client_id}-0123456789"


CLIENTS = [
    Client("wave-runner"),
    Client("wave-reader", scope="wave:read"),
    Client("wave-narrow", claims={"wave_workflows": ["timer"]}),
    Client("wave-brief", ttl=1),
]


def signing_key(kid: str) -> dict[str, Any]:
    """A fresh RSA key as a private JWK with this key id."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def sign(claims: dict[str, Any], jwk: dict[str, Any], **header: Any) -> str:
    """A token signed with a private JWK (its kid in the header unless `header` says otherwise)."""
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": jwk["kid"], **header})  # type: ignore[arg-type]


@dataclass
class Provider:
    """A running oidc-provider: its issuer URL and its keys (private JWKs, the first one signs)."""

    issuer: str
    keys: list[dict[str, Any]]

    def token(self, client_id: str, resource: str, scope: str = BOTH) -> str:
        """An access token for `resource` through the client credentials grant."""
        client = next(client for client in CLIENTS if client.client_id == client_id)
        answer = httpx2.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.secret,
                "scope": scope,
                "resource": resource,
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


@contextmanager
def oidc_provider(keys: list[dict[str, Any]], *, port: int | None = None) -> Iterator[Provider]:
    """oidc-provider on a loopback port (the same `port` again for a restart with other keys)."""
    node, env = node_tool("node")
    if not MODULE.exists():
        pytest.skip(f"oidc-provider is not installed in .tools/: {INSTALL_HINT}")
    port = port or free_port()
    config = {
        "port": port,
        "resource_prefix": "http://127.0.0.1:",
        "jwks": {"keys": keys},
        "clients": [
            {"client_id": c.client_id, "client_secret": c.secret, "scope": c.scope, "ttl": c.ttl, "claims": c.claims}
            for c in CLIENTS
        ],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file, tempfile.TemporaryFile("w+") as errlog:
        json.dump(config, file)
        file.flush()
        process = subprocess.Popen(
            [str(node), str(SCRIPT), file.name],
            env={**env, "OIDC_PROVIDER_MODULE": MODULE.as_uri(), "NODE_ENV": "test"},
            stdout=subprocess.PIPE,
            stderr=errlog,
            text=True,
        )
        try:
            issuer = _ready(process, errlog)
            yield Provider(issuer, keys)
        finally:
            process.terminate()
            process.communicate(timeout=10)  # reaps it and closes its stdout pipe


def _ready(process: subprocess.Popen[str], errlog: Any) -> str:
    """The issuer, once the provider says it listens and answers its discovery document."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready "):
        errlog.seek(0)
        raise AssertionError(f"oidc-provider did not start: {line!r} {errlog.read()[-2000:]}")
    issuer = line.split()[1]
    deadline = time.monotonic() + START_SECONDS
    while httpx2.get(f"{issuer}/.well-known/openid-configuration", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "oidc-provider does not answer"
        time.sleep(0.05)
    return issuer
