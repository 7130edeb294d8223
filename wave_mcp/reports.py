"""Turn a run into what the model reads: a bounded report, a one-line summary and the text that carries both."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from wave_mcp.errors import InvalidInputError
from wave_mcp.limits import (
    DESCRIPTION_CHARS,
    KEY_CHARS,
    MAX_DEPTH,
    NAME_CHARS,
    SCALAR_CHARS,
    SMALL_FIELD_CHARS,
    too_deep,
)
from wave_mcp.models import RUNNING, ResultPage, Run, RunReport, WaitReport, WorkflowInfo, WorkflowList, status_key
from wave_mcp.waiting import WaitOutcome

__all__ = [
    "bounded_listing",
    "is_large",
    "release",
    "render_text",
    "resolve_pointer",
    "run_report",
    "summary_line",
    "wait_report",
]

LEFT_OUT_KEY = "…"
"""The key under which a bounded mapping says how many entries were left out."""


SLICE_WEIGHT = 2_000
"""A large list or object is serialised in slices of about this many entries (counting its entries' own entries)."""
SPLIT_DEPTH = 4
"""Lists and objects this near the top are taken apart to find the large ones; deeper values go whole."""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _dumps(value: Any) -> str:
    """`value` as compact JSON (see `_json_text`)."""
    return _json_text(value)[0]


def _json_text(value: Any, offset: int = 0, length: int = sys.maxsize) -> tuple[str, int]:
    """Characters `offset` to `offset + length` of `value`'s compact JSON, and the whole text's length: the same
    text however it is made.

    A large value (`is_large`: wide at the top or further down) is made in pieces (`_pieces`), each one short call of
    the C encoder, so that a worker thread making it lets the event loop run in between; only the part asked for is
    kept, never the whole text. A value nested too deep for the C encoder's recursion (answers may be nested as deep
    as the parser accepted, about 900 levels) is made by `_deep_dumps`, which keeps a stack of its own.
    """
    try:
        return _cut(_pieces(value), offset, length)
    except RecursionError:
        return _cut(_deep_dumps(value), offset, length)


def _cut(pieces: Iterable[str], offset: int, length: int) -> tuple[str, int]:
    """Characters `offset` to `offset + length` of the text the `pieces` make, and that text's length."""
    kept: list[str] = []
    made = 0
    for piece in pieces:
        kept.append(piece[max(offset - made, 0) : max(offset + length - made, 0)])
        made += len(piece)
    return "".join(kept), made


def _deep_dumps(value: Any) -> Iterator[str]:
    """Compact JSON of `value` without recursion, one scalar at a time (slow: only for values nested very deep)."""
    todo: list[Any] = [(value,)]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            yield item
            continue
        (node,) = item
        if isinstance(node, dict) and node and all(isinstance(key, str) for key in node):
            todo.append("}")
            entries = list(node.items())
            for index in range(len(entries) - 1, -1, -1):
                todo.append((entries[index][1],))
                todo.append(("," if index else "") + _encode(entries[index][0]) + ":")
            todo.append("{")
        elif isinstance(node, list) and node:
            todo.append("]")
            for index in range(len(node) - 1, -1, -1):
                todo.append((node[index],))
                if index:
                    todo.append(",")
            todo.append("[")
        else:
            yield _encode(node)


LARGE_ENTRIES = 1_000
"""A result with more entries than this (counted a few levels down) is large: its report is made off the loop."""
LARGE_CHARS = 100_000
"""A text result longer than this is large too."""


def is_large(value: Any) -> bool:
    """True when `value` may be large enough to take milliseconds to serialise; looks at LARGE_ENTRIES at most."""
    seen = 0
    level = [value]
    for _ in range(SPLIT_DEPTH * 2):
        deeper: list[Any] = []
        for item in level:
            if isinstance(item, str) and len(item) > LARGE_CHARS:
                return True
            if isinstance(item, dict | list):
                seen += len(item)
                if seen > LARGE_ENTRIES:
                    return True
                deeper.extend(item.values() if isinstance(item, dict) else item)  # at most LARGE_ENTRIES
        if not deeper:
            return False
        level = deeper
    return True


RELEASE_SLICE = 5_000
"""`release` frees a large value's entries about this many at a time (counting their own entries)."""


def _weight(value: Any) -> int:
    """What an entry weighs in a slice: 1, plus its own entries when it is a list or an object."""
    return 1 + (len(value) if isinstance(value, dict | list) else 0)


def _slice_length(window: Sequence[Any], weight_limit: int) -> int:
    """How many entries from the start of `window` make one slice: a slice ends with the entry that brings it to
    `weight_limit`, or just before an entry that weighs that much alone (which makes a slice of its own)."""
    kinds = set(map(type, window))
    if dict not in kinds and list not in kinds:  # scalars only, counted at C speed
        return min(len(window), weight_limit)
    count = weight = 0
    for child in window:
        child_weight = _weight(child)
        if count and child_weight >= weight_limit:
            break
        count += 1
        weight += child_weight
        if weight >= weight_limit:
            break
    return count


def release(value: Any) -> None:
    """Empty `value`'s lists and objects a slice at a time (from the end), so that freeing a large value never
    holds the interpreter for long (freeing a million objects at once takes about 100 ms of C code). As in `_pieces`,
    a list or object of a few entries goes one entry at a time, a large one (`is_large`) emptied first; a wide one
    goes in slices, an entry that weighs a slice alone emptied first. `value` must not be used after."""
    todo = [value] if isinstance(value, dict | list) else []
    while todo:
        node = todo[-1]
        if not node:
            todo.pop()
            continue
        last = node[-1] if isinstance(node, list) else node[next(reversed(node))]
        few = len(node) <= SLICE_WEIGHT // 10
        if isinstance(last, dict | list) and (is_large(last) if few else _weight(last) >= RELEASE_SLICE):
            todo.append(last)  # empty it first; then it is freed, empty, with the next slice
            continue
        values = reversed(node) if isinstance(node, list) else reversed(node.values())
        count = 1 if few else _slice_length(list(islice(values, RELEASE_SLICE)), RELEASE_SLICE)
        if isinstance(node, list):
            del node[-count:]
        else:
            for _ in range(count):
                node.popitem()
        _let_the_loop_run()


def _pieces(value: Any, depth: int = 0) -> Iterator[str]:
    """The compact JSON of `value` in pieces (see `_json_text`), with a stack of its own instead of recursion.

    Within SPLIT_DEPTH levels a large list or object is taken apart: one of a few entries entry by entry, a wide one
    in slices (`_slices`). Anything else is one encoder call.
    """
    todo: list[Any] = [(value, depth)]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            yield item
            continue
        node, depth = item
        plain = isinstance(node, dict) and not all(isinstance(key, str) for key in node)
        if depth >= SPLIT_DEPTH or plain or not is_large(node):
            yield _encode(node)
        elif len(node) > SLICE_WEIGHT // 10:
            yield from _slices(node, depth)
        else:
            entries = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            todo.append("}" if isinstance(node, dict) else "]")
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                todo.append((child, depth + 1))
                todo.append(("," if index else "") + (_encode(key) + ":" if isinstance(node, dict) else ""))
            todo.append("{" if isinstance(node, dict) else "[")


def _slices(node: dict[str, Any] | list[Any], depth: int) -> Iterator[str]:
    """A wide list or object as JSON, a slice of entries (see SLICE_WEIGHT) per encoder call; an entry that weighs a
    slice alone is made in pieces of its own."""
    keys: list[str] | None = list(node) if isinstance(node, dict) else None
    values: list[Any] = list(node.values()) if isinstance(node, dict) else node
    yield "[" if keys is None else "{"
    start = 0
    while count := _slice_length(values[start : start + SLICE_WEIGHT], SLICE_WEIGHT):  # no slice has more entries
        part = values[start : start + count]
        comma = "," if start else ""
        if _weight(part[0]) >= SLICE_WEIGHT:  # alone in its slice
            yield comma + ("" if keys is None else _encode(keys[start]) + ":")
            yield from _pieces(part[0], depth + 1)
        else:
            chunk = part if keys is None else dict(zip(keys[start : start + count], part, strict=True))
            yield comma + _encode(chunk)[1:-1]
        start += count
        _let_the_loop_run()
    yield "]" if keys is None else "}"


def _let_the_loop_run() -> None:
    """Called between two slices of work done in a worker thread: the event loop gets the interpreter now."""
    time.sleep(0)


def _clip(text: str | None, limit: int = SCALAR_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… ({len(text) - limit + 40:,} more characters)"


def _bounded_mapping(mapping: dict[str, Any] | None, budget: int = SMALL_FIELD_CHARS) -> dict[str, Any] | None:
    """`mapping` in at most about `budget` characters of JSON: long or deep values and the entries past it left out."""
    if mapping is None or (len(_dumps(mapping)) <= budget and not too_deep(mapping, MAX_DEPTH - 1)):
        return mapping
    kept: dict[str, Any] = {}
    used = 2
    for index, (key, value) in enumerate(mapping.items()):
        size = len(_dumps(value))
        small = size <= budget // 4 and not too_deep(value, MAX_DEPTH - 2)
        entry: Any = value if small else f"<{size:,} characters left out>"
        cost = len(_dumps({_clip(key, KEY_CHARS): entry}))
        if used + cost > budget:
            left = len(mapping) - index
            kept[LEFT_OUT_KEY] = f"{left:,} more entr{'y' if left == 1 else 'ies'} left out"
            break
        kept[_clip(key, KEY_CHARS) or ""] = entry
        used += cost
    return kept


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
        elif isinstance(current, list) and _is_index(token) and int(token) < len(current):
            current = current[int(token)]
        else:
            raise InvalidInputError(f"result_pointer {pointer!r} names nothing in the result (no {token!r}).")
    return current


def _is_index(part: str) -> bool:
    """An array index as RFC 6901 writes it: digits, no leading zero."""
    return part.isascii() and part.isdigit() and (part == "0" or not part.startswith("0"))


def _bounded_result(result: Any, *, max_chars: int, offset: int, pointer: str | None) -> tuple[Any, ResultPage | None]:
    value = resolve_pointer(result, pointer) if pointer else result
    if offset == 0 and (value is None or isinstance(value, bool | int | float)):
        return value, None
    text, total = _json_text(value, offset, max_chars)
    if offset == 0 and total <= max_chars and not too_deep(value, MAX_DEPTH):
        return value, None
    if offset >= total:
        raise InvalidInputError(f"result_offset {offset} is past the end of the result ({total} characters).")
    end = offset + len(text)
    return None, ResultPage(text=text, offset=offset, total_chars=total, next_offset=end if end < total else None)


def _next_step(
    run: Run, page: ResultPage | None, timed_out: bool, waited: float | None, pointer: str | None = None
) -> str:
    if run.is_running:
        if timed_out:
            return (
                f"The run is still running after waiting {waited or 0:.0f} s. Call wait_for_run with run_id "
                f"'{run.id}' again to keep waiting (it starts nothing new), or get_run later. Do not start the "
                "workflow again."
            )
        return f"The run is working. Call wait_for_run with run_id '{run.id}' to wait for its result."
    if status_key(run.status) == "completed":
        step = "The run completed: report its result to the user."
    elif status_key(run.status) == "failed":
        step = "The run failed: tell the user what it reported. Start it again only if the user asks."
    else:
        step = f"The run ended with status '{run.status}': report this to the user."
    if page is not None and page.next_offset is not None:
        part = f"The part of the result at result_pointer '{pointer}'" if pointer else "The result"
        same = f", result_pointer='{pointer}'" if pointer else ""
        step += (
            f" {part} is {page.total_chars:,} characters long and was cut: call get_run with run_id '{run.id}'"
            f"{same} and result_offset={page.next_offset} for the next part, or result_pointer to choose one part."
        )
    return step


def _report_fields(
    run: Run,
    *,
    max_chars: int,
    offset: int = 0,
    pointer: str | None = None,
    timed_out: bool = False,
    waited: float | None = None,
) -> dict[str, Any]:
    """The fields of a RunReport: the run shown bounded, and the next step for the model."""
    result, page = _bounded_result(run.result, max_chars=max_chars, offset=offset, pointer=pointer)
    shown = _shown(run)
    return {
        "id": shown.id,
        "status": shown.status,
        "workflow_id": shown.workflow_id,
        "workflow_name": shown.workflow_name,
        "started_at": shown.started_at,
        "params": _bounded_mapping(run.params),
        "result": result,
        "result_page": page,
        "other": _bounded_mapping(run.other) or {},
        "next_step": _next_step(shown, page, timed_out, waited, pointer),
    }


def run_report(run: Run, *, max_chars: int, offset: int = 0, pointer: str | None = None) -> RunReport:
    """The run, with its result bounded to `max_chars` characters (paged from `offset`, below `pointer`)."""
    return RunReport(**_report_fields(run, max_chars=max_chars, offset=offset, pointer=pointer))


def _shown(run: Run) -> Run:
    """The run with the API's ids, status, names and timestamp cut to SCALAR_CHARS."""
    return run.model_copy(
        update={
            "id": _clip(run.id),
            "status": _clip(run.status),
            "workflow_id": _clip(run.workflow_id),
            "workflow_name": _clip(run.workflow_name),
            "started_at": _clip(run.started_at),
        }
    )


def wait_report(outcome: WaitOutcome, *, max_chars: int) -> WaitReport:
    """The run after a wait, with the wait's own figures."""
    return WaitReport(
        **_report_fields(outcome.run, max_chars=max_chars, timed_out=outcome.timed_out, waited=outcome.elapsed),
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
    if status_key(report.status) == RUNNING:
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
        pretty = json.dumps(report.result, ensure_ascii=False, indent=2, default=str)
        plain = _dumps(report.result)
        lines.append("Result:")
        lines.append(pretty if len(pretty) <= max(PRETTY_CHARS, len(plain) * 5 // 4) else plain)
    return "\n".join(lines)


PRETTY_CHARS = 2_000
"""A result is indented in the text when that keeps it this short, or at most a quarter longer than compact JSON."""


def bounded_listing(listing: WorkflowList, *, max_chars: int) -> WorkflowList:
    """The listing in about `max_chars` characters: long names and descriptions cut, then workflows left out."""
    shown: list[WorkflowInfo] = []
    used = 0
    for info in listing.workflows:
        clipped = info.model_copy(
            update={
                "id": _clip(info.id) or "",
                "name": _clip(info.name, NAME_CHARS),
                "description": _clip(info.description, DESCRIPTION_CHARS),
            }
        )
        used += len(clipped.model_dump_json())
        if used > max_chars and shown:
            break
        shown.append(clipped)
    if len(shown) == len(listing.workflows):
        return listing.model_copy(update={"workflows": shown})
    left = len(listing.workflows) - len(shown)
    note = f"{left:,} more workflows are not shown: pass `query` to narrow the list."
    return WorkflowList(workflows=shown, note=f"{listing.note} {note}" if listing.note else note)
