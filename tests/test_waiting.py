"""The poll schedule and the wait loop, driven by a fake clock and a fake sleep: deterministic, no real waiting."""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import STEADY_SCHEDULE, FakeAPI, FakeClock, Progress, wait
from wave_mcp.errors import (
    AuthenticationError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    UpstreamError,
    WaveConnectionError,
    WaveError,
    WaveTimeoutError,
)
from wave_mcp.models import Run
from wave_mcp.waiting import NEAR_DEADLINE, PollSchedule, Seen, wait_for_run

pytestmark = pytest.mark.anyio

CAP = 10.0
DEFAULT = PollSchedule()
STEADY = STEADY_SCHEDULE


@dataclass(frozen=True)
class FixedDraw(PollSchedule):
    """The default schedule with its random draw fixed, so that jitter's extremes can be tested."""

    draw: float = 0.5

    def interval(self, age: float, rand: Callable[[], float] = random.random) -> float:
        return super().interval(age, lambda: self.draw)


def running(**other: object) -> Run:
    return Run(id="run-1", status="running", other=dict(other))


def just_seen(age: float = 0.0, **other: object) -> Seen:
    """The run as read at the fake clock's start (1000.0), `age` seconds old then."""
    return Seen(run=running(**other), at=1000.0, age=age)


def upstream() -> UpstreamError:
    return UpstreamError("The Wave API failed (HTTP 503)", status_code=503, method="GET", path="/runs/run-1")


# ---- the schedule -------------------------------------------------------------------------------------------

ages = st.floats(min_value=-10, max_value=1e7, allow_nan=False)
draws = st.floats(min_value=0, max_value=1, exclude_max=True)
schedules = st.builds(
    PollSchedule,
    min_interval=st.floats(min_value=0.05, max_value=5),
    max_interval=st.floats(min_value=5, max_value=300),
    growth=st.floats(min_value=0.01, max_value=1),
    jitter=st.floats(min_value=0, max_value=0.5),
)


@given(schedules, ages, draws)
def test_the_interval_stays_within_its_bounds(schedule: PollSchedule, age: float, draw: float) -> None:
    """Whatever the age and the draw, the pause is between the minimum and the maximum interval."""
    assert schedule.min_interval <= schedule.interval(age, lambda: draw) <= schedule.max_interval


@given(schedules, ages, ages, draws)
def test_the_interval_grows_with_age(schedule: PollSchedule, age: float, older: float, draw: float) -> None:
    """For the same draw, an older run is never polled more often than a younger one."""
    young, old = sorted((age, older))
    assert schedule.interval(young, lambda: draw) <= schedule.interval(old, lambda: draw)


@given(schedules, ages, draws)
def test_the_jitter_is_bounded(schedule: PollSchedule, age: float, draw: float) -> None:
    """Jitter moves the pause by at most `jitter` of its unjittered value."""
    centre = schedule.interval(age, lambda: 0.5)
    assert abs(schedule.interval(age, lambda: draw) - centre) <= schedule.jitter * centre + 1e-9


def test_the_schedule_is_quick_for_young_runs_and_capped_for_old_ones() -> None:
    """A run just started is polled every `min_interval`; an hour-old run every `max_interval`."""
    assert DEFAULT.interval(0.0) == DEFAULT.min_interval
    assert DEFAULT.interval(1.0) == DEFAULT.min_interval
    assert DEFAULT.interval(3600.0, lambda: 0.0) == DEFAULT.max_interval
    assert DEFAULT.interval(3600.0, lambda: 0.999) == DEFAULT.max_interval
    assert DEFAULT.min_interval < DEFAULT.interval(20.0, lambda: 0.5) < DEFAULT.max_interval


def test_the_jitter_spreads_polls() -> None:
    """Two draws give different pauses in the growing phase, so that many waits do not poll in step."""
    assert DEFAULT.interval(20.0, lambda: 0.0) < DEFAULT.interval(20.0, lambda: 0.999)


# ---- the loop -----------------------------------------------------------------------------------------------


