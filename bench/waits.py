"""Waiting: detection lag (run finished -> the waiter knew) and requests made, for our schedule and fixed polling.

Ours is the real server over stdio (SDK client): `execute_workflow`, then `wait_for_run` with the default 30 s
budget, called again while it times out, as a model would. The baselines are plain loops that GET the run every
1 s or every 10 s, as the API's documentation suggests. All run side by side against one sandbox process.

Long runs are simulated with the sandbox's time scale: with scale s a run of T seconds takes T * s, and every
interval of the waiters (poll bounds, fixed periods, the 30 s budget) is multiplied by s too; lags are divided by
s to read in the run's own seconds. One batch runs in real time (s = 1) to confirm the scaling.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from bench.common import BENCH_KEY, PYTHON, ROOT, Table, fmt, median, percentile, sandbox_process, server_env
from wave_mcp.models import parse_timestamp
from wave_mcp.waiting import PollSchedule

REAL_TIME_LENGTHS = (1.0, 3.0, 10.0)
SCALED_LENGTHS = (10.0, 30.0, 120.0)
STAGGER = 0.02
"""Seconds between the starts of two waiters of a batch, so that they do not all begin in the same instant."""
FIXED = (1.0, 10.0)
WAIT_BUDGET = 30.0
"""Seconds per wait_for_run call: the server's default, under the 60 s at which many clients cut a call."""

LENGTH_SPREAD = 0.1
"""Each run's length is drawn from T +- 5 %, the same for every waiter of one repetition, so that no run ends exactly
on a fixed poller's beat."""
LAG_TOLERANCE = 0.5
"""Seconds of slack on the longest lag, for the poll's own latency (about 0.1 s at scale 0.1) and the "about"."""

DEFAULTS = PollSchedule()
MIN_POLL_SETTING = 0.05
"""The smallest WAVE_POLL_INTERVAL_MIN the server accepts."""
OURS = "ours"


@dataclass(frozen=True)
class Outcome:
    strategy: str
    length: float
    scale: float
    lag: float
    """Seconds, in the run's own time."""
    requests: int
    calls: int


def _finish(started_at: str | None, length: float, scale: float) -> float:
    moment = parse_timestamp(started_at)
    if moment is None:
        raise RuntimeError(f"the run has no readable start time: {started_at!r}")
    return moment.timestamp() + length * scale


async def _ours(client: Client, length: float, scale: float) -> tuple[str, Outcome]:
    started = await client.call_tool("execute_workflow", {"workflow_id": "timer", "params": {"seconds": length}})
    run: dict[str, Any] = started.structured_content or {}
    if started.is_error or run.get("status") != "running":
        raise RuntimeError(f"execute_workflow failed: {started.content}")
    finish = _finish(run.get("started_at"), length, scale)
    calls = 0
    while True:
        calls += 1
        result = await client.call_tool("wait_for_run", {"run_id": run["id"], "timeout_seconds": WAIT_BUDGET * scale})
        report: dict[str, Any] = result.structured_content or {}
        if result.is_error:
            raise RuntimeError(f"wait_for_run failed: {result.content}")
        if not report.get("timed_out"):
            break
    done = time.time()
    if report.get("status") != "completed" or report.get("result") != {"waited_seconds": length}:
        raise RuntimeError(f"wait_for_run returned a wrong run: {report!r}")
    return run["id"], Outcome(OURS, length, scale, (done - finish) / scale, 0, calls)


async def _fixed(http: httpx2.AsyncClient, period: float, length: float, scale: float) -> tuple[str, Outcome]:
    response = await http.post("/workflows/timer/execute", json={"seconds": length})
    response.raise_for_status()
    run = response.json()
    finish = _finish(run.get("startedAt"), length, scale)
    while run["status"] == "running":
        await anyio.sleep(period * scale)
        run = (await http.get(f"/runs/{run['id']}")).raise_for_status().json()
    done = time.time()
    return run["id"], Outcome(f"fixed {period:g} s", length, scale, (done - finish) / scale, 0, 0)


