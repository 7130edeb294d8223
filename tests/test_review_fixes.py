"""Edge cases found in review: blank HTTP token, bound loopback addresses, flags that switch settings off,
`--sandbox` before `config`, and advice for a rejected caller key."""

from __future__ import annotations

import subprocess
import sys

import httpx2
import pytest

from tests.helpers import API_KEY, ROOT, make_settings
from wave_mcp.caller import CALLER_KEY_HEADER, caller_key
from wave_mcp.client import WaveClient
from wave_mcp.config import load_settings
from wave_mcp.errors import AuthenticationError, ConfigError
from wave_mcp.http import transport_security

pytestmark = pytest.mark.anyio


def test_a_blank_http_token_stops_the_server_instead_of_turning_authentication_off() -> None:
    """A token variable left empty by a deployment is an error, never "no token"."""
    with pytest.raises(ConfigError, match="WAVE_MCP_HTTP_TOKEN is set but empty"):
        load_settings({"api_key": API_KEY, "mcp_http_token": "   "})


def test_the_bound_address_is_an_accepted_host_even_on_loopback() -> None:
    """Serving on 127.0.0.2 accepts requests addressed to 127.0.0.2."""
    rules = transport_security(make_settings(), "127.0.0.2")
    assert "127.0.0.2" in (rules.allowed_hosts or [])
    assert "127.0.0.2:*" in (rules.allowed_hosts or [])


def test_a_flag_can_switch_a_setting_off_that_the_environment_switched_on() -> None:
    """`--no-read-only` beats WAVE_READ_ONLY=1 (flag beats environment, both ways)."""
    probe = "from wave_mcp.cli import _overrides, _parser; print(_overrides(_parser().parse_args(['--no-read-only'])))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "WAVE_READ_ONLY": "1", "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert out.stdout.strip() == "{'read_only': False}"


def test_sandbox_before_config_gives_the_sandbox_configuration() -> None:
    """`wave-mcp --sandbox config zed` is the same as `wave-mcp config zed --sandbox`."""
    run = [sys.executable, "-m", "wave_mcp"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    before = subprocess.run([*run, "--sandbox", "config", "zed"], capture_output=True, text=True, env=env, check=True)
    after = subprocess.run([*run, "config", "zed", "--sandbox"], capture_output=True, text=True, env=env, check=True)
    assert before.stdout == after.stdout
    assert "--sandbox" in after.stdout


async def test_a_rejected_caller_key_gets_the_callers_advice() -> None:
    """Over HTTP with callers' keys, a 401 tells the caller to fix its own header, not the operator's setting."""
    transport = httpx2.MockTransport(lambda request: httpx2.Response(401, json={"message": "bad key"}))
    async with WaveClient.open(make_settings(), transport=transport) as client:
        with caller_key("wk_caller_key_0123456789"), pytest.raises(AuthenticationError) as caught:
            await client.get_run("run-1")
        with pytest.raises(AuthenticationError) as server_key:
            await client.get_run("run-1")
    assert CALLER_KEY_HEADER in str(caught.value) and "WAVE_API_KEY" not in str(caught.value)
    assert "WAVE_API_KEY" in str(server_key.value)