async def test_the_first_poll_is_immediate() -> None:
    """Without a run just seen, the loop reads the run before any pause."""
    time = FakeClock()
    api = FakeAPI(time, length=0.0)
    outcome = await wait(api, budget=30)
    assert api.calls[0][0] == 1000.0
    assert time.sleeps == []
    assert outcome.polls == 1 and not outcome.timed_out and outcome.elapsed == 0.0


async def test_with_a_run_just_seen_the_first_poll_waits_one_interval() -> None:
    """With the run just seen (after execute), the first read comes after one interval of the schedule."""
    time = FakeClock()
    api = FakeAPI(time, length=0.1)
    outcome = await wait(api, budget=30, since=just_seen())
    assert time.sleeps[0] == STEADY.min_interval
    assert api.calls[0][0] == 1000.0 + STEADY.min_interval
    assert outcome.run.status == "completed" and outcome.polls == 1


async def test_the_first_interval_follows_the_run_s_age() -> None:
    """A run already old when seen is first polled after the interval of its age."""
    time = FakeClock()
    api = FakeAPI(time, length=1e9)
    await wait(api, budget=30, since=just_seen(age=25.0))
    assert time.sleeps[0] == STEADY.interval(25.0)


async def test_the_deadline_is_passed_to_each_read() -> None:
    """Each read is told the wait's deadline, so its own retries stop in time."""
    time = FakeClock()
    api = FakeAPI(time)
    await wait(api, budget=5)
    assert {deadline for _, deadline in api.calls} == {1005.0}


@given(
    budget=st.floats(min_value=0, max_value=400),
    length=st.floats(min_value=0, max_value=600),
    read_seconds=st.floats(min_value=0, max_value=2),
    seen=st.booleans(),
)
async def test_the_loop_never_sleeps_past_the_deadline(
    budget: float, length: float, read_seconds: float, seen: bool
) -> None:
    """No pause ends after the deadline, and no read starts after it."""
    time = FakeClock()
    api = FakeAPI(time, length=length, read_seconds=read_seconds)
    outcome = await wait(api, budget=budget, schedule=DEFAULT, since=just_seen() if seen else None)
    deadline = 1000.0 + budget
    assert all(at <= deadline + 1e-9 for at, _ in api.calls)
    assert outcome.elapsed <= budget + read_seconds + 1e-9
    if outcome.timed_out:
        assert outcome.run.is_running
    else:
        assert outcome.run.status == "completed"


async def test_a_wait_that_reaches_its_deadline_returns_the_run_as_last_seen() -> None:
    """At the deadline the loop returns the latest run it read, `timed_out`, not an error."""
    time = FakeClock()
    api = FakeAPI(time)
    outcome = await wait(api, budget=12)
    assert outcome.timed_out
    assert outcome.run.status == "running"
    assert outcome.run.other["read_at"] == api.calls[-1][0]
    assert outcome.polls == len(api.calls)
    assert outcome.elapsed == pytest.approx(12.0)
    assert api.calls[-1][0] == pytest.approx(1012.0)


async def test_a_zero_budget_reads_once() -> None:
    """`timeout_seconds=0` means look once and report."""
    time = FakeClock()
    api = FakeAPI(time)
    outcome = await wait(api, budget=0)
    assert outcome.polls == 1 and outcome.timed_out and time.sleeps == []


async def test_a_zero_budget_after_execute_reads_nothing() -> None:
    """With the run just seen and no time to wait, the loop returns that run without a read."""
    time = FakeClock()
    api = FakeAPI(time)
    outcome = await wait(api, budget=0, since=just_seen(seen="execute"))
    assert outcome.polls == 0 and outcome.timed_out
    assert outcome.run.other == {"seen": "execute"}


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled", "Timeout", "weird-new-status"])
async def test_the_wait_stops_at_the_first_status_other_than_running(final: str) -> None:
    """Any status that is not `running`, documented or not, ends the wait at once."""
    time = FakeClock()
    api = FakeAPI(time, script=[running(), running(), Run(id="run-1", status=final), running()])
    outcome = await wait(api, budget=60)
    assert outcome.run.status == final
    assert outcome.polls == 3 and not outcome.timed_out


