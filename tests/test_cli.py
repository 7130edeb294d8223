"""The command line as a user meets it: `python -m wave_mcp` in a clean environment, its exit codes and output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.conftest import API_KEY, ROOT, coverage_env, free_port
from wave_mcp.config import SANDBOX_API_KEY, load_settings, setting_sources
from wave_mcp.errors import ConfigError
from wave_mcp.sandbox import SandboxState

TIMEOUT = 60.0
"""Generous bound on a subprocess that should exit by itself (a guard against hangs, not a speed check)."""


def clean_env(**variables: str) -> dict[str, str]:
    """Only what Python (and coverage, under `make test`) needs, plus `variables`: no WAVE_* setting of the machine
    leaks in."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {**coverage_env(), "PATH": path, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", **variables}


def wave_mcp(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m wave_mcp ARGS` to completion, with stdin closed."""
    return subprocess.run(
        [sys.executable, "-m", "wave_mcp", *args],
        env=clean_env(**variables),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit code 2, nothing on stdout (the MCP channel), exactly one `wave-mcp:` line on stderr, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wave-mcp: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


# ---- refusing to start --------------------------------------------------------------------------------------


def test_a_missing_key_stops_the_server_with_one_line(tmp_path: Path) -> None:
    """Without WAVE_API_KEY the server does not start: exit 2, one line naming the variable and the sandbox."""
    assert_one_clear_line(wave_mcp(cwd=tmp_path), "WAVE_API_KEY", "--sandbox")


def test_a_blank_key_is_a_missing_key(tmp_path: Path) -> None:
    """A key of spaces is refused like a missing one."""
    assert_one_clear_line(wave_mcp(cwd=tmp_path, WAVE_API_KEY="   "), "WAVE_API_KEY")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", ("WAVE_API_URL", "https://")),
        ("ftp://api.wave.stream", ("WAVE_API_URL", "http(s)")),
        ("https://", ("WAVE_API_URL",)),
        ("http://api.wave.stream", ("WAVE_API_URL", "plain http", "api.wave.stream")),
        ("http://10.0.0.5:8080", ("WAVE_API_URL", "plain http")),
        ("https://user:secret@api.wave.stream", ("WAVE_API_URL", "user name or password")),
        ("https://api.wave.stream/?key=1", ("WAVE_API_URL", "query")),
    ],
)
def test_an_invalid_url_stops_the_server_with_one_line(tmp_path: Path, url: str, words: tuple[str, ...]) -> None:
    """An unusable WAVE_API_URL (including plain http to a public host) stops the server: exit 2, one line."""
    line = assert_one_clear_line(wave_mcp(cwd=tmp_path, WAVE_API_KEY=API_KEY, WAVE_API_URL=url), *words)
    assert "secret" not in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WAVE_POLL_INTERVAL_MIN", "soon"),
        ("WAVE_WAIT_MAX", "-1"),
        ("WAVE_LOG_LEVEL", "chatty"),
        ("WAVE_MAX_RESULT_CHARS", "12"),
    ],
)
def test_an_invalid_setting_is_named_in_one_line(tmp_path: Path, variable: str, value: str) -> None:
    """Any invalid setting stops the server with one line naming it, and not echoing its value."""
    line = assert_one_clear_line(wave_mcp(cwd=tmp_path, WAVE_API_KEY=API_KEY, **{variable: value}), variable)
    assert f"'{value}'" not in line


def test_an_invalid_flag_value_is_named_in_one_line(tmp_path: Path) -> None:
    """Flags are checked like variables: a bad `--wait-max` stops the server with one line."""
    assert_one_clear_line(wave_mcp("--wait-max", "0", cwd=tmp_path, WAVE_API_KEY=API_KEY), "WAVE_WAIT_MAX")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost", "http://[::1]:9000/", "http://127.8.9.10"]
)
def test_plain_http_to_loopback_is_allowed(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Plain http is fine for loopback hosts (a local sandbox or proxy); the trailing slash is dropped."""
    monkeypatch.setenv("WAVE_API_KEY", API_KEY)
    assert load_settings({"api_url": url}).api_url == url.rstrip("/")


def test_a_key_never_appears_in_the_error_output(tmp_path: Path) -> None:
    """Whether given by environment or by flag, the key is not echoed when start-up fails."""
    by_env = wave_mcp(cwd=tmp_path, WAVE_API_KEY=API_KEY, WAVE_API_URL="http://example.com")
    by_flag = wave_mcp("--api-key", API_KEY, "--api-url", "http://example.com", cwd=tmp_path)
    for result in (by_env, by_flag):
        assert_one_clear_line(result, "WAVE_API_URL")
        assert API_KEY not in result.stderr + result.stdout


# ---- precedence: flag > environment > .env > default --------------------------------------------------------


def test_flag_beats_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each setting comes from the strongest source that sets it, and `setting_sources` says which."""
    (tmp_path / ".env").write_text(
        f"WAVE_API_KEY={API_KEY}\nWAVE_CONNECT_TIMEOUT=7\nWAVE_REQUEST_TIMEOUT=11\nWAVE_LOG_LEVEL=debug\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("WAVE_CONNECT_TIMEOUT", "8")
    monkeypatch.setenv("WAVE_REQUEST_TIMEOUT", "22")
    flags = {"connect_timeout": "9"}
    settings = load_settings(flags)
    assert settings.connect_timeout == 9
    assert settings.request_timeout == 22
    assert settings.log_level == "DEBUG"
    assert settings.key == API_KEY
    assert settings.wait_max == 300
    sources = setting_sources(flags, tmp_path / ".env")
    assert sources["connect_timeout"] == "flag"
    assert sources["request_timeout"] == "environment"
    assert sources["log_level"] == ".env"
    assert sources["api_key"] == ".env"
    assert sources["wait_max"] == "default"


def test_settings_errors_are_one_line_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_settings` raises ConfigError with every problem on one line, none echoing the key."""
    monkeypatch.setenv("WAVE_API_KEY", API_KEY)
    with pytest.raises(ConfigError) as caught:
        load_settings({"api_url": "http://example.com", "poll_interval_min": "20", "poll_interval_max": "5"})
    message = str(caught.value)
    assert "\n" not in message and API_KEY not in message
    assert "WAVE_API_URL" in message


# ---- wave-mcp check -----------------------------------------------------------------------------------------


def test_check_with_the_sandbox_succeeds_and_masks_the_key(tmp_path: Path) -> None:
    """`check --sandbox` prints every setting and its source, the key masked, and reaches the sandbox: exit 0."""
    result = wave_mcp("check", "--sandbox", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WAVE_API_KEY" in result.stdout and "set, 11 characters" in result.stdout
    assert SANDBOX_API_KEY not in result.stdout
    assert "OK: the API answered and lists 5 workflow(s)." in result.stdout
    assert "WAVE_SANDBOX" in result.stdout and "(flag)" in result.stdout


def test_check_against_a_loopback_api_masks_a_real_key(
    tmp_path: Path, sandbox_server: tuple[str, SandboxState]
) -> None:
    """With a real key, `check` shows only its length and last four characters, and reaches the API."""
    url, _ = sandbox_server
    result = wave_mcp("check", cwd=tmp_path, WAVE_API_KEY=API_KEY, WAVE_API_URL=url)
    assert result.returncode == 0, result.stdout
    assert API_KEY not in result.stdout + result.stderr
    assert f"set, {len(API_KEY)} characters, ending in …{API_KEY[-4:]}" in result.stdout
    assert "(environment)" in result.stdout
    assert "OK: the API answered" in result.stdout


def test_check_with_a_wrong_key_fails_with_the_rejection(
    tmp_path: Path, sandbox_server: tuple[str, SandboxState]
) -> None:
    """Against a loopback sandbox that refuses the key, `check` exits 1 and says to check WAVE_API_KEY."""
    url, _ = sandbox_server
    wrong = "wk_wrong_0123456789abcdef"
    result = wave_mcp("check", cwd=tmp_path, WAVE_API_KEY=wrong, WAVE_API_URL=url)
    assert result.returncode == 1
    assert "FAILED: The Wave API rejected the API key (HTTP 401). Check WAVE_API_KEY" in result.stdout
    assert wrong not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# ---- wave-mcp sandbox ---------------------------------------------------------------------------------------


def test_the_sandbox_command_serves_the_api_on_its_port(tmp_path: Path) -> None:
    """`wave-mcp sandbox --port N` serves the Wave API there, checks the key, and stops on Ctrl-C."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "wave_mcp", "sandbox", "--port", str(port)],
        env=clean_env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/workflows"
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                answer = httpx2.get(url, headers={"x-api-key": SANDBOX_API_KEY})
                break
            except httpx2.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the sandbox did not start listening"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert [workflow["id"] for workflow in answer.json()][:2] == [
            "8988f685-2b8c-4a09-9955-150426265d32",
            "monthly-report",
        ]
        assert httpx2.get(url, headers={"x-api-key": "wrong"}).status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=TIMEOUT)
    assert stdout.startswith(f"Sandbox Wave API on http://127.0.0.1:{port}")


# ---- wave-mcp demo ------------------------------------------------------------------------------------------


def test_the_demo_runs_to_completion_against_the_sandbox(tmp_path: Path) -> None:
    """`wave-mcp demo` with no key drives the server over stdio against the sandbox and prints the result (slow)."""
    result = subprocess.run(
        [sys.executable, "-m", "wave_mcp", "demo"],
        env=clean_env(COLUMNS="160"),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed" in result.stdout
    assert "Monthly report for March 2026 is ready." in result.stdout
    assert "wait_for_run" in result.stdout and "execute_workflow" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
