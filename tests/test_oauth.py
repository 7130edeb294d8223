"""OAuth 2.1 resource server: the key set's cache (a mock provider counting fetches), the settings, and the whole
server against a real identity provider (npm's oidc-provider, tokens through the client credentials grant): the 401
challenge and the metadata document, valid tokens in both eras, every kind of bad token refused before anything
reaches the tools, read-only tokens, the per-user workflows claim, key rotation, and the log of who started what."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import pytest
from starlette.applications import Starlette

from tests.external import check_inspector_with_token
from tests.helpers import (
    ERAS,
    EXAMPLE_ID,
    INITIALIZE,
    LEGACY_HEADERS,
    data_of,
    free_port,
    make_settings,
    server_env,
    text_of,
)
from tests.identity import Provider, oidc_provider, sign, signing_key
from tests.servers import KeyRecorder, app_in_thread, connect, http_subprocess, run_example
from wave_mcp.errors import ConfigError
from wave_mcp.grant import SCOPE_READ, SCOPE_RUN
from wave_mcp.http import create_http_app
from wave_mcp.oauth import JwtVerifier, ProviderKeys
from wave_mcp.sandbox import SandboxState

pytestmark = pytest.mark.anyio

ISSUER = "https://login.example.com/realms/acme"
RESOURCE = "https://mcp.example.com/mcp"
PUBLIC_MEMBERS = ("kty", "n", "e", "kid", "alg", "use")


# ---- the key set: found by discovery, cached, fetched again only for an unknown key id --------------------------


class MockProvider:
    """Discovery and JWKS of a provider, as a MockTransport handler that counts what it serves."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.paths: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        if request.url.path == "/realms/acme/.well-known/openid-configuration":
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/certs"})
        if request.url.path == "/realms/acme/certs":
            public = [
                {k: v for k, v in key.items() if k in ("kty", "n", "e", "kid", "alg", "use")} for key in self.keys
            ]
            return httpx2.Response(200, json={"keys": public})
        return httpx2.Response(404)

    def count(self, suffix: str) -> int:
        return sum(path.endswith(suffix) for path in self.paths)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(**extra: Any) -> dict[str, Any]:
    """The claims of a valid token for RESOURCE from ISSUER."""
    now = int(time.time())
    return {"iss": ISSUER, "aud": RESOURCE, "sub": "alice", "exp": now + 300, "iat": now, "scope": "wave:read", **extra}


def mock_verifier(provider: MockProvider, clock: Clock | None = None) -> JwtVerifier:
    keys = ProviderKeys(ISSUER, transport=httpx2.MockTransport(provider), clock=clock or time.monotonic)
    return JwtVerifier(keys, audience=RESOURCE, resource=RESOURCE)


async def test_keys_fetched_once_not_per_request() -> None:
    """Discovery tries the OAuth document then OpenID Connect's; 50 verifications cost one key set fetch."""
    key = signing_key("k1")
    provider = MockProvider([key])
    verifier = mock_verifier(provider)
    token = sign(claims(), key)
    results = [await verifier.verify_token(token) for _ in range(50)]
    assert all(result is not None and result.subject == "alice" for result in results)
    assert provider.paths[:2] == [
        "/.well-known/oauth-authorization-server/realms/acme",
        "/.well-known/openid-configuration/realms/acme",
    ]
    assert provider.count("/certs") == 1
    assert provider.count("openid-configuration") == 1


async def test_unknown_key_id_fetches_again_at_most_every_30_seconds() -> None:
    """An unknown kid causes one fetch, then none for 30 s however many come; a key added at the provider (a
    rotation) is found by that fetch."""
    old, new = signing_key("k-old"), signing_key("k-new")
    provider, clock = MockProvider([old]), Clock()
    verifier = mock_verifier(provider, clock)
    assert await verifier.verify_token(sign(claims(), old)) is not None
    stranger = sign(claims(), signing_key("k-unknown"))
    assert await verifier.verify_token(stranger) is None
    assert provider.count("/certs") == 2
    for _ in range(20):
        assert await verifier.verify_token(stranger) is None
    assert provider.count("/certs") == 2, "unknown key ids were not rate-limited"
    provider.keys = [new, old]
    assert await verifier.verify_token(sign(claims(), new)) is None  # within 30 s of the last fetch
    clock.now += 30
    assert await verifier.verify_token(sign(claims(), new)) is not None
    assert await verifier.verify_token(sign(claims(), old)) is not None
    assert provider.count("/certs") == 3