async def test_progress_is_strictly_increasing_with_the_budget_as_total() -> None:
    """Each poll reports progress: elapsed seconds, strictly increasing, total = the budget, a readable message."""
    time = FakeClock()
    api = FakeAPI(time, length=7.0)
    progress: Progress = []
    outcome = await wait(api, budget=30, schedule=DEFAULT, progress=progress)
    values = [value for value, _, _ in progress]
    assert len(progress) == outcome.polls
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert values[0] > 0
    assert {total for _, total, _ in progress} == {30}
    assert progress[0][2] == "running for 0 s, poll 1"
    assert progress[-1][2] == f"completed after {int(outcome.elapsed)} s, poll {outcome.polls}"
    assert values[-1] == pytest.approx(outcome.elapsed, abs=0.05)


async def test_progress_stays_increasing_when_polls_come_in_the_same_instant() -> None:
    """Even when no time passes between polls, each progress value is larger than the one before."""
    time = FakeClock()
    api = FakeAPI(time, script=[running(), running(), running(), Run(id="run-1", status="completed")])
    progress: Progress = []
    schedule = PollSchedule(min_interval=0.0001, max_interval=0.0001)
    await wait(api, budget=10, schedule=schedule, progress=progress)
    values = [value for value, _, _ in progress]
    assert len(values) == 4 and values == sorted(set(values))


async def test_progress_message_counts_the_run_s_age() -> None:
    """The message gives the run's age (40 s when seen, plus the first 10 s pause) and the poll count."""
    time = FakeClock()
    api = FakeAPI(time, script=[running(), Run(id="run-1", status="completed")])
    progress: Progress = []
    await wait(api, budget=60, progress=progress, since=just_seen(age=40.0))
    assert progress[0][2] == "running for 50 s, poll 1"


async def test_transient_failures_are_retried_until_the_deadline() -> None:
    """After the run was seen, failing reads do not end the wait: it returns the run as last seen at the deadline."""
    time = FakeClock()
    api = FakeAPI(time, script=[running(seen=1), upstream()])
    progress: Progress = []
    outcome = await wait(api, budget=20, progress=progress)
    assert outcome.timed_out
    assert outcome.run.other == {"seen": 1}
    assert outcome.polls > 3
    assert api.calls[-1][0] == pytest.approx(1020.0)
    assert "API not answering, retrying" in progress[-1][2]


async def test_a_transient_failure_then_success_finishes_normally() -> None:
    """A run that is read after some failures is reported as usual."""
    time = FakeClock()
    failures: list[Run | WaveError] = [WaveConnectionError("down"), upstream(), WaveTimeoutError("slow")]
    api = FakeAPI(time, script=[*failures, Run(id="run-1", status="completed", result=3)])
    outcome = await wait(api, budget=60)
    assert outcome.run.result == 3 and outcome.polls == 4 and not outcome.timed_out


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("no such run", status_code=404, method="GET", path="/runs/x"),
        AuthenticationError("key rejected", status_code=401, method="GET", path="/runs/x"),
    ],
)
async def test_a_non_transient_failure_is_raised_at_once(error: WaveError) -> None:
    """A permanent failure (unknown run, rejected key) ends the wait at once, even after the run was seen."""
    time = FakeClock()
    api = FakeAPI(time, script=[running(), error])
    with pytest.raises(type(error)):
        await wait(api, budget=60)
    assert len(api.calls) == 2


async def test_a_run_never_seen_with_only_transient_failures_raises_the_last_error() -> None:
    """If no read ever succeeded, the wait ends with the last transient error, not a made-up run."""
    time = FakeClock()
    last = InvalidResponseError("garbled", status_code=200, method="GET", path="/runs/x")
    api = FakeAPI(time, script=[WaveConnectionError("down"), upstream(), last])
    with pytest.raises(InvalidResponseError) as caught:
        await wait(api, budget=10)
    assert caught.value is last
    assert len(api.calls) > 3


async def test_retry_after_lengthens_the_next_pause() -> None:
    """A rate-limit hint makes the next pause at least that long (still never past the deadline)."""
    time = FakeClock()
    limited = RateLimitedError("slow down", status_code=429, method="GET", path="/runs/x", retry_after=4.0)
    api = FakeAPI(time, script=[running(), limited, Run(id="run-1", status="completed")])
    outcome = await wait(api, budget=60)
    assert time.sleeps[1] >= 4.0
    assert outcome.run.status == "completed"


