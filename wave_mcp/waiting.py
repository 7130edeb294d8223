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

__all__ = ["NEAR_DEADLINE", "POLL_GRACE", "PollSchedule", "Seen", "WaitOutcome", "run_age", "wait_for_run"]

POLL_GRACE = 0.75
"""A poll that starts just before the deadline may take this long past it, and no longer (the client's own backstop
ends its requests sooner: see BACKSTOP_GRACE in client.py)."""

NEAR_DEADLINE = 0.25
"""On a busy server (its load stretches the schedule past its shortest pause), a wait that has seen its run and has
less time than this left answers instead of starting another read, which would end late. An idle server reads once
more at the deadline, for the freshest status."""

MAX_TRUSTED_AGE = 86_400.0
"""A run's age from its start time is trusted up to a day; beyond that the clocks probably disagree."""

GetRun = Callable[[float], Awaitable[Run]]
"""Reads the run once; its argument is the deadline (a `clock()` value) for retries inside the read."""

OnProgress = Callable[[float, float | None, str], Awaitable[None]]
"""Told after each poll: progress (seconds waited, strictly increasing), total (the budget) and a message."""


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
class Seen:
    """A run as last seen: the run, when it was read (a `clock()` value) and how old it was then, in seconds."""

    run: Run
    at: float
    age: float

    def age_at(self, moment: float) -> float:
        """The run's age at `moment` (a `clock()` value)."""
        return self.age + max(moment - self.at, 0.0)


class _Progress:
    """Tells `on_progress` (if any) a message, with progress in seconds since the wait began, strictly increasing."""

    def __init__(self, on_progress: OnProgress | None, *, budget: float, clock: Callable[[], float]) -> None:
        self._on_progress = on_progress
        self._budget = budget
        self._clock = clock
        self._start = clock()
        self._last = 0.0

    async def __call__(self, message: str) -> None:
        if self._on_progress is not None:
            self._last = max(round(self._clock() - self._start, 2), self._last + 0.01)
            await self._on_progress(self._last, _total(self._budget, self._last), message)


@dataclass(frozen=True)
class WaitOutcome:
    """How a wait ended: the run as last seen (and its age then), and whether the deadline came first."""

    run: Run
    timed_out: bool
    elapsed: float
    polls: int
    age: float = 0.0


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
    since: Seen | None = None,
    on_progress: OnProgress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    floor: Callable[[], float] | None = None,
) -> WaitOutcome:
    """Poll until the run's status is not `running` or `budget` seconds pass; never sleep past the deadline.

    Without `since` the first poll is immediate and the run's age comes from its first answer (`run_age`). With
    `since` (the run as read moments ago: just started, or read by an earlier call) the wait goes on at that run's
    pace: its first poll comes one interval after that read, and its age counts on from there. Transient read failures
    are retried until the deadline (the last is raised if the run was never seen). `floor()`: see `_Load`."""
    start = clock()
    deadline = start + budget
    run = since.run if since is not None else None
    age_at_start = since.age_at(start) if since is not None else None
    load = _Load(floor, schedule.min_interval)
    pause = _first_pause(schedule, since, start, load, budget)
    mark, polls = start, 0
    last_error: WaveError | None = None
    report = _Progress(on_progress, budget=budget, clock=clock)

    while True:
        stretch = load if polls or since is not None else _unloaded  # the spread first read is not held back
        if pause > 0 and not await _rest(mark, pause, stretch, deadline, clock, sleep):
            break
        if run is not None and deadline - clock() < NEAR_DEADLINE and load.busy():
            break
        polls += 1
        answer = await _poll(get_run, deadline, clock)
        if answer is None:
            break
        last_error = answer if isinstance(answer, WaveError) else None
        run = answer if isinstance(answer, Run) else run
        elapsed = clock() - start
        if age_at_start is None and last_error is None and run is not None:
            age_at_start = max(run_age(run) - elapsed, 0.0)
        age = (age_at_start or 0.0) + elapsed
        if last_error is None and run is not None and not run.is_running:
            await report(f"{run.status} after {int(age)} s, poll {polls}")
            return WaitOutcome(run=run, timed_out=False, elapsed=elapsed, polls=polls, age=age)
        state = "running" if last_error is None else "API not answering, retrying"
        await report(f"{state} for {int(age)} s, poll {polls}")
        if clock() >= deadline:
            break
        mark, pause = clock(), schedule.interval(age)
        if isinstance(last_error, RateLimitedError) and last_error.retry_after is not None:
            pause = max(pause, last_error.retry_after)

    if run is None:
        raise last_error or WaveTimeoutError(
            f"The Wave API did not answer within the {budget:.0f} s wait. Try again shortly."
        )
    elapsed = clock() - start
    return WaitOutcome(run=run, timed_out=True, elapsed=elapsed, polls=polls, age=(age_at_start or 0.0) + elapsed)


class _Load:
    """The server's load as one wait sees it: the load floor (the shortest pause it allows now), jittered by a share
    of this wait's own, so that waits arriving together spread out."""

    def __init__(self, floor: Callable[[], float] | None, min_interval: float) -> None:
        self._floor = floor
        self._min_interval = min_interval
        self._share = 0.75 + 0.5 * random.random()  # noqa: S311 - jitter, not a secret

    def __call__(self) -> float:
        return self._floor() * self._share if self._floor is not None else 0.0

    def busy(self) -> bool:
        """True when the load asks for longer pauses than the schedule's shortest."""
        return self() >= self._min_interval


def _first_pause(schedule: PollSchedule, since: Seen | None, start: float, load: _Load, budget: float) -> float:
    """Before the first read: one interval after `since`'s read; when busy, a spread part of the load floor;
    else none."""
    if since is not None:
        return max(0.0, schedule.interval(since.age) - (start - since.at))
    if load.busy():  # busy: spread the first reads of waits arriving at once
        return random.random() * min(load(), budget) / 2  # noqa: S311 - jitter
    return 0.0


def _unloaded() -> float:
    return 0.0


async def _rest(
    mark: float,
    pause: float,
    load: Callable[[], float],
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> bool:
    """Sleep until `pause` after `mark`, or longer while the load floor (which may grow meanwhile) asks for it, but
    never past the deadline. False when the deadline had already come; True when a read may follow."""
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        wait = min(mark + max(pause, load()) - clock(), remaining)
        if wait <= 0:
            return True
        await sleep(wait)
        if clock() >= deadline:
            return True


async def _poll(get_run: GetRun, deadline: float, clock: Callable[[], float]) -> Run | WaveError | None:
    """One read, cut off POLL_GRACE after the deadline: the run, a transient error, or None when cut off."""
    with anyio.move_on_after(max(deadline - clock(), 0.0) + POLL_GRACE):
        try:
            return await get_run(deadline)
        except WaveError as exc:
            if not exc.transient:
                raise
            return exc
    return None