async def test_verification_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable provider, garbage, `alg: none` and a token without kid are refusals (None), never an exception
    (the bearer middleware would answer 500), and no token reaches the log."""

    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    key = signing_key("k1")
    unreachable = JwtVerifier(
        ProviderKeys(ISSUER, transport=httpx2.MockTransport(down)), audience=RESOURCE, resource=RESOURCE
    )
    working = mock_verifier(MockProvider([key]))
    tokens = {
        "valid": sign(claims(), key),
        "none": jwt.encode(claims(), "", algorithm="none", headers={"kid": "k1"}),
        "no kid": jwt.encode(claims(), private_key(key), algorithm="RS256"),
    }
    caplog.set_level(logging.INFO)
    assert await unreachable.verify_token(tokens["valid"]) is None
    assert await working.verify_token("not.a.jwt") is None
    assert await working.verify_token("") is None
    assert await working.verify_token(tokens["none"]) is None
    assert await working.verify_token(tokens["no kid"]) is None
    assert "Could not read the signing keys" in caplog.text
    assert "'none' not accepted" in caplog.text and "no key id" in caplog.text
    assert all(token not in caplog.text for token in tokens.values())


def private_key(jwk: dict[str, Any]) -> Any:
    """A private JWK as a key object pyjwt signs with."""
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))


# ---- settings ---------------------------------------------------------------------------------------------------


def test_oauth_settings_rules() -> None:
    """Issuer and public URL go together, https unless loopback; the workflows claim needs the issuer."""
    assert make_settings(mcp_oauth_issuer=ISSUER, mcp_public_url=RESOURCE).oauth
    assert make_settings(mcp_oauth_issuer="http://127.0.0.1:9/", mcp_public_url="http://localhost:8000/mcp").oauth
    assert not make_settings().oauth
    with pytest.raises(ValueError, match="needs WAVE_MCP_PUBLIC_URL"):
        make_settings(mcp_oauth_issuer=ISSUER)
    with pytest.raises(ValueError, match="WAVE_MCP_OAUTH_ISSUER uses plain http"):
        make_settings(mcp_oauth_issuer="http://login.example.com", mcp_public_url=RESOURCE)
    with pytest.raises(ValueError, match="WAVE_MCP_OAUTH_WORKFLOWS_CLAIM applies only with"):
        make_settings(mcp_oauth_workflows_claim="wave_workflows")


def test_token_and_oauth_both_set_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The static token and OAuth are exclusive: one clear `wave-mcp:` line and exit code 2."""
    from wave_mcp.cli import main

    monkeypatch.setenv("WAVE_API_KEY", "wk_some_key_0123456789")
    monkeypatch.setenv("WAVE_MCP_HTTP_TOKEN", "tok_4c1d9b7e2a6f8e0d3b5a")
    monkeypatch.setenv("WAVE_MCP_OAUTH_ISSUER", ISSUER)
    monkeypatch.setenv("WAVE_MCP_PUBLIC_URL", RESOURCE)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--transport", "http"])
    lines = capsys.readouterr().err.splitlines()
    assert stopped.value.code == 2
    assert lines == [
        "wave-mcp: WAVE_MCP_HTTP_TOKEN and WAVE_MCP_OAUTH_ISSUER are both set: choose one (the static token for "
        "simple set-ups, OAuth for connectors and teams)"
    ]
    assert "tok_4c1d9b7e2a6f8e0d3b5a" not in "".join(lines)


def test_config_error_names_the_setting() -> None:
    """load_settings reports a bad public URL under its variable."""
    from wave_mcp.config import load_settings

    with pytest.raises(ConfigError, match="WAVE_MCP_PUBLIC_URL must be an http"):
        load_settings({"api_key": "wk_some_key_0123456789", "mcp_oauth_issuer": ISSUER, "mcp_public_url": "mcp"})


# ---- against a real provider --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """oidc-provider with one signing key, shared by this module's tests."""
    with oidc_provider([signing_key("k1")]) as running:
        yield running


@pytest.fixture
def recorder(sandbox_app: Starlette) -> KeyRecorder:
    """The in-process sandbox behind a recorder of what reaches it."""
    return KeyRecorder(sandbox_app)