async def test_retry_after_does_not_push_past_the_deadline() -> None:
    """A hint longer than the remaining time is cut at the deadline."""
    time = FakeClock()
    limited = RateLimitedError("slow down", status_code=429, method="GET", path="/runs/x", retry_after=100.0)
    api = FakeAPI(time, script=[running(), limited, running()])
    outcome = await wait(api, budget=5)
    assert outcome.timed_out
    assert time.now == pytest.approx(1005.0)


async def test_cancelling_the_wait_stops_the_reads() -> None:
    """When the caller's scope is cancelled, the loop ends at its next pause and reads nothing more."""
    time = FakeClock()
    api = FakeAPI(time)
    reads_at_cancel = 0

    with anyio.CancelScope() as scope:

        async def pause(seconds: float) -> None:
            nonlocal reads_at_cancel
            if time.now >= 1003.0 and not scope.cancel_called:  # the caller gives up while the loop pauses
                reads_at_cancel = len(api.calls)
                scope.cancel()
            await time.sleep(seconds)  # a cancellation point, as a real sleep is

        await wait_for_run(api.get_run, budget=60, schedule=STEADY, clock=time, sleep=pause)
    assert scope.cancelled_caught
    assert reads_at_cancel > 0
    assert len(api.calls) == reads_at_cancel


# ---- the design's bars: requests per run and detection lag --------------------------------------------------

LENGTHS = [0.5, 1, 2, 5, 9, 30, 60, 120, 300, 600, 1800, 3600]


async def simulate(length: float, schedule: PollSchedule, *, after_execute: bool = False) -> tuple[int, float]:
    """One wait long enough for a run of `length` seconds: (requests made, detection lag in seconds)."""
    time = FakeClock()
    api = FakeAPI(time, length=length)
    outcome = await wait(api, budget=length + 3600, schedule=schedule, since=just_seen() if after_execute else None)
    assert not outcome.timed_out
    return len(api.calls), outcome.elapsed - length


@pytest.mark.parametrize(("draw", "overhead"), [(0.5, 15), (0.0, 16), (0.25, 16), (0.999, 16)])
@pytest.mark.parametrize("after_execute", [False, True])
async def test_requests_per_run_stay_within_about_15_plus_length_over_cap(
    draw: float, overhead: int, after_execute: bool
) -> None:
    """A run of length T costs at most 15 + T / cap polls at the jitter's centre, and one more at its extremes."""
    schedule = FixedDraw(draw=draw)
    for length in LENGTHS:
        requests, _ = await simulate(length, schedule, after_execute=after_execute)
        assert requests <= overhead + length / CAP, (length, requests)


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
async def test_detection_lag_is_a_fraction_of_the_run_and_at_most_the_cap(draw: float) -> None:
    """The lag between a run's end and the wait's return is at most ~30 % of its length (or one short interval)
    and never more than the cap."""
    schedule = FixedDraw(draw=draw)
    for step in range(1, 400):
        length = step * 0.37
        _, lag = await simulate(length, schedule)
        assert lag <= max(0.3 * length, schedule.min_interval) + 1e-9, (length, lag)
        assert lag <= CAP


async def test_detection_lag_of_short_runs_has_a_median_under_one_second() -> None:
    """Runs under 10 s are reported with a median lag of at most 1 s, with real jitter draws (seeded)."""
    rng = random.Random(20260301)

    @dataclass(frozen=True)
    class Seeded(PollSchedule):
        def interval(self, age: float, rand: Callable[[], float] = random.random) -> float:
            return super().interval(age, rng.random)

    lags = [(await simulate(rng.uniform(0.1, 10.0), Seeded()))[1] for _ in range(300)]
    assert statistics.median(lags) <= 1.0


async def chained_waits(length: float, *, remembered: bool) -> tuple[int, int]:
    """The usual flow for a run of `length` s (waits of 30 s until it ends): (requests, calls). `remembered` passes
    each wait how the previous one last saw the run, as the run service does; else each learns the run's age from
    its start time."""
    time = FakeClock()
    api = FakeAPI(time, length=length)
    since: Seen | None = just_seen()  # the run as execute returned it
    calls = 0
    while True:
        calls += 1
        outcome = await wait(api, budget=30, schedule=DEFAULT, since=since)
        if not outcome.timed_out:
            return len(api.calls), calls
        since = Seen(run=outcome.run, at=time.now, age=outcome.age) if remembered else None


