"""Frictions a new user met in the first hour (issue 16): each one's fix, as the user meets it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from rich.progress import Task

from tests.external import INSTALL_HINT, LANGCHAIN_HINT, node_tool
from tests.helpers import (
    API_KEY,
    INITIALIZE,
    LEGACY_HEADERS,
    ROOT,
    TIMEOUT,
    FakeAPI,
    FakeClock,
    GuardedClient,
    Progress,
    ProgressLog,
    assert_one_clear_line,
    clean_env,
    data_of,
    server_env,
    wait,
    wave_mcp,
)
from tests.servers import http_subprocess
from wave_mcp.demo import RunClock, progress_fields
from wave_mcp.listen import bind
from wave_mcp.sandbox import SandboxState

SOURCE = re.compile(r"\((default|flag|environment|\.env|--sandbox)\)$")


def table_rows(stdout: str) -> list[str]:
    """The settings table's rows in `check`'s output."""
    return [line for line in stdout.splitlines() if line.startswith("  WAVE_")]


# ---- wave-mcp check ------------------------------------------------------------------------------------------


def test_check_labels_what_the_sandbox_forces(tmp_path: Path) -> None:
    """`check --sandbox` says the key, URL and example catalog come from --sandbox, not from defaults."""
    result = wave_mcp("check", "--sandbox", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line for line in table_rows(result.stdout)}
    for name in ("WAVE_API_KEY", "WAVE_API_URL", "WAVE_CATALOG"):
        assert rows[name].endswith("(--sandbox)"), rows[name]
    blank = wave_mcp("check", "--sandbox", cwd=tmp_path, WAVE_CATALOG="")
    assert next(row for row in table_rows(blank.stdout) if row.split()[0] == "WAVE_CATALOG").endswith("(--sandbox)")
    assert rows["WAVE_SANDBOX"].endswith("(flag)")
    assert rows["WAVE_WAIT_MAX"].endswith("(default)")


def test_check_keeps_a_catalog_given_with_the_sandbox_as_given(tmp_path: Path) -> None:
    """With --sandbox and a catalog of one's own, the catalog's source is where it was given."""
    catalog = tmp_path / "mine.toml"
    catalog.write_bytes((ROOT / "wave_mcp" / "examples" / "catalog.toml").read_bytes())
    result = wave_mcp("check", "--sandbox", cwd=tmp_path, WAVE_CATALOG=str(catalog))
    rows = {line.split()[0]: line for line in table_rows(result.stdout)}
    assert rows["WAVE_CATALOG"].endswith("(environment)")


def test_check_aligns_its_columns_around_long_values(tmp_path: Path) -> None:
    """Every row's value and source start in the same columns, even with a long name and a long path."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 4)
    deep.mkdir()
    catalog = deep / "catalog.toml"
    catalog.write_bytes((ROOT / "wave_mcp" / "examples" / "catalog.toml").read_bytes())
    result = wave_mcp("check", "--sandbox", "--catalog", str(catalog), cwd=tmp_path)
    rows = table_rows(result.stdout)
    assert len(rows) >= 20
    value_starts = {len(re.match(r"  \S+\s+", row)[0]) for row in rows}  # type: ignore[index]
    sources = [SOURCE.search(row) for row in rows]
    assert len(value_starts) == 1
    assert len({found.start() for found in sources if found}) == 1 and all(sources)


def test_check_without_a_key_prints_the_table_then_exits_2(tmp_path: Path) -> None:
    """With no key, `check` still prints every setting, marks the key as missing, says so once, and exits 2."""
    result = wave_mcp("check", cwd=tmp_path)
    assert result.returncode == 2
    rows = table_rows(result.stdout)
    assert len(rows) == len({row.split()[0] for row in rows}) >= 20
    key_row = next(row for row in rows if row.split()[0] == "WAVE_API_KEY")
    assert "MISSING" in key_row
    assert "Reaching" not in result.stdout
    assert result.stderr.splitlines() == [
        "wave-mcp: WAVE_API_KEY is not set: set it in the environment or pass --api-key "
        "(or try the built-in sandbox with --sandbox)"
    ]


# ---- several bad settings, named as given --------------------------------------------------------------------


def test_every_bad_setting_is_named_at_once_by_its_flag_when_given_as_one(tmp_path: Path) -> None:
    """A bad flag, a bad variable and the missing key come in one line; the flag is named as typed."""
    result = wave_mcp("--wait-max", "0", cwd=tmp_path, WAVE_POLL_INTERVAL_MIN="soon")
    line = assert_one_clear_line(result, "WAVE_POLL_INTERVAL_MIN", "WAVE_API_KEY")
    assert "WAVE_WAIT_MAX: Input should be greater than 0 (given as --wait-max)" in line
    assert "--poll-interval-min" not in line


def test_checks_across_settings_come_with_the_bad_values(tmp_path: Path) -> None:
    """A bad URL does not hide that the default wait is longer than the maximum wait."""
    result = wave_mcp(cwd=tmp_path, WAVE_API_KEY=API_KEY, WAVE_API_URL="http://example.com", WAVE_WAIT_DEFAULT="500")
    assert_one_clear_line(result, "WAVE_API_URL", "WAVE_WAIT_DEFAULT must not be larger than WAVE_WAIT_MAX")


# ---- the demo ------------------------------------------------------------------------------------------------


