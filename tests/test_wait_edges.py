"""The wait loop at its edges: a hanging read cut at the deadline plus the grace, the run's age and when it is
trusted, the schedule's defaults, the age a wait goes on from, the figures of a timed-out wait and the messages
the client shows as progress."""

from __future__ import annotations

import time as wall
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tests.helpers import STEADY_SCHEDULE, FakeAPI, FakeClock, Progress, wait
from wave_mcp.errors import RateLimitedError, UpstreamError, WaveTimeoutError
from wave_mcp.models import Run
from wave_mcp.sandbox import wave_timestamp
from wave_mcp.waiting import POLL_GRACE, PollSchedule, Seen, WaitOutcome, run_age, wait_for_run

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = 86_400.0


def started(seconds_ago: float) -> Run:
    return Run(id="run-1", status="running", started_at=(NOW - timedelta(seconds=seconds_ago)).isoformat())


def running(**other: object) -> Run:
    return Run(id="run-1", status="running", other=dict(other))


# ---- a read that hangs -------------------------------------------------------------------------------------------


async def hanging_wait(budget: float, first: Run | None = None) -> tuple[float, object]:
    """Wait on a read that never answers (after `first`, if given), on a fake clock for the loop: (real seconds
    until the wait ended, its outcome or error)."""
    clock = FakeClock()
    answers = [first] if first is not None else []

    async def get_run(deadline: float) -> Run:
        if answers:
            return answers.pop()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    begin = wall.monotonic()
    with anyio.fail_after(10):
        try:
            outcome: object = await wait_for_run(
                get_run, budget=budget, schedule=STEADY_SCHEDULE, clock=clock, sleep=clock.sleep
            )
        except WaveTimeoutError as exc:
            outcome = exc
    return wall.monotonic() - begin, outcome


async def test_a_hanging_first_read_is_cut_at_the_deadline_plus_the_grace() -> None:
    """With no time left, a read that hangs is cut after POLL_GRACE (0.75 s: with the client's own backstop, a call
    still ends within its promise), and the wait says the API did not answer."""
    seconds, outcome = await hanging_wait(budget=0.0)
    assert POLL_GRACE == 0.75
    assert POLL_GRACE <= seconds < POLL_GRACE + 0.8
    assert isinstance(outcome, WaveTimeoutError)
    assert "did not answer within the 0 s wait" in str(outcome)


async def test_a_hanging_read_may_use_the_time_left_and_the_grace() -> None:
    """With half a second left, the read is cut half a second plus the grace later, not before."""
    seconds, outcome = await hanging_wait(budget=0.5)
    assert 0.5 + POLL_GRACE <= seconds < 0.5 + POLL_GRACE + 0.9
    assert isinstance(outcome, WaveTimeoutError)


async def test_a_read_hanging_after_the_run_was_seen_returns_the_run_as_last_seen() -> None:
    """Once the run was seen, a hanging read ends the wait at the deadline plus the grace, with the run, timed out."""
    seconds, outcome = await hanging_wait(budget=0.0, first=running(seen=1))
    assert seconds < 0.5  # the first read took the whole (zero) budget: no second read
    seconds, outcome = await hanging_wait(budget=0.6, first=running(seen=1))
    assert isinstance(outcome, WaitOutcome) and outcome.timed_out
    assert outcome.run == running(seen=1)


# ---- the run's age -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_ago", "age"),
    [(0.0, 0.0), (0.5, 0.5), (42.5, 42.5), (DAY, DAY), (DAY + 1, 0.0), (-1.0, 0.0), (-DAY, 0.0)],
)
def test_the_age_is_trusted_from_zero_up_to_a_day(seconds_ago: float, age: float) -> None:
    """A start time in the future or more than a day back gives age 0 (the clocks disagree); a day exactly counts."""
    assert run_age(started(seconds_ago), now=NOW) == age


def test_a_run_without_a_readable_start_time_has_age_zero() -> None:
    """No start time, or one that cannot be read: 0."""
    assert run_age(Run(id="r", status="running"), now=NOW) == 0.0
    assert run_age(Run(id="r", status="running", started_at="yesterday"), now=NOW) == 0.0


