"""Lenient parsing of what the API sends: runs, workflow listings, timestamps, and which statuses are final."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wave_mcp.models import Run, parse_run, parse_timestamp, parse_workflows

EXECUTE_ANSWER: dict[str, Any] = {
    "appId": "2109031a772d090f92f1",
    "id": "80b215ec-91a2-419f-88e2-d256aadf1e31",
    "params": {"param1": "value 1"},
    "startedAt": "2023-01-27T07:54:25.126673557Z",
    "status": "running",
    "workflow": {
        "appId": "2109031a772d090f92f1",
        "createdAt": "2023-01-25T15:16:35.484854Z",
        "description": "This is my first workflow",
        "id": "8988f685-2b8c-4a09-9955-150426265d32",
        "name": "My workflow",
        "updatedAt": "2023-01-25T15:16:35.484854Z",
    },
}


# ---- parse_run ----------------------------------------------------------------------------------------------


def test_parse_run_reads_the_documented_execute_answer() -> None:
    """The execute answer of WAVE_API.md becomes a Run with the workflow's id and name lifted out."""
    run = parse_run(EXECUTE_ANSWER)
    assert run.id == "80b215ec-91a2-419f-88e2-d256aadf1e31"
    assert run.status == "running"
    assert run.workflow_id == "8988f685-2b8c-4a09-9955-150426265d32"
    assert run.workflow_name == "My workflow"
    assert run.params == {"param1": "value 1"}
    assert run.started_at == "2023-01-27T07:54:25.126673557Z"
    assert run.result is None
    assert not {"id", "status", "workflow", "params", "startedAt", "result"} & set(run.other)


def test_parse_run_reads_the_documented_get_answer() -> None:
    """The short `GET /runs/{id}` answer keeps its arbitrary result."""
    run = parse_run({"id": "r1", "result": {"key1": "value 1", "key2": "value 2"}, "status": "completed"})
    assert (run.id, run.status, run.result) == ("r1", "completed", {"key1": "value 1", "key2": "value 2"})
    assert run.workflow_id is None and run.workflow_name is None


@pytest.mark.parametrize("result", [[1, 2], "text", 3.5, 0, None, False, {"nested": {"a": [None]}}])
def test_parse_run_keeps_any_json_result(result: Any) -> None:
    """The result format is customer-specific: any JSON value is kept as it is."""
    assert parse_run({"id": "r", "status": "completed", "result": result}).result == result


def test_parse_run_accepts_a_numeric_id_and_workflow_id_field() -> None:
    """A numeric id becomes a string; a flat `workflowId` is used when there is no `workflow` object."""
    run = parse_run({"id": 42, "status": "completed", "workflowId": "wf-9"})
    assert run.id == "42"
    assert run.workflow_id == "wf-9"


def test_parse_run_keeps_unknown_fields_aside() -> None:
    """Attributes the page does not document end up in `other`, not lost and not mixed with known fields."""
    run = parse_run({"id": "r", "status": "completed", "finishedAt": "x", "progress": 0.5})
    assert run.other == {"finishedAt": "x", "progress": 0.5}


def test_parse_run_ignores_fields_of_the_wrong_type() -> None:
    """A `params` that is not an object or a `startedAt` that is not a string is dropped, not a crash."""
    run = parse_run({"id": "r", "status": "running", "params": [1], "startedAt": 123, "workflow": {"name": 5}})
    assert run.params is None
    assert run.started_at is None
    assert run.workflow_name is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "expected a JSON object"),
        ("run", "expected a JSON object"),
        (None, "expected a JSON object"),
        ({"status": "running"}, "no id"),
        ({"id": "", "status": "running"}, "no id"),
        ({"id": True, "status": "running"}, "no id"),
        ({"id": None, "status": "running"}, "no id"),
        ({"id": ["r"], "status": "running"}, "no id"),
        ({"id": "r"}, "no status"),
        ({"id": "r", "status": ""}, "no status"),
        ({"id": "r", "status": 3}, "no status"),
        ({"id": "r", "status": None}, "no status"),
    ],
)
def test_parse_run_refuses_an_answer_without_id_or_status(data: object, problem: str) -> None:
    """Without an id or a status there is no run: a ValueError says which is missing."""
    with pytest.raises(ValueError, match=problem):
        parse_run(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
)


@given(JSON | st.dictionaries(st.sampled_from(["id", "status", "workflow", "params", "startedAt", "x"]), JSON))
def test_parse_run_never_fails_other_than_with_value_error(data: object) -> None:
    """Whatever JSON arrives, parsing gives a Run or a ValueError, nothing else."""
    try:
        run = parse_run(data)
    except ValueError:
        return
    assert run.id and run.status


# ---- statuses -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["running", "Running", " RUNNING "])
def test_running_is_not_final(status: str) -> None:
    """`running`, in any case and with stray spaces, means the run may still change."""
    assert Run(id="r", status=status).is_running


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "timeout", "queued?", "done", "runningish"])
def test_every_other_status_is_final(status: str) -> None:
    """Any status other than `running`, documented or not, ends a wait."""
    assert not Run(id="r", status=status).is_running


