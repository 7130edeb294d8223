"""RunService: listing workflows, starting, reading and waiting for runs, with every rule applied in one place.

Every way in (the tools, the typed tools, the resources, and the MCP faces to come) goes through it, so the guard
rails, the catalog's params check, never-twice, the bounds of what the model reads and the masking of secrets each
live once. It knows nothing of MCP: it returns the report models and raises WaveError with masked messages.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx2
from pydantic import BaseModel

from wave_mcp.caller import current_caller_key
from wave_mcp.catalog import Catalog
from wave_mcp.client import WaveClient
from wave_mcp.config import Settings
from wave_mcp.errors import InvalidInputError, WaveError
from wave_mcp.grant import current_grant
from wave_mcp.guard import Guard
from wave_mcp.limits import encodable
from wave_mcp.models import RUNNING, Run, RunReport, WaitReport, WorkflowInfo, WorkflowList, status_key
from wave_mcp.redact import Secrets
from wave_mcp.reports import bounded_listing, is_large, release, run_report, wait_report
from wave_mcp.waiting import OnProgress, PollSchedule, Seen, WaitOutcome, run_age, wait_for_run

__all__ = ["REMEMBERED_RUNS", "Look", "RunService"]

log = logging.getLogger(__name__)

REMEMBERED_RUNS = 2048
"""How many runs the service remembers (their workflow, and how they were last seen while running)."""
POLLS_PER_SECOND = 100.0
"""The polls per second all waits together aim to stay under: with many waits, each one's pause stretches to at least
about (waits / this), so the event loop keeps time (bench/capacity.py: a poll costs about 1-3 ms of CPU)."""

Report = TypeVar("Report", bound=BaseModel)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Look:
    """One look at a run for a caller that follows it by itself (an MCP task, the run card) instead of waiting.

    `report` is the run as a wait would report it now, or None when the API did not answer (a transient failure:
    look again later); `next_look` is the pause the adaptive schedule asks before the next look, in seconds.
    """

    report: WaitReport | None
    message: str
    next_look: float
    age: float

    @property
    def running(self) -> bool:
        """True while the run may still change (or its state is not known)."""
        return self.report is None or status_key(self.report.status) == RUNNING


class RunService:
    """The Wave runs this server may start and read, as reports for the model.

    Remembers, per run, the workflow of runs it started (the API's read may leave it out) and, per caller and run,
    how a running run was last seen, so that a new wait goes on at the run's pace instead of reading it at once.
    That memory earns its place: in the usual flow (execute, then wait_for_run again and again at 30 s each) it saves
    one request per call, which without it is 23 % more requests for a 5-minute run and 31 % more for a 30-minute
    one (`chained_waits` in tests/test_waiting.py, default schedule); it changes no detection lag.
    """

    def __init__(
        self,
        client: WaveClient,
        *,
        catalog: Catalog,
        guard: Guard,
        schedule: PollSchedule,
        max_chars: int,
        secrets: Secrets,
        tools: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._client = client
        self._catalog = catalog
        self._guard = guard
        self._schedule = schedule
        self._max_chars = max_chars
        self._secrets = secrets
        self._tools = dict(tools or {})
        self._clock = clock
        self._sleep = sleep
        self._workflows: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._seen: OrderedDict[tuple[bytes, str], Seen] = OrderedDict()
        self._waits = 0

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        tools: Mapping[str, str] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> AsyncIterator[RunService]:
        """The service for `settings`, over one pooled API client for its lifetime.

        `tools` maps workflow ids to their typed tools (listed with them); `transport` replaces the network.
        """
        async with WaveClient.open(settings, transport=transport) as client:
            yield cls(
                client,
                catalog=catalog or Catalog(),
                guard=Guard.of(settings.allowed_workflows, settings.read_only),
                schedule=PollSchedule(min_interval=settings.poll_interval_min, max_interval=settings.poll_interval_max),
                max_chars=settings.max_result_chars,
                secrets=Secrets(settings.secrets()),
                tools=tools,
            )

    # ---- the four operations --------------------------------------------------------------------------------

    async def list_workflows(self, query: str | None = None) -> WorkflowList:
        """The workflows that may be run: the API's listing with the catalog's documentation, narrowed by `query`."""
        with self._masked_errors():
            try:
                workflows, note = await self._client.list_workflows()
            except WaveError as exc:
                if not (self._catalog.entries and exc.transient):
                    raise
                workflows, note = None, "The Wave API's workflow listing failed just now."
        if workflows is None and self._catalog.entries:
            note = f"{note or ''} Listed from the local catalog only.".strip()
        infos = self._catalog.listing(workflows, allowed=self._guard.allows, tools=self._tools.values())
        if query:
            needle = query.lower()
            infos = [w for w in infos if any(needle in (text or "").lower() for text in (w.id, w.name, w.description))]
        return self._masked(bounded_listing(WorkflowList(workflows=infos, note=note), max_chars=self._max_chars))

    def workflow(self, workflow_id: str) -> WorkflowInfo:
        """A catalogued workflow that may be started here, as list_workflows shows it (no API request: the
        catalog holds its parameters). InvalidInputError when the catalog does not describe it or it is refused."""
        self._guard.check_execute(workflow_id)
        info = next((w for w in self._catalog.listing(None, allowed=self._guard.allows) if w.id == workflow_id), None)
        if info is None:
            raise InvalidInputError(
                f"The catalog does not describe workflow '{workflow_id}', so it has no form: call list_workflows, "
                "then execute_workflow with its params."
            )
        return self._masked(info.model_copy(update={"tool": self._tools.get(workflow_id)}))

    async def start(
        self,
        workflow_id: str,
        params: dict[str, Any],
        *,
        wait_seconds: float = 0.0,
        tool: str = "execute_workflow",
        on_progress: OnProgress | None = None,
    ) -> WaitReport:
        """Start a run (guard rails, then the catalog's params check, then one POST; nothing is sent when a check
        fails) and wait for it up to `wait_seconds` in all. `tool` names the caller in messages."""
        began = self._clock()
        with self._masked_errors():
            self._guard.check_execute(workflow_id)
            self._catalog.check_params(workflow_id, params, tool=tool)
            run = await self._client.execute(workflow_id, params)
        log.info("Run %s of workflow %s started%s", run.id, workflow_id, _for_whom())
        try:  # the run exists: from here on, no failure may read as a failed start or lose its id
            self._workflows_of(run)
            seen = self._note(Seen(run=run, at=self._clock(), age=0.0))
            remaining = wait_seconds - (self._clock() - began)
            if remaining > 0 and run.is_running:
                return await self._wait(run.id, remaining, since=seen, on_progress=on_progress, named=_named(run))
            outcome = WaitOutcome(run=run, timed_out=wait_seconds > 0 and run.is_running, elapsed=0.0, polls=0)
            return await self._report(lambda: wait_report(outcome, max_chars=self._max_chars), run)
        except Exception as exc:
            return self._started_but_unfollowed(run, exc, elapsed=self._clock() - began)

    async def get(self, run_id: str, *, offset: int = 0, pointer: str | None = None) -> RunReport:
        """The run now, its result bounded and paged from `offset` (characters of its JSON), below `pointer`."""
        with self._masked_errors():
            run = await self._read(run_id)
            return await self._report(
                lambda: run_report(run, max_chars=self._max_chars, offset=offset, pointer=pointer), run
            )

    async def wait(self, run_id: str, seconds: float, *, on_progress: OnProgress | None = None) -> WaitReport:
        """Wait until the run is no longer `running` or `seconds` pass; a timed-out wait is a report too."""
        with self._masked_errors():
            return await self._wait(run_id, seconds, since=self._last_seen(run_id), on_progress=on_progress)

    async def look(self, run_id: str, *, started: float | None = None) -> Look:
        """One read of a run that the caller follows by itself, with how long to pause before the next look.

        The pause follows the adaptive schedule (so a caller honouring it reads no more often than `wait` would),
        from the run's age: as this caller last saw it, else from its start time, else since `started` (a
        `time.time()` value, e.g. when a task was made). A transient API failure is a look without a report.
        Other failures raise WaveError, masked.
        """
        seen = self._last_seen(run_id)
        with self._masked_errors():
            try:
                run = await self._read(run_id)
            except WaveError as exc:
                if not exc.transient:
                    raise
                return Look(None, "the Wave API is not answering; retrying", self._schedule.min_interval, 0.0)
        if seen is not None:
            age = seen.age_at(self._clock())
        else:
            age = run_age(run) or (max(time.time() - started, 0.0) if started is not None else 0.0)
        outcome = WaitOutcome(run=run, timed_out=run.is_running, elapsed=age, polls=1, age=age)
        report = self._masked(wait_report(outcome, max_chars=self._max_chars))
        state = f"running for {int(age)} s" if run.is_running else f"{run.status} after {int(age)} s"
        return Look(report, self._secrets.text(state), self._schedule.interval(age), age)

    def next_look(self, run_id: str) -> float:
        """Seconds before a caller that follows the run by itself should look again: the adaptive schedule's pause
        for the run's age as this caller last saw it (a run just started is young)."""
        seen = self._last_seen(run_id)
        return self._schedule.interval(seen.age_at(self._clock()) if seen is not None else 0.0)

    # ---- reading and waiting --------------------------------------------------------------------------------

    async def _read(self, run_id: str, deadline: float | None = None) -> Run:
        """One read of the run with the workflow filled in if known (the API's read may leave it out), refused when
        that workflow is not allowed."""
        run = await self._client.get_run(run_id, deadline=deadline)
        known = self._workflows.get(run.id)
        if known is not None and not (run.workflow_id and run.workflow_name):
            run = run.model_copy(
                update={"workflow_id": run.workflow_id or known[0], "workflow_name": run.workflow_name or known[1]}
            )
        run = self._guard.check_run(run)
        now = self._clock()
        seen = self._last_seen(run.id)
        self._note(Seen(run=run, at=now, age=seen.age_at(now) if seen is not None else run_age(run)))
        return run

    async def _wait(
        self,
        run_id: str,
        seconds: float,
        *,
        since: Seen | None,
        on_progress: OnProgress | None,
        named: str = "",
    ) -> WaitReport:
        """Wait up to `seconds` from `since` (or from a first read), telling `on_progress` in masked words.

        `named` (e.g. " of 'Timer'") follows the run's id in progress messages.
        """
        if seconds <= 0:  # no time to wait: one read, with a plain read's own deadline
            began = self._clock()
            run = await self._read(run_id)
            outcome = WaitOutcome(run=run, timed_out=run.is_running, elapsed=self._clock() - began, polls=1)
            return await self._report(lambda: wait_report(outcome, max_chars=self._max_chars), run)
        prefix = f"Run {run_id}{named}"

        async def progress(value: float, total: float | None, message: str) -> None:
            if on_progress is not None:
                await on_progress(value, total, self._secrets.text(f"{prefix}: {message}"))

        self._waits += 1
        try:
            outcome = await wait_for_run(
                lambda deadline: self._read(run_id, deadline),
                budget=seconds,
                schedule=self._schedule,
                since=since,
                on_progress=progress,
                clock=self._clock,
                sleep=self._sleep,
                floor=self._load_floor,
            )
        finally:
            self._waits -= 1
        self._note(Seen(run=outcome.run, at=self._clock(), age=outcome.age))
        return await self._report(lambda: wait_report(outcome, max_chars=self._max_chars), outcome.run)

    def _load_floor(self) -> float:
        """The shortest pause between two polls of one wait that keeps all waits under POLLS_PER_SECOND."""
        return self._waits / POLLS_PER_SECOND  # each wait jitters it its own way

    async def _report(self, build: Callable[[], Report], run: Run) -> Report:
        """`build()`, masked; in a worker thread when the run is large, so the event loop keeps serving. A finished
        run (which nothing remembers) is taken apart there too: freeing it at once would hold the loop."""
        if not (is_large(run.result) or is_large(run.other) or is_large(run.params)):
            return self._masked(build())

        def off_the_loop() -> Report:
            report = self._masked(build())
            if not run.is_running:
                release(run.result)
            return report

        return await anyio.to_thread.run_sync(off_the_loop)

    def _started_but_unfollowed(self, run: Run, exc: Exception, *, elapsed: float) -> WaitReport:
        """The report of a run started here whose wait failed: the run as started, and how to follow it.

        Any failure gets here (an unexpected one is logged), and this report cannot fail: the model must learn the
        run's id and that it was started, so that it never starts the workflow again.
        """
        if isinstance(exc, WaveError):
            why = self._secrets.text(str(exc))
        else:
            log.error("Waiting for run %s failed unexpectedly", run.id, exc_info=exc)
            why = f"an unexpected error ({type(exc).__name__}) in this server."
        step = (
            f"The run was started, but waiting for it failed: {why} Do not start the workflow again: call "
            f"wait_for_run or get_run with run_id '{encodable(run.id)}'."
        )
        outcome = WaitOutcome(run=run, timed_out=True, elapsed=elapsed, polls=0)
        try:
            report = wait_report(outcome, max_chars=self._max_chars)
            return self._masked(report.model_copy(update={"next_step": step}))
        except Exception:  # the run itself cannot be shown: its id and status still can
            log.exception("The report of run %s could not be made", run.id)
            bare = Run(id=encodable(run.id), status=encodable(run.status))
            report = wait_report(WaitOutcome(run=bare, timed_out=True, elapsed=elapsed, polls=0), max_chars=1_000)
            return self._masked(report.model_copy(update={"next_step": step}))

    # ---- what the service remembers -------------------------------------------------------------------------

    def _workflows_of(self, run: Run) -> None:
        """Remember the workflow of a run started here: the API's later reads may leave it out."""
        self._workflows[run.id] = (run.workflow_id, run.workflow_name)
        _bound(self._workflows)

    def _note(self, seen: Seen) -> Seen:
        """Remember how a running run was last seen by this caller; forget a finished one."""
        key = (_caller_tag(), seen.run.id)
        self._seen.pop(key, None)
        if seen.run.is_running:
            self._seen[key] = seen
            _bound(self._seen)
        return seen

    def _last_seen(self, run_id: str) -> Seen | None:
        """How this caller last saw the run while it was running, if it did lately."""
        return self._seen.get((_caller_tag(), run_id))

    # ---- the boundary: nothing leaves with a secret in it ---------------------------------------------------

    def _masked(self, report: Report) -> Report:
        """`report` with every secret in play masked in every field."""
        return type(report).model_validate(self._secrets.json(report.model_dump(mode="json")))

    @contextmanager
    def _masked_errors(self) -> Iterator[None]:
        """Every WaveError leaves with its message masked."""
        try:
            yield
        except WaveError as exc:
            masked = self._secrets.text(str(exc))
            if masked != str(exc):
                exc.args = (masked,)
            raise


def _named(run: Run) -> str:
    """How progress names the run's workflow after its id, e.g. " of 'Timer'"; empty when unknown."""
    return f" of '{run.workflow_name}'" if run.workflow_name else ""


def _bound(memory: OrderedDict[Any, Any]) -> None:
    while len(memory) > REMEMBERED_RUNS:
        memory.popitem(last=False)


def _for_whom() -> str:
    """Who a log line says started a run: the subject of the caller's access token, when one was verified."""
    grant = current_grant()
    return f" for subject {grant.subject!r}" if grant is not None else ""


def _caller_tag() -> bytes:
    """Tells HTTP callers with keys of their own apart without keeping their keys: a digest, empty for the server's."""
    key = current_caller_key()
    return hashlib.blake2b(key.encode(), digest_size=16).digest() if key else b""