@pytest.mark.parametrize("length", [60, 300, 600, 1800])
async def test_repeated_waits_keep_following_the_run_s_age(length: float) -> None:
    """Chained waits do not start the schedule over: with the run's age known (remembered, or from its start time),
    a run of length T costs at most 15 + T / cap requests plus one per call (two without the memory)."""
    requests, calls = await chained_waits(length, remembered=True)
    assert requests <= 15 + length / CAP + calls, (requests, calls)
    requests, calls = await chained_waits(length, remembered=False)
    assert requests <= 15 + length / CAP + 2 * calls, (requests, calls)


# ---- under load ------------------------------------------------------------------------------------------------


async def test_the_schedule_stretches_to_the_load_floor() -> None:
    """With a floor of 4 s (many waits at once), no pause is much shorter (jitter: 0.75 to 1.25 of it), and the
    first reads of waits arriving together are spread evenly over the first half of the floor (0 to 2.5 s, 1 s on
    average), not held back to the floor or bunched near its start."""
    first_reads = []
    for _ in range(200):
        time = FakeClock()
        api = FakeAPI(time)
        outcome = await wait(api, budget=12, floor=lambda: 4.0)
        reads = [at - 1000.0 for at, _ in api.calls]
        first_reads.append(reads[0])
        assert all(3.0 - 1e-9 <= later - earlier <= 5.0 + 1e-9 for earlier, later in itertools.pairwise(reads))
        assert outcome.timed_out and outcome.polls == len(reads)
    assert 0.0 <= min(first_reads) < 0.5 and 2.0 < max(first_reads) <= 2.5
    assert 0.8 <= statistics.mean(first_reads) <= 1.2  # 5 standard deviations of the mean of 200 draws


async def test_a_floor_equal_to_the_shortest_pause_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load floor at exactly the schedule's shortest pause (jitter fixed at its middle) counts as busy: the one
    read due with exactly NEAR_DEADLINE left still happens, and none follows it in the last NEAR_DEADLINE."""
    monkeypatch.setattr(random, "random", lambda: 0.5)
    schedule = PollSchedule(min_interval=4.75, max_interval=4.75, jitter=0.0)
    time = FakeClock()
    api = FakeAPI(time)
    outcome = await wait(api, budget=5, schedule=schedule, since=just_seen(), floor=lambda: 4.75)
    assert [at - 1000.0 for at, _ in api.calls] == [5.0 - NEAR_DEADLINE]
    assert outcome.timed_out and outcome.elapsed == 5.0


async def test_the_floor_is_read_again_after_each_sleep() -> None:
    """When more waits arrive during a pause, the pause grows before the next read."""
    time = FakeClock()
    api = FakeAPI(time)
    outcome = await wait(api, budget=9, floor=lambda: 0.0 if time.now < 1000.4 else 6.4)
    reads = [at - 1000.0 for at, _ in api.calls]
    assert reads[0] == 0.0 and reads[1] >= 0.75 * 6.4, reads
    assert outcome.timed_out


async def test_a_busy_wait_near_its_deadline_answers_instead_of_reading() -> None:
    """Busy (the floor above the shortest pause): no read in the last NEAR_DEADLINE; idle: one more at the deadline."""
    schedule = PollSchedule(min_interval=5.0, max_interval=5.0, jitter=0.0)
    time = FakeClock()
    api = FakeAPI(time)
    outcome = await wait(api, budget=10, schedule=schedule)
    assert [at - 1000.0 for at, _ in api.calls] == [0.0, 5.0, 10.0]
    for _ in range(20):
        time = FakeClock()
        api = FakeAPI(time, script=[running()])
        outcome = await wait(api, budget=10, schedule=schedule, since=just_seen(), floor=lambda: 8.0)
        assert all(at - 1000.0 <= 10.0 - NEAR_DEADLINE for at, _ in api.calls)
        assert outcome.timed_out and 10.0 - NEAR_DEADLINE <= outcome.elapsed <= 10.0