def test_the_age_is_measured_against_the_wall_clock_by_default() -> None:
    """Without `now`, the age is taken from the current time."""
    run = Run(id="r", status="running", started_at=wave_timestamp(wall.time() - 90))
    assert 89 <= run_age(run) <= 95


# ---- the schedule's defaults and shape ---------------------------------------------------------------------------


def test_the_default_schedule_polls_after_half_a_second_and_at_most_every_ten() -> None:
    """A new run is polled after 0.5 s; the pause is a quarter of the age, jittered by 10 %, at most 10 s."""
    schedule = PollSchedule()
    assert (schedule.min_interval, schedule.max_interval, schedule.growth, schedule.jitter) == (0.5, 10.0, 0.25, 0.1)
    assert schedule.interval(0.0, lambda: 0.5) == 0.5
    assert schedule.interval(-5.0, lambda: 0.5) == 0.5
    assert schedule.interval(8.0, lambda: 0.5) == 2.0
    assert schedule.interval(8.0, lambda: 0.0) == pytest.approx(1.8)
    assert schedule.interval(8.0, lambda: 1.0) == pytest.approx(2.2)
    assert schedule.interval(1000.0, lambda: 0.0) == 10.0


def test_seen_counts_the_age_on_from_when_it_was_read() -> None:
    """A run 5 s old when read at 100 is 8 s old at 103; before that read it is counted as 5 s."""
    seen = Seen(run=running(), at=100.0, age=5.0)
    assert (seen.age_at(103.0), seen.age_at(99.0)) == (8.0, 5.0)


# ---- going on from a run seen before ------------------------------------------------------------------------------


async def test_a_wait_goes_on_at_the_pace_of_a_run_seen_moments_ago() -> None:
    """A run 20 s old read 2 s ago is polled 5 - 2 = 3 s from now, and its age counts on from there."""
    clock = FakeClock()
    clock.advance(2.0)
    api = FakeAPI(clock, script=[running(), Run(id="run-1", status="completed")])
    progress: Progress = []
    outcome = await wait(api, budget=60, progress=progress, since=Seen(run=running(), at=1000.0, age=20.0))
    assert clock.sleeps[0] == 3.0
    assert progress[0][2] == "running for 25 s, poll 1"
    assert outcome.age == pytest.approx(25.0 + STEADY_SCHEDULE.interval(25.0))


async def test_a_run_seen_longer_ago_than_its_interval_is_polled_at_once() -> None:
    """When the pause is already over, the first read is immediate."""
    clock = FakeClock()
    clock.advance(30.0)
    api = FakeAPI(clock, script=[Run(id="run-1", status="completed")])
    await wait(api, budget=60, since=Seen(run=running(), at=1000.0, age=0.0))
    assert clock.sleeps == [] and api.calls[0][0] == 1030.0


async def test_the_age_of_a_fresh_wait_comes_from_the_run_s_start_time() -> None:
    """Without a run seen before, the first answer's start time gives the age the messages count."""
    clock = FakeClock()
    api = FakeAPI(clock, length=1e9, started=1000.0 - 40.0)
    progress: Progress = []
    outcome = await wait(api, budget=0.0, progress=progress)
    assert progress[0][2] in ("running for 40 s, poll 1", "running for 39 s, poll 1")
    assert 39.0 <= outcome.age <= 41.0 and outcome.timed_out


async def test_a_failed_first_read_does_not_fix_the_age() -> None:
    """The age is taken from the first successful answer, not from an error."""
    clock = FakeClock()
    busy = RateLimitedError("busy", status_code=429, method="GET", path="/runs/run-1", retry_after=None)
    api = FakeAPI(clock, script=[busy, started_run(60.0)])
    progress: Progress = []
    await wait(api, budget=30, progress=progress)
    assert progress[0][2] == "API not answering, retrying for 0 s, poll 1"
    assert progress[1][2] == "completed after 60 s, poll 2"  # 60 s old when read, 0.5 s into the wait


def started_run(seconds_ago: float) -> Run:
    return Run(id="run-1", status="completed", started_at=wave_timestamp(wall.time() - seconds_ago))


# ---- figures and messages --------------------------------------------------------------------------------------------