class Counting(httpx2.AsyncBaseTransport):
    """The network, with a count of the requests made to each path."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Served:
    """A wave-mcp HTTP server under OAuth: its MCP URL (also its public URL) and its provider fetches."""

    url: str
    fetches: Counting

    @property
    def origin(self) -> str:
        return self.url.removesuffix("/mcp")


@contextmanager
def serve(provider: Provider, recorder: KeyRecorder, *, leeway: float = 30.0, **overrides: Any) -> Iterator[Served]:
    """wave-mcp over the sandbox, tokens required from `provider`; the MCP URL is the public URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    settings = make_settings(mcp_oauth_issuer=provider.issuer, mcp_public_url=url, **overrides)
    fetches = Counting()
    verifier = JwtVerifier(ProviderKeys(provider.issuer, transport=fetches), audience=url, resource=url, leeway=leeway)
    app = create_http_app(settings, transport=httpx2.ASGITransport(app=recorder), verifier=verifier)
    with app_in_thread(app, port=port):
        yield Served(url, fetches)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_no_token_gets_the_challenge_and_the_metadata(provider: Provider, recorder: KeyRecorder) -> None:
    """Without a token: 401 with a Bearer challenge naming the RFC 9728 document, which names the issuer and both
    scopes; the document and /healthz need no token."""
    with serve(provider, recorder) as served:
        async with httpx2.AsyncClient() as http:
            refused = await http.post(served.url, json=INITIALIZE, headers=LEGACY_HEADERS)
            document = await http.get(f"{served.origin}/.well-known/oauth-protected-resource/mcp")
            root = await http.get(f"{served.origin}/.well-known/oauth-protected-resource")
            healthy = await http.get(f"{served.origin}/healthz")
    challenge = refused.headers["www-authenticate"]
    assert refused.status_code == 401
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{served.origin}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert document.status_code == 200
    assert document.json() == {
        "resource": served.url,
        "authorization_servers": [provider.issuer],
        "scopes_supported": [SCOPE_READ, SCOPE_RUN],
        "bearer_methods_supported": ["header"],
        "resource_name": "Wave workflows",
    }
    assert root.json() == document.json()
    assert healthy.status_code == 200
    assert recorder.seen == []


@pytest.mark.parametrize("mode", ERAS)
async def test_valid_token_runs_a_workflow(provider: Provider, recorder: KeyRecorder, mode: str) -> None:
    """A token with both scopes lists the tools and runs a workflow to its result, in each era; the key set is
    fetched once for all those requests."""
    with serve(provider, recorder) as served:
        token = provider.token("wave-runner", served.url)
        async with connect(served.url, mode, bearer(token)) as client:
            tools = await client.list_tools()
            report, seen = await run_example(client)
    assert "execute_workflow" in [tool.name for tool in tools.tools]
    assert report["status"] == "completed" and seen
    assert served.fetches.paths.count("/jwks") == 1