def test_the_demo_stops_on_a_missing_catalog_as_serve_does(tmp_path: Path) -> None:
    """`WAVE_CATALOG=/missing wave-mcp demo` gives the same one line and exit 2 as `serve --sandbox` and `check`."""
    demo = wave_mcp("demo", cwd=tmp_path, WAVE_CATALOG="/missing")
    serve = wave_mcp("--sandbox", cwd=tmp_path, WAVE_CATALOG="/missing")
    check = wave_mcp("check", "--sandbox", cwd=tmp_path, WAVE_CATALOG="/missing")
    line = assert_one_clear_line(demo, "/missing", "no such file")
    assert assert_one_clear_line(serve) == line
    assert check.returncode == 2 and check.stderr.splitlines() == [line]


def render(column: RunClock, **fields: object) -> str:
    """What the column shows for a task with these fields."""
    task = Task(0, "", None, 0, _get_time=lambda: 0.0, fields=dict(fields))  # type: ignore[arg-type]
    return str(column.render(task))


def test_the_demo_clock_counts_the_run_not_the_wait_budget() -> None:
    """The demo shows the run's age in whole seconds and the polls, with no percentage, and stops at the end."""
    clock = FakeClock(now=100.0)
    column = RunClock(started=clock.now, clock=clock)
    clock.advance(14.9)
    assert render(column, state="running", polls=6) == "running for 14 s, poll 6"
    clock.advance(0.2)
    column.stop()
    clock.advance(30)
    shown = render(column, state="completed", polls=7)
    assert shown == "completed after 15 s, poll 7"
    assert "%" not in shown


@pytest.mark.anyio
async def test_the_demo_reads_status_and_polls_from_the_server_s_messages(mcp_client: GuardedClient) -> None:
    """Every progress message the server sends parses into the state and the poll count the demo shows."""
    run = data_of(
        await mcp_client.call_tool(
            "execute_workflow", {"workflow_id": "monthly-report", "params": {"month": "March", "year": 2026}}
        )
    )
    progress = ProgressLog()
    done = data_of(
        await mcp_client.call_tool(
            "wait_for_run", {"run_id": run["id"], "timeout_seconds": 15}, progress_callback=progress
        )
    )
    messages = [message or "" for _, _, message in await progress.settled(done["polls"])]
    fields = [progress_fields(message) for message in messages]
    assert [field["polls"] for field in fields] == list(range(1, done["polls"] + 1))
    assert {field["state"] for field in fields[:-1]} == {"running"} and fields[-1]["state"] == "completed"


@pytest.mark.anyio
async def test_the_server_floors_the_run_s_age_as_a_clock_does() -> None:
    """A run 5.9 s old is "running for 5 s", as a clock would show it; totals are the budget to 1/100 s."""
    time = FakeClock()
    api = FakeAPI(time, length=100.0, started=time.now - 5.9)
    progress: Progress = []
    await wait(api, budget=9.9986821829998, progress=progress)
    assert progress[0][2] == "running for 5 s, poll 1"
    assert {total for _, total, _ in progress} == {10.0}


# ---- ports in use ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["sandbox"], ["--sandbox", "serve", "--transport", "http"]], ids=["sandbox", "serve-http"]
)
def test_a_port_in_use_is_one_line_before_any_announcement(tmp_path: Path, command: list[str]) -> None:
    """On a port another process listens on: "port N is in use", exit 2, and no line saying it listens."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = wave_mcp(*command, "--port", str(port), cwd=tmp_path)
    assert_one_clear_line(result, f"port {port} is in use")


# ---- HTTP logs -----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_requests_do_not_log_session_teardown(sandbox_server: tuple[str, SandboxState]) -> None:
    """At the default level, serving HTTP requests does not log "Terminating session" for each one."""
    url, _ = sandbox_server
    with http_subprocess(server_env(url)) as spawned:
        async with httpx2.AsyncClient() as http:
            for _ in range(3):
                answer = await http.post(f"{spawned.url}/mcp", json=INITIALIZE, headers=LEGACY_HEADERS)
                assert answer.status_code == 200
    assert "Streamable HTTP on" in spawned.stderr
    assert "Terminating session" not in spawned.stderr


# ---- --help, skip hints, the examples' interpreter -----------------------------------------------------------


def test_help_shows_each_setting_s_default(tmp_path: Path) -> None:
    """`--help` gives each setting's default next to its variable."""
    result = wave_mcp("--help", cwd=tmp_path, COLUMNS="400")
    assert result.returncode == 0
    for shown in (
        "[WAVE_WAIT_MAX; default: 300.0]",
        "[WAVE_API_URL; default: https://api.wave.stream]",
        "[WAVE_READ_ONLY; default: off]",
        "[WAVE_API_KEY; default: not set]",
    ):
        assert shown in result.stdout


def test_skip_messages_say_what_to_install_without_make() -> None:
    """A missing external client's skip reason names the npm (or pip) command, not only the make target."""
    with pytest.raises(pytest.skip.Exception) as skipped:
        node_tool("no-such-client")
    assert "npm install --prefix .tools/node" in str(skipped.value)
    assert INSTALL_HINT in str(skipped.value)
    assert "pip install langchain-mcp-adapters" in LANGCHAIN_HINT


def test_an_example_run_by_an_interpreter_without_its_framework_says_which_to_use() -> None:
    """`python pydantic_ai_example.py` without pydantic-ai installed: one line naming the venv's interpreter."""
    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / "client-configs" / "pydantic_ai_example.py"), "--sandbox"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert ".venv/bin/python" in lines[0] and "requirements.lock" in lines[0]


def test_the_listening_socket_says_tcp_so_answers_are_not_held_by_nagle() -> None:
    """`bind` names the protocol, as uvicorn's own binding does: asyncio then sets TCP_NODELAY on each accepted
    connection (it skips sockets whose protocol is 0), and small answers are not held ~40 ms for a delayed ACK."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