async def test_a_timed_out_wait_reports_its_elapsed_time_polls_and_age() -> None:
    """At the deadline: timed out, the budget as elapsed time, the polls made and the run's age."""
    clock = FakeClock()
    api = FakeAPI(clock, script=[running()])
    outcome = await wait(api, budget=12.0, since=Seen(run=running(), at=1000.0, age=100.0))
    assert outcome.timed_out and outcome.elapsed == 12.0
    assert outcome.polls == 2  # at 1010 (the capped pause of a 100 s old run) and at the deadline, 1012
    assert outcome.age == 112.0


async def test_the_final_message_names_the_status_the_age_and_the_poll() -> None:
    """The last progress message says how the run ended, at what age and on which poll."""
    clock = FakeClock()
    api = FakeAPI(clock, script=[running(), Run(id="run-1", status="failed")])
    progress: Progress = []
    outcome = await wait(api, budget=60, progress=progress, since=Seen(run=running(), at=1000.0, age=3.0))
    assert [message for _, _, message in progress] == ["running for 3 s, poll 1", "failed after 4 s, poll 2"]
    assert outcome.polls == 2 and not outcome.timed_out


async def test_progress_total_is_the_budget_to_the_hundredth() -> None:
    """The total is the budget rounded to 0.01 s, never less than the progress."""
    clock = FakeClock()
    api = FakeAPI(clock, script=[running()])
    progress: Progress = []
    await wait(api, budget=2.345, progress=progress)
    assert {total for _, total, _ in progress} == {2.35}
    progress.clear()
    await wait(FakeAPI(FakeClock(), script=[running()]), budget=0.0, progress=progress)
    assert progress == [(0.01, 0.01, "running for 0 s, poll 1")]


async def test_retry_after_longer_than_the_interval_sets_the_pause_and_a_shorter_one_does_not() -> None:
    """The pause after a 429 is the longer of the schedule's and the API's."""
    clock = FakeClock()
    soon = RateLimitedError("busy", status_code=429, method="GET", path="/runs/run-1", retry_after=0.1)
    api = FakeAPI(clock, script=[running(), soon, running()])
    await wait(api, budget=3.0, since=Seen(run=running(), at=1000.0, age=0.0))
    assert clock.sleeps[:2] == [0.5, 0.5]


async def test_an_upstream_failure_before_the_run_was_seen_is_retried_not_raised() -> None:
    """A 503 on the first read is retried; the run read next is reported."""
    clock = FakeClock()
    down = UpstreamError("down", status_code=503, method="GET", path="/runs/run-1")
    api = FakeAPI(clock, script=[down, Run(id="run-1", status="completed")])
    outcome = await wait(api, budget=30)
    assert outcome.run.status == "completed" and outcome.polls == 2 and not outcome.timed_out


async def test_a_schedule_without_pauses_still_stops_at_the_deadline() -> None:
    """With no pause between polls, the wait ends with the poll that reaches the deadline."""
    clock = FakeClock()
    api = FakeAPI(clock, script=[running()], read_seconds=1.0)
    schedule = PollSchedule(min_interval=0.0, growth=0.0, jitter=0.0)
    outcome = await wait(api, budget=3.0, schedule=schedule)
    assert outcome.timed_out and outcome.polls == 3 and [at for at, _ in api.calls] == [1000, 1001, 1002]


def test_a_schedule_without_a_floor_polls_a_new_run_at_once() -> None:
    """Negative and zero ages count as zero: a new run's pause is the floor, here none."""
    schedule = PollSchedule(min_interval=0.0, jitter=0.0)
    assert (schedule.interval(0.0), schedule.interval(-3.0), schedule.interval(2.0)) == (0.0, 0.0, 0.5)


async def test_a_new_run_s_age_after_a_timed_out_wait_is_the_time_waited() -> None:
    """A run 0 s old when the wait began is as old as the wait when it times out."""
    clock = FakeClock()
    outcome = await wait(FakeAPI(clock, script=[running()]), budget=3.0, since=Seen(run=running(), at=1000.0, age=0.0))
    assert outcome.timed_out and outcome.age == 3.0


async def test_progress_is_the_time_waited_in_hundredths() -> None:
    """Progress is the elapsed time rounded to 0.01 s."""
    clock = FakeClock()
    api = FakeAPI(clock, script=[running()], read_seconds=0.123)
    progress: Progress = []
    await wait(api, budget=1.0, progress=progress)
    assert [value for value, _, _ in progress] == [0.12, 0.75, 1.12]