async def test_bad_tokens_are_refused(
    provider: Provider, recorder: KeyRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Each bad token gets 401 (403 for one without wave:read) and nothing reaches the Wave API; an unknown key
    id makes the server fetch the key set once more, not per request; no token reaches the log."""
    caplog.set_level(logging.INFO)
    stranger = signing_key("k-unknown")
    impostor = {**signing_key("k1")}  # the provider's key id, another key
    with serve(provider, recorder, leeway=0) as served:
        valid = provider.token("wave-runner", served.url)
        payload = jwt.decode(valid, options={"verify_signature": False})
        head, _, signature = valid.split(".")
        tampered = jwt.encode({**payload, "sub": "mallory"}, "k" * 32, algorithm="HS256").split(".")[1]
        cases = {
            "wrong audience": provider.token("wave-runner", "http://127.0.0.1:1/other"),
            "expired": provider.token("wave-brief", served.url),
            "wrong issuer": sign({**payload, "iss": "http://127.0.0.1:1"}, provider.keys[0]),
            "bad signature": f"{head}.{tampered}.{signature}",
            "right kid, wrong key": sign(payload, impostor),
            "unknown kid": sign(payload, stranger),
            "unknown kid again": sign({**payload, "jti": "2"}, stranger),
            "alg none": jwt.encode(payload, "", algorithm="none", headers={"kid": "k1"}),
            "not a JWT": "opaque-token-0123456789",
            "no wave:read": provider.token("wave-runner", served.url, scope="wave:run"),
        }
        await anyio.sleep(1.5)  # the brief token (1 s) expires
        async with httpx2.AsyncClient() as http:
            accepted = await http.post(served.url, json=INITIALIZE, headers={**LEGACY_HEADERS, **bearer(valid)})
            statuses = {}
            for label, token in cases.items():
                answer = await http.post(served.url, json=INITIALIZE, headers={**LEGACY_HEADERS, **bearer(token)})
                statuses[label] = answer.status_code
                assert answer.headers["www-authenticate"].startswith("Bearer "), label
    assert accepted.status_code == 200
    assert statuses == {label: 403 if label == "no wave:read" else 401 for label in cases}
    assert served.fetches.paths.count("/jwks") == 2, "an unknown key id should cause exactly one more fetch"
    assert recorder.seen == []
    assert all(token not in caplog.text for token in [valid, *cases.values()])
    for reason in ("expired", "another audience", "another issuer", "bad signature", "'none' not accepted"):
        assert reason in caplog.text, reason


@pytest.mark.parametrize("mode", ERAS)
async def test_read_only_token(provider: Provider, recorder: KeyRecorder, mode: str) -> None:
    """A token with wave:read alone lists and reads, but starting a run is refused naming wave:run, and nothing
    is sent for it."""
    with serve(provider, recorder) as served:
        async with connect(served.url, mode, bearer(provider.token("wave-runner", served.url))) as runner:
            started = data_of(await runner.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID}))
        reader_token = provider.token("wave-reader", served.url, scope="wave:read")
        async with connect(served.url, mode, bearer(reader_token)) as reader:
            listing = data_of(await reader.call_tool("list_workflows", {}))
            read = data_of(await reader.call_tool("wait_for_run", {"run_id": started["id"], "timeout_seconds": 10}))
            posts_before = len(recorder.seen)
            refused = await reader.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID})
    assert EXAMPLE_ID in [workflow["id"] for workflow in listing["workflows"]]
    assert read["status"] == "completed"
    assert refused.is_error
    assert "'wave:run'" in text_of(refused) and "nothing was sent" in text_of(refused)
    assert len(recorder.seen) == posts_before


async def test_workflows_claim_narrows_listing_reads_and_starts(provider: Provider, recorder: KeyRecorder) -> None:
    """With WAVE_MCP_OAUTH_WORKFLOWS_CLAIM, a token listing only `timer` sees and starts only it and cannot read a
    run of another workflow; a token without the claim gets none."""
    with serve(provider, recorder, mcp_oauth_workflows_claim="wave_workflows") as served:
        narrow = bearer(provider.token("wave-narrow", served.url))
        async with connect(served.url, "auto", narrow) as client:
            listing = data_of(await client.call_tool("list_workflows", {}))
            refused = await client.call_tool("execute_workflow", {"workflow_id": EXAMPLE_ID})
            timer = data_of(await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {}}))
        async with connect(served.url, "auto", bearer(provider.token("wave-runner", served.url))) as client:
            unlisted = data_of(await client.call_tool("list_workflows", {}))
            no_claim = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {}})
    assert [workflow["id"] for workflow in listing["workflows"]] == ["timer"]
    assert refused.is_error and "'wave_workflows' claim" in text_of(refused)
    assert timer["status"] in ("running", "completed")
    assert unlisted["workflows"] == []
    assert no_claim.is_error and "not among the workflows granted to you" in text_of(no_claim)


async def test_key_rotation_at_the_provider(recorder: KeyRecorder) -> None:
    """wave-mcp starts before its provider (discovery waits for the first token); the provider restarts signing
    with a new key, the old one still published: new tokens are accepted without restarting wave-mcp, and old ones
    still are."""
    first, second = signing_key("k-2026-01"), signing_key("k-2026-07")
    port = free_port()
    with serve(Provider(f"http://127.0.0.1:{port}", []), recorder) as served:
        with oidc_provider([first], port=port) as before:
            old_token = before.token("wave-runner", served.url)
            async with connect(served.url, "auto", bearer(old_token)) as client:
                await client.list_tools()
        with oidc_provider([second, first], port=port) as after:
            new_token = after.token("wave-runner", served.url)
            assert jwt.get_unverified_header(new_token)["kid"] == "k-2026-07"
            for token in (new_token, old_token):
                async with connect(served.url, "auto", bearer(token)) as client:
                    await client.list_tools()
    assert served.fetches.paths.count("/jwks") == 2


def test_cli_logs_the_subject_never_the_token(provider: Provider, sandbox_server: tuple[str, SandboxState]) -> None:
    """`wave-mcp serve --transport http` with OAuth settings: a run started with a token is logged with the token's
    subject; a refused token is logged with its reason; no token appears in stderr."""
    api_url, _ = sandbox_server
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    token = provider.token("wave-runner", url)
    forged = sign({**jwt.decode(token, options={"verify_signature": False}), "sub": "x"}, signing_key("k1"))
    env = server_env(api_url, WAVE_MCP_OAUTH_ISSUER=provider.issuer, WAVE_MCP_PUBLIC_URL=url)
    with http_subprocess(env, port=port) as spawned:

        async def scenario() -> tuple[str, int]:
            async with connect(url, "auto", bearer(token)) as client:
                report, _ = await run_example(client)
            async with httpx2.AsyncClient() as http:
                refused = await http.post(url, json=INITIALIZE, headers={**LEGACY_HEADERS, **bearer(forged)})
            return report["status"], refused.status_code

        assert anyio.run(scenario) == ("completed", 401)
    assert f"of workflow {EXAMPLE_ID} started for subject 'wave-runner'" in spawned.stderr
    assert "Access token refused: bad signature" in spawned.stderr
    assert f"OAuth: access tokens from {provider.issuer} for {url} required" in spawned.stderr
    assert token not in spawned.stderr and forged not in spawned.stderr
    assert token.split(".")[2] not in spawned.stderr


# ---- the grant through every face, and callers' keys under OAuth --------------------------------------------------


async def test_grant_applies_to_typed_tools_and_resources(transport: httpx2.ASGITransport) -> None:
    """The guard reads the caller's grant wherever a run is started or read: a typed tool without wave:run is
    refused naming the scope, a workflow's documentation outside the granted list is refused, the granted one
    reads."""
    from mcp import Client, MCPError

    from wave_mcp.config import example_catalog_path
    from wave_mcp.grant import Grant, granted
    from wave_mcp.server import build_server

    settings = make_settings(catalog=example_catalog_path(), workflow_tools=True)
    grant = Grant("bob", may_run=False, workflows=frozenset({"monthly-report"}), workflows_claim="wave_workflows")
    with granted(grant):  # the in-memory server runs in tasks started here, as the HTTP layer's request does
        async with Client(build_server(settings, transport=transport)) as client:
            typed = await client.call_tool("run_monthly_report", {"month": "March"})
            granted_doc = await client.read_resource("wave://workflows/monthly-report")
            with pytest.raises(MCPError, match="not granted to you"):
                await client.read_resource(f"wave://workflows/{EXAMPLE_ID}")
            listing = data_of(await client.call_tool("list_workflows", {}))
    assert typed.is_error and "'wave:run'" in text_of(typed)
    assert "Monthly report" in str(granted_doc)
    assert [workflow["id"] for workflow in listing["workflows"]] == ["monthly-report"]


async def test_caller_keys_work_under_oauth(provider: Provider, recorder: KeyRecorder) -> None:
    """With callers' keys on and no server key, a caller sends both its token and its own Wave key; the key is
    the one the API gets."""
    from tests.helpers import API_KEY
    from wave_mcp.caller import CALLER_KEY_HEADER

    with serve(provider, recorder, api_key=None, mcp_http_caller_keys=True) as served:
        headers = {**bearer(provider.token("wave-runner", served.url)), CALLER_KEY_HEADER: API_KEY}
        async with connect(served.url, "auto", headers) as client:
            report, _ = await run_example(client)
    assert report["status"] == "completed"
    assert recorder.keys_for("/workflows") == {API_KEY}


@pytest.mark.external
def test_inspector_connects_with_a_token(
    provider: Provider, sandbox_server: tuple[str, SandboxState], tmp_path: Path
) -> None:
    """The MCP Inspector CLI (a client no one here wrote) lists and calls the tools with a token from the provider
    against the real `wave-mcp serve`, and is refused without one."""
    api_url, _ = sandbox_server
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = server_env(api_url, WAVE_MCP_OAUTH_ISSUER=provider.issuer, WAVE_MCP_PUBLIC_URL=url)
    token = provider.token("wave-runner", url)
    with http_subprocess(env, port=port) as spawned:
        check_inspector_with_token(url, token, tmp_path / "catalog.json")
    assert token not in spawned.stderr
