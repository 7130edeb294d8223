"""Waiting for a run: the adaptive poll schedule and the loop. Pure async: I/O, clock and sleep come in as arguments.

The schedule polls soon after a run starts, then lets the pause grow with the run's age (a fraction of it, with a
little jitter) up to a cap: short runs are reported almost at once, long ones cost few requests.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio

from wave_mcp.errors import RateLimitedError, WaveError, WaveTimeoutError
from wave_mcp.models import Run, parse_timestamp

__all__ = ["POLL_GRACE", "PollSchedule", "WaitOutcome", "run_age", "wait_for_run"]

POLL_GRACE = 1.0
"""A poll that starts just before the deadline may take this long past it, and no longer."""

MAX_TRUSTED_AGE = 86_400.0
"""A run's age from its start time is trusted up to a day; beyond that the clocks probably disagree."""

GetRun = Callable[[float], Awaitable[Run]]
"""Reads the run once; its argument is the deadline (a `clock()` value) for retries inside the read."""

OnProgress = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class PollSchedule:
    """How long to pause between polls, as a function of the run's age."""

    min_interval: float = 0.5
    max_interval: float = 10.0
    growth: float = 0.25
    jitter: float = 0.1

    def interval(self, age: float, rand: Callable[[], float] = random.random) -> float:
        """The pause before the next poll of a run that is `age` seconds old.

        Jitter applies to the age's share before the bounds, so an old run is polled at the cap itself (on
        average): jittering the capped value could only shorten it and cost requests.
        """
        jittered = self.growth * max(age, 0.0) * (1.0 + self.jitter * (2.0 * rand() - 1.0))
        return min(self.max_interval, max(self.min_interval, jittered))


@dataclass(frozen=True)
class WaitOutcome:
    """How a wait ended: the run as last seen, and whether the deadline came first."""

    run: Run
    timed_out: bool
    elapsed: float
    polls: int


def run_age(run: Run, now: datetime | None = None) -> float:
    """Seconds since the run started, from its `started_at`; 0 when unknown or implausible."""
    started = parse_timestamp(run.started_at)
    if started is None:
        return 0.0
    age = ((now or datetime.now(UTC)) - started).total_seconds()
    return age if 0.0 <= age <= MAX_TRUSTED_AGE else 0.0


def _total(budget: float, progress: float) -> float | None:
    """The progress total: the wait's budget to a hundredth of a second, never below the progress reached."""
    return max(round(budget, 2), progress) or None


async def wait_for_run(
    get_run: GetRun,
    *,
    budget: float,
    schedule: PollSchedule,
    last_seen: Run | None = None,
    initial_age: float = 0.0,
    on_progress: OnProgress | None = None,
    age_of: Callable[[Run], float] | None = None,
    seen_at: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> WaitOutcome:
    """Poll until the run's status is not `running` or `budget` seconds pass; never sleep past the deadline.

    With `last_seen` (the run just started), the first poll waits one interval; otherwise it is immediate.
    Without it, `age_of` (e.g. `run_age`) reads the run's age from the first answer, so that a later call for
    an old run goes on at that run's pace instead of starting the schedule over. With `seen_at` (when `last_seen`
    was read, a `clock()` value) the first poll comes one interval after that read, or at once if that is past,
    and `age_of` still reads the age from the first answer.
    Transient read failures are retried until the deadline; if the run was never seen, the last one is raised.
    """
    start = clock()
    deadline = start + budget
    run = last_seen
    polls = 0
    last_progress = 0.0
    last_error: WaveError | None = None
    pause = schedule.interval(initial_age) if last_seen is not None else 0.0
    if last_seen is not None and seen_at is not None:
        pause = max(0.0, pause - (start - seen_at))
    aged = (last_seen is not None and seen_at is None) or age_of is None

    while True:
        remaining = deadline - clock()
        if pause > 0:
            if remaining <= 0:
                break
            await sleep(min(pause, remaining))
        polls += 1
        with anyio.move_on_after(max(deadline - clock(), 0.0) + POLL_GRACE) as scope:
            try:
                run = await get_run(deadline)
                last_error = None
            except WaveError as exc:
                if not exc.transient:
                    raise
                last_error = exc
        if scope.cancelled_caught:
            break
        elapsed = clock() - start
        if not aged and last_error is None and run is not None and age_of is not None:
            initial_age, aged = max(initial_age, age_of(run) - elapsed), True
        age = initial_age + elapsed
        if last_error is None and run is not None and not run.is_running:
            if on_progress is not None:
                last_progress = max(round(elapsed, 2), last_progress + 0.01)
                await on_progress(
                    last_progress, _total(budget, last_progress), f"{run.status} after {int(age)} s, poll {polls}"
                )
            return WaitOutcome(run=run, timed_out=False, elapsed=elapsed, polls=polls)
        if on_progress is not None:
            state = "running" if last_error is None else "API not answering, retrying"
            last_progress = max(round(elapsed, 2), last_progress + 0.01)
            await on_progress(last_progress, _total(budget, last_progress), f"{state} for {int(age)} s, poll {polls}")
        if clock() >= deadline:
            break
        pause = schedule.interval(age)
        if isinstance(last_error, RateLimitedError) and last_error.retry_after is not None:
            pause = max(pause, last_error.retry_after)

    if run is None:
        raise last_error or WaveTimeoutError(
            f"The Wave API did not answer within the {budget:.0f} s wait. Try again shortly."
        )
    return WaitOutcome(run=run, timed_out=True, elapsed=clock() - start, polls=polls)
