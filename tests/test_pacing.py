"""Waits go on at the run's pace: a run read moments ago (by execute, get_run or an earlier wait) is not read again at
once; the HTTP transport, and its TLS set-up, is built on the first request rather than at start."""

from __future__ import annotations

import threading
import time

import anyio
import httpx2
import pytest
from mcp import Client

from tests.helpers import ERAS, FakeClock, make_settings
from wave_mcp.client import LazyTransport
from wave_mcp.models import Run
from wave_mcp.sandbox import SandboxState
from wave_mcp.server import build_server
from wave_mcp.waiting import PollSchedule, Seen, wait_for_run

pytestmark = pytest.mark.anyio

STEADY = PollSchedule(min_interval=2.0, max_interval=2.0, jitter=0.0)


@pytest.mark.parametrize(("read_ago", "first_read_after"), [(0.0, 2.0), (0.5, 1.5), (1.9, 0.1), (2.0, 0.0), (60, 0.0)])
async def test_the_first_poll_comes_one_interval_after_the_last_read(read_ago: float, first_read_after: float) -> None:
    """With `since`, what is left of one interval since that read passes before the first poll."""
    clock = FakeClock(now=100.0)
    reads: list[float] = []

    async def get_run(deadline: float) -> Run:  # the run has finished; note when it is read
        reads.append(clock())
        return Run(id="r1", status="completed")

    since = Seen(run=Run(id="r1", status="running"), at=clock() - read_ago, age=0.0)
    outcome = await wait_for_run(get_run, budget=30, schedule=STEADY, since=since, clock=clock, sleep=clock.sleep)
    assert outcome.run.status == "completed"
    assert reads == [pytest.approx(100.0 + first_read_after)]


def _run(run_id: str, status: str = "running") -> dict[str, object]:
    return {"id": run_id, "status": status, "startedAt": "2026-01-01T00:00:00.000000000Z"}


@pytest.mark.parametrize("era", ERAS)
async def test_a_wait_right_after_execute_does_not_read_the_run_again_at_once(
    era: str, transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """Execute reads the run; a short wait right after it reads only once, at its deadline (with a 5 s interval,
    an immediate read would make two)."""
    server = build_server(make_settings(poll_interval_min=5.0, poll_interval_max=10.0), transport=transport)
    async with Client(server, mode=era) as client:
        started = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 600}})
        run_id = (started.structured_content or {})["id"]
        waited = await client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 0.2})
        report = waited.structured_content or {}
        assert report["timed_out"] is True
        assert report["polls"] == 1
        assert sandbox.count("GET", f"/runs/{run_id}") == 1
        assert report["workflow_name"] == "Timer"


@pytest.mark.parametrize("era", ERAS)
async def test_a_zero_timeout_wait_still_reads_the_run(
    era: str, transport: httpx2.ASGITransport, sandbox: SandboxState
) -> None:
    """The memory of reads never replaces a read the caller asked for: timeout 0 reads the run once."""
    server = build_server(make_settings(poll_interval_min=5.0, poll_interval_max=10.0), transport=transport)
    async with Client(server, mode=era) as client:
        started = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": 600}})
        run_id = (started.structured_content or {})["id"]
        waited = await client.call_tool("wait_for_run", {"run_id": run_id, "timeout_seconds": 0})
        assert (waited.structured_content or {})["polls"] == 1
        assert sandbox.count("GET", f"/runs/{run_id}") == 1


async def test_the_lazy_transport_is_built_on_the_first_request_only() -> None:
    """The HTTP transport is built on the first request, once (requests arriving together wait for that one build),
    in a worker thread, never for a client that sends none."""
    built: list[httpx2.MockTransport] = []
    threads: list[int] = []

    def build() -> httpx2.AsyncBaseTransport:
        threads.append(threading.get_ident())
        time.sleep(0.05)  # certificates loading
        built.append(httpx2.MockTransport(lambda request: httpx2.Response(200, json=_run("a"))))
        return built[-1]

    async with httpx2.AsyncClient(base_url="http://wave.test", transport=LazyTransport(build)) as http:
        assert built == []
        answers: list[str] = []

        async def get() -> None:
            answers.append((await http.get("/runs/a")).json()["id"])

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(get)
        await http.get("/runs/a")
        assert answers == ["a"] * 5 and len(built) == 1
        assert threads != [threading.get_ident()], "built on the event loop's thread"
    async with httpx2.AsyncClient(transport=LazyTransport(build)):
        pass
    assert len(built) == 1