async def batch(scale: float, lengths: Sequence[float], reps: int) -> list[Outcome]:
    """Every strategy on every run length, `reps` times, all at once against one sandbox with time scale `scale`."""
    outcomes: list[tuple[str, Outcome]] = []
    with sandbox_process(time_scale=scale) as sandbox:
        url = sandbox.url
        env = server_env(
            url,
            poll_interval_min=repr(DEFAULTS.min_interval * scale),
            poll_interval_max=repr(DEFAULTS.max_interval * scale),
        )
        params = StdioServerParameters(command=PYTHON, args=["-m", "wave_mcp"], env=env, cwd=str(ROOT))
        async with (
            httpx2.AsyncClient(base_url=url, headers={"x-api-key": BENCH_KEY}, timeout=30) as http,
            Client(stdio_client(params, errlog=sys.stderr), mode="legacy", read_timeout_seconds=120) as client,
        ):

            async def one(kind: str, nominal: float, length: float, delay: float) -> None:
                await anyio.sleep(delay)
                if kind == OURS:
                    run_id, outcome = await _ours(client, length, scale)
                else:
                    run_id, outcome = await _fixed(http, float(kind), length, scale)
                outcomes.append((run_id, replace(outcome, length=nominal)))

            rng = random.Random(f"waits-{scale}")
            started = 0
            async with anyio.create_task_group() as group:
                for _ in range(reps):
                    for nominal in lengths:
                        length = round(nominal * (1 + LENGTH_SPREAD * (rng.random() - 0.5)), 3)
                        for kind in (OURS, *(str(p) for p in FIXED)):
                            group.start_soon(one, kind, nominal, length, STAGGER * started)
                            started += 1
            log = (await http.get("/_sandbox/requests")).raise_for_status().json()
    gets = Counter(entry["path"] for entry in log if entry["method"] == "GET")
    return [Outcome(o.strategy, o.length, o.scale, o.lag, gets[f"/runs/{run_id}"], o.calls) for run_id, o in outcomes]


def _lag_ok(length: float, lags: Sequence[float]) -> bool:
    """The design's bar: median <= 1 s for runs under 10 s; longer ones never more than ~30 % of the run or the cap."""
    if length < 10:
        return median(lags) <= 1.0
    return max(lags) <= min(0.3 * length, DEFAULTS.max_interval) + LAG_TOLERANCE


def _requests_bar(length: float) -> float:
    return 15 + length / DEFAULTS.max_interval


def table(outcomes: list[Outcome], scaled: float, reps: int, real_reps: int) -> Table:
    result = Table(
        "Waiting: detection lag (run finished -> waiter returned, s) and GET requests per run",
        [
            "run",
            "waiter",
            "time",
            "lag median (p25-p75)",
            "lag max",
            "requests median (min-max)",
            "tool calls",
            "bar: lag / requests",
        ],
    )
    groups: dict[tuple[float, float, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.scale, o.length, o.strategy), []).append(o)
    order = {OURS: 0, **{f"fixed {p:g} s": i + 1 for i, p in enumerate(FIXED)}}
    for scale, length, strategy in sorted(groups, key=lambda k: (k[1], -k[0], order[k[2]])):
        items = groups[scale, length, strategy]
        lags = [o.lag for o in items]
        requests = [float(o.requests) for o in items]
        bar = ""
        if strategy == OURS:
            lag_ok = _lag_ok(length, lags)
            req_ok = median(requests) <= _requests_bar(length)
            bar = f"{_verdict(lag_ok)} / {_verdict(req_ok)} (<= {_requests_bar(length):.0f})"
        result.add(
            f"{length:g} s",
            strategy,
            "real" if scale == 1 else f"x{scale:g}",
            f"{fmt(median(lags), 2)} ({fmt(percentile(lags, 25), 2)}-{fmt(percentile(lags, 75), 2)})",
            fmt(max(lags), 2),
            f"{fmt(median(requests))} ({fmt(min(requests))}-{fmt(max(requests))})",
            fmt(median([float(o.calls) for o in items])) if strategy == OURS else "-",
            bar,
        )
    result.notes.append(
        f"Time x{scaled:g}: runs and every waiter's intervals scaled by {scaled:g}, lags read in the run's seconds"
        f" ({reps} of each); real: unscaled ({real_reps} of each). Ours: `execute_workflow`, then `wait_for_run`"
        f" ({WAIT_BUDGET:g} s budget) until it does not time out, through `python -m wave_mcp` over stdio with the"
        f" default schedule (min {DEFAULTS.min_interval:g} s, growth {DEFAULTS.growth:g} x age, cap"
        f" {DEFAULTS.max_interval:g} s, jitter {DEFAULTS.jitter:.0%}). Bars: lag median <= 1 s under 10 s, else at"
        " most ~30 % of the run or the cap; requests <= 15 + T / cap."
    )
    return result


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


async def run(
    scale: float = 0.1,
    reps: int = 4,
    real_reps: int = 4,
    real_lengths: Sequence[float] = REAL_TIME_LENGTHS,
    scaled_lengths: Sequence[float] = SCALED_LENGTHS,
) -> list[Table]:
    """Short runs in real time, long ones (and 10 s again, to confirm the scaling) at time scale `scale`."""
    if DEFAULTS.min_interval * scale < MIN_POLL_SETTING:
        raise ValueError(f"time scale {scale:g} is too small: the server polls at least every {MIN_POLL_SETTING:g} s")
    real = await batch(1.0, real_lengths, real_reps) if real_reps else []
    scaled = await batch(scale, scaled_lengths, reps)
    if any(math.isnan(o.lag) for o in scaled + real):
        raise RuntimeError("a wait produced no lag")
    return [table(real + scaled, scale, reps, real_reps)]
