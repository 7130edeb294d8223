"""Turn a run into what the model reads: a bounded report, a one-line summary and the text that carries both."""

from __future__ import annotations

import json
from typing import Any

from wave_mcp.errors import InvalidInputError
from wave_mcp.models import ResultPage, Run, RunReport, WaitReport
from wave_mcp.waiting import WaitOutcome

__all__ = ["render_text", "resolve_pointer", "run_report", "summary_line", "wait_report"]

SMALL_FIELD_CHARS = 2_000
"""`params` and other attributes larger than this (as JSON) are left out of a report, with a note."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The part of `document` that the JSON Pointer (RFC 6901) names; InvalidInputError if there is none."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise InvalidInputError(f"result_pointer {pointer!r} must be empty or start with '/', e.g. '/items/0'.")
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            raise InvalidInputError(f"result_pointer {pointer!r} names nothing in the result (no {token!r}).")
    return current


def _bounded_result(result: Any, *, max_chars: int, offset: int, pointer: str | None) -> tuple[Any, ResultPage | None]:
    value = resolve_pointer(result, pointer) if pointer else result
    if offset == 0 and (value is None or isinstance(value, bool | int | float)):
        return value, None
    text = _dumps(value)
    if offset == 0 and len(text) <= max_chars:
        return value, None
    if offset >= len(text):
        raise InvalidInputError(f"result_offset {offset} is past the end of the result ({len(text)} characters).")
    end = min(offset + max_chars, len(text))
    return None, ResultPage(
        text=text[offset:end], offset=offset, total_chars=len(text), next_offset=end if end < len(text) else None
    )


def _small(value: Any) -> Any:
    if value is None or len(_dumps(value)) <= SMALL_FIELD_CHARS:
        return value
    return f"<{len(_dumps(value)):,} characters left out>"


def _next_step(run: Run, page: ResultPage | None, timed_out: bool, waited: float | None) -> str:
    if run.is_running:
        if timed_out:
            return (
                f"The run is still running after waiting {waited or 0:.0f} s. Call wait_for_run with run_id "
                f"'{run.id}' again to keep waiting (it starts nothing new), or get_run later. Do not start the "
                "workflow again."
            )
        return f"The run is working. Call wait_for_run with run_id '{run.id}' to wait for its result."
    if run.status.lower() == "completed":
        step = "The run completed: report its result to the user."
    elif run.status.lower() == "failed":
        step = "The run failed: tell the user what it reported. Start it again only if the user asks."
    else:
        step = f"The run ended with status '{run.status}': report this to the user."
    if page is not None and page.next_offset is not None:
        step += (
            f" The result is {page.total_chars:,} characters long and was cut: call get_run with run_id '{run.id}' "
            f"and result_offset={page.next_offset} for the next part, or result_pointer to choose one part."
        )
    return step


def run_report(run: Run, *, max_chars: int, offset: int = 0, pointer: str | None = None) -> RunReport:
    """The run, with its result bounded to `max_chars` characters (paged from `offset`, below `pointer`)."""
    result, page = _bounded_result(run.result, max_chars=max_chars, offset=offset, pointer=pointer)
    return RunReport(
        id=run.id,
        status=run.status,
        workflow_id=run.workflow_id,
        workflow_name=run.workflow_name,
        started_at=run.started_at,
        params=_small(run.params),
        result=result,
        result_page=page,
        other={key: _small(value) for key, value in run.other.items()},
        next_step=_next_step(run, page, False, None),
    )


def wait_report(outcome: WaitOutcome, *, max_chars: int) -> WaitReport:
    """The run after a wait, with the wait's own figures."""
    base = run_report(outcome.run, max_chars=max_chars)
    page = base.result_page
    return WaitReport(
        **base.model_dump(exclude={"next_step", "result_page"}),
        result_page=page,
        next_step=_next_step(outcome.run, page, outcome.timed_out, outcome.elapsed),
        timed_out=outcome.timed_out,
        elapsed_seconds=round(outcome.elapsed, 2),
        polls=outcome.polls,
    )


def summary_line(report: RunReport) -> str:
    """One sentence saying what happened, e.g. "Run 80b2… of 'My workflow' completed after waiting 12 s."."""
    name = f" of '{report.workflow_name}'" if report.workflow_name else ""
    if report.workflow_name is None and report.workflow_id:
        name = f" of workflow {report.workflow_id}"
    waited = ""
    if isinstance(report, WaitReport) and report.polls:
        waited = f" after waiting {report.elapsed_seconds:.0f} s ({report.polls} poll{'s' * (report.polls != 1)})"
    if report.status.lower() == "running":
        state = "is still running" + (
            " (the wait timed out)" if isinstance(report, WaitReport) and report.timed_out else ""
        )
    else:
        state = report.status
    return f"Run {report.id}{name} {state}{waited}."


def render_text(report: RunReport) -> str:
    """The text for clients that read only text: the summary, the next step, then the result."""
    lines = [summary_line(report), report.next_step]
    if report.result_page is not None:
        page = report.result_page
        end = page.offset + len(page.text)
        lines.append(f"Result, characters {page.offset}-{end} of {page.total_chars}:")
        lines.append(page.text)
    elif report.result is not None:
        lines.append("Result:")
        lines.append(json.dumps(report.result, ensure_ascii=False, indent=2, default=str))
    return "\n".join(lines)