# ---- parse_workflows ----------------------------------------------------------------------------------------

WORKFLOW_ITEMS = [
    {"id": "a", "name": "A", "description": "first"},
    {"id": 7, "name": None},
]


@pytest.mark.parametrize(
    "data",
    [
        WORKFLOW_ITEMS,
        {"workflows": WORKFLOW_ITEMS},
        {"data": WORKFLOW_ITEMS},
        {"items": WORKFLOW_ITEMS, "total": 2},
        {"next": None, "workflows": WORKFLOW_ITEMS},
    ],
)
def test_parse_workflows_reads_an_array_or_a_wrapping_object(data: object) -> None:
    """An array of workflows, or an object wrapping it in `workflows`, `data` or `items`, gives the same list."""
    workflows = parse_workflows(data)
    assert workflows is not None
    assert [(w.id, w.name, w.description) for w in workflows] == [("a", "A", "first"), ("7", None, None)]


@pytest.mark.parametrize(
    "data", [None, "workflows", 3, {"workflows": "a,b"}, {"results": []}, {"data": {"workflows": []}}]
)
def test_parse_workflows_gives_none_for_an_unknown_shape(data: object) -> None:
    """An answer that is neither an array nor a known wrapper is reported as unknown (None), not as empty."""
    assert parse_workflows(data) is None


def test_parse_workflows_skips_entries_without_a_usable_id() -> None:
    """Entries that are not objects or have no string or numeric id are left out; the rest is kept."""
    data = [{"id": "ok"}, {"name": "no id"}, "text", {"id": True}, {"id": None}, {"id": 3, "description": 5}]
    workflows = parse_workflows(data)
    assert workflows is not None
    assert [(w.id, w.description) for w in workflows] == [("ok", None), ("3", None)]


def test_parse_workflows_of_an_empty_array_is_an_empty_list() -> None:
    """An empty listing is a known shape with no workflows, unlike an unknown shape."""
    assert parse_workflows([]) == []
    assert parse_workflows({"items": []}) == []


# ---- parse_timestamp ----------------------------------------------------------------------------------------


def test_parse_timestamp_reads_nine_fractional_digits() -> None:
    """The API's nanosecond timestamps (which `fromisoformat` in 3.11 rejects) are read to the microsecond."""
    assert parse_timestamp("2023-01-27T07:54:25.126673557Z") == datetime(2023, 1, 27, 7, 54, 25, 126673, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-25T15:16:35.484854Z", datetime(2023, 1, 25, 15, 16, 35, 484854, tzinfo=UTC)),
        ("2023-01-25T15:16:35Z", datetime(2023, 1, 25, 15, 16, 35, tzinfo=UTC)),
        ("2023-01-25T15:16:35.5Z", datetime(2023, 1, 25, 15, 16, 35, 500000, tzinfo=UTC)),
        ("2023-01-25T15:16:35", datetime(2023, 1, 25, 15, 16, 35, tzinfo=UTC)),
        ("2023-01-25T17:16:35.000000001+02:00", datetime(2023, 1, 25, 15, 16, 35, tzinfo=UTC)),
        ("2023-01-25T10:16:35-0500", datetime(2023, 1, 25, 15, 16, 35, tzinfo=UTC)),
        (" 2023-01-25T15:16:35Z ", datetime(2023, 1, 25, 15, 16, 35, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_reads_zones_and_offsets_as_utc(text: str, expected: datetime) -> None:
    """`Z`, numeric offsets (with or without a colon) and no zone (taken as UTC) all give an aware UTC time."""
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "yesterday",
        "2023-01-25",
        "2023-13-25T15:16:35Z",
        "2023-01-32T15:16:35Z",
        "2023-01-25T25:16:35Z",
        "2023-01-25T15:16:35+2",
        "2023-01-25 15:16:35Z",
        "1674661995",
    ],
)
def test_parse_timestamp_gives_none_for_garbage(text: str | None) -> None:
    """What cannot be read as RFC 3339 is None, never an exception."""
    assert parse_timestamp(text) is None


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=0, max_value=999), st.sampled_from(["Z", "+00:00"]))
def test_parse_timestamp_round_trips_the_api_format(moment: datetime, nanos: int, zone: str) -> None:
    """Any time written as the API writes it (microseconds plus three more digits) is read back to the microsecond."""
    text = moment.replace(tzinfo=None, microsecond=0).isoformat() + f".{moment.microsecond:06d}{nanos:03d}{zone}"
    assert parse_timestamp(text) == moment


@given(st.text())
def test_parse_timestamp_never_raises(text: str) -> None:
    """Any text gives a datetime or None."""
    parsed = parse_timestamp(text)
    assert parsed is None or parsed.tzinfo is not None


def test_parse_timestamp_converts_offsets_exactly() -> None:
    """An offset shifts the time: the same instant written in two zones parses to the same value."""
    here = parse_timestamp("2024-06-01T12:00:00.123456789+05:30")
    assert here == datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert here == parse_timestamp("2024-06-01T06:30:00.123456Z")
