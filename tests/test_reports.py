"""What the model reads of a run, at its boundaries: results whole or paged (exact sizes, offsets, depths), params and
other attributes within their budget (the count of entries left out), cut names and ids, the next step, the one-line
summary, the text, and the bounded listing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wave_mcp.errors import InvalidInputError
from wave_mcp.limits import DESCRIPTION_CHARS, KEY_CHARS, MAX_DEPTH, NAME_CHARS, SCALAR_CHARS, SMALL_FIELD_CHARS
from wave_mcp.models import Run, WorkflowInfo, WorkflowList
from wave_mcp.reports import bounded_listing, render_text, resolve_pointer, run_report, summary_line, wait_report
from wave_mcp.waiting import WaitOutcome

MAX = 100
"""The result bound used here (the setting is larger; the rules are the same)."""


def run(**fields: Any) -> Run:
    values: dict[str, Any] = {"id": "run-1", "status": "completed", "workflow_id": "wf-1", "workflow_name": "One"}
    return Run(**{**values, **fields})


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def text_of_size(size: int) -> str:
    """A string whose JSON is `size` characters."""
    return "x" * (size - 2)


# ---- the result: whole or paged ----------------------------------------------------------------------------------


def test_a_result_of_exactly_the_bound_is_whole_and_one_more_is_paged() -> None:
    """`max_chars` characters of JSON come whole; one more gives a first page of `max_chars` with the next offset."""
    whole = run_report(run(result=text_of_size(MAX)), max_chars=MAX)
    assert (whole.result, whole.result_page) == (text_of_size(MAX), None)
    cut = run_report(run(result=text_of_size(MAX + 1)), max_chars=MAX)
    assert cut.result is None and cut.result_page is not None
    assert (cut.result_page.offset, cut.result_page.total_chars, cut.result_page.next_offset) == (0, MAX + 1, MAX)
    assert cut.result_page.text == compact(text_of_size(MAX + 1))[:MAX]


def test_the_next_step_of_a_cut_result_names_the_run_the_length_and_the_next_offset() -> None:
    """The model reads where to go on: the run id, the total length and result_offset."""
    report = run_report(run(result=text_of_size(1500)), max_chars=MAX)
    assert "completed" in report.next_step
    assert "1,500 characters" in report.next_step
    assert "get_run with run_id 'run-1'" in report.next_step and f"result_offset={MAX}" in report.next_step


def test_the_last_page_has_no_next_offset_and_no_paging_advice() -> None:
    """A page that reaches the end says so (next_offset None) and the next step does not send the model on."""
    result = text_of_size(250)
    page = run_report(run(result=result), max_chars=MAX, offset=200).result_page
    assert page is not None
    assert (page.offset, page.next_offset, page.text) == (200, None, compact(result)[200:])
    report = run_report(run(result=result), max_chars=MAX, offset=200)
    assert "result_offset" not in report.next_step


def test_the_last_character_is_a_page_and_the_length_is_past_the_end() -> None:
    """offset = length - 1 gives the last character; offset = length is an error naming both numbers."""
    result = text_of_size(150)
    page = run_report(run(result=result), max_chars=MAX, offset=149).result_page
    assert page is not None and page.text == '"' and page.next_offset is None
    with pytest.raises(InvalidInputError) as refusal:
        run_report(run(result=result), max_chars=MAX, offset=150)
    assert "result_offset 150" in str(refusal.value) and "(150 characters)" in str(refusal.value)


def test_a_middle_page_points_at_the_next() -> None:
    """A page in the middle is `max_chars` long and its next offset follows it."""
    page = run_report(run(result=text_of_size(350)), max_chars=MAX, offset=120).result_page
    assert page is not None and (len(page.text), page.next_offset) == (MAX, 220)


def test_an_offset_into_a_small_result_pages_it() -> None:
    """An offset is honoured even when the result would fit whole."""
    page = run_report(run(result=[1, 2, 3]), max_chars=MAX, offset=1).result_page
    assert page is not None and (page.text, page.total_chars, page.next_offset) == ("1,2,3]", 7, None)


@pytest.mark.parametrize("result", [None, True, 12345678901234567890, 1.5e300])
def test_scalars_come_whole_whatever_their_length(result: Any) -> None:
    """Numbers, booleans and null are never paged, even longer than the bound."""
    report = run_report(run(result=result), max_chars=3)
    assert (report.result, report.result_page) == (result, None)


def test_a_number_can_still_be_paged_by_offset() -> None:
    """An offset into a number's text gives a page."""
    page = run_report(run(result=123456), max_chars=3, offset=2).result_page
    assert page is not None and (page.text, page.next_offset) == ("345", 5)


def test_a_result_nested_to_the_depth_bound_is_whole_and_deeper_is_paged() -> None:
    """MAX_DEPTH levels come as structure; one more comes as text pages."""
    whole = run_report(run(result=nested(MAX_DEPTH)), max_chars=10_000)
    assert whole.result == nested(MAX_DEPTH)
    deeper = run_report(run(result=nested(MAX_DEPTH + 1)), max_chars=10_000)
    assert deeper.result is None and deeper.result_page is not None
    assert deeper.result_page.next_offset is None


def test_a_pointer_picks_a_part_and_pages_it() -> None:
    """result_pointer selects a part; a cut part's next step repeats the pointer."""
    result = {"items": [{"text": text_of_size(300)}], "a/b": {"~": 5}}
    assert run_report(run(result=result), max_chars=MAX, pointer="/a~1b/~0").result == 5
    report = run_report(run(result=result), max_chars=MAX, pointer="/items/0/text")
    assert report.result_page is not None and report.result_page.total_chars == 300
    assert "result_pointer '/items/0/text'" in report.next_step and "result_pointer='/items/0/text'" in report.next_step


@pytest.mark.parametrize(
    ("pointer", "words"),
    [
        ("items", "must be empty or start with '/'"),
        ("/nope", "(no 'nope')"),
        ("/items/1", "(no '1')"),
        ("/items/01", "(no '01')"),
        ("/items/-1", "(no '-1')"),
        ("/items/0/x", "(no 'x')"),
        ("/items/٣", "(no '٣')"),
    ],
)
def test_a_pointer_to_nothing_is_refused_naming_the_missing_part(pointer: str, words: str) -> None:
    """A pointer that names nothing says which part is missing."""
    with pytest.raises(InvalidInputError) as refusal:
        resolve_pointer({"items": [7]}, pointer)
    assert words in str(refusal.value) and repr(pointer) in str(refusal.value)


def test_pointers_read_lists_by_index_and_the_empty_pointer_is_the_whole() -> None:
    """'' is the whole document; '/0' and '/10' index lists; '~01' unescapes to '~1'."""
    document = {"l": list(range(11)), "~1": "tilde-one"}
    assert resolve_pointer(document, "") is document
    assert (resolve_pointer(document, "/l/0"), resolve_pointer(document, "/l/10")) == (0, 10)
    assert resolve_pointer(document, "/~01") == "tilde-one"
    with pytest.raises(InvalidInputError, match="no '01'"):
        resolve_pointer(document, "/l/01")


# ---- params and the other attributes ---------------------------------------------------------------------------


def test_params_of_exactly_the_budget_are_shown_whole() -> None:
    """Params of SMALL_FIELD_CHARS characters of JSON are shown as they are."""
    params = {"p": text_of_size(SMALL_FIELD_CHARS - len('{"p":}'))}
    assert len(compact(params)) == SMALL_FIELD_CHARS
    assert run_report(run(params=params), max_chars=MAX).params == params


def test_one_character_over_the_budget_leaves_the_long_value_out_with_its_size() -> None:
    """One more character: the value is replaced by its size, the key stays."""
    value = text_of_size(SMALL_FIELD_CHARS + 1 - len('{"p":}'))
    assert run_report(run(params={"p": value}), max_chars=MAX).params == {
        "p": f"<{len(compact(value)):,} characters left out>"
    }


def test_values_up_to_a_quarter_of_the_budget_are_kept_and_longer_ones_summarised() -> None:
    """Within a bounded mapping a value of budget/4 characters stays; one more is replaced by its size."""
    quarter = SMALL_FIELD_CHARS // 4
    params = {"a": text_of_size(quarter), "b": text_of_size(quarter + 1), "c": text_of_size(3000)}
    shown = run_report(run(params=params), max_chars=MAX).params
    assert shown == {
        "a": text_of_size(quarter),
        "b": f"<{quarter + 1} characters left out>",
        "c": "<3,000 characters left out>",
    }


def entries(count: int, size: int) -> dict[str, Any]:
    """`count` entries "k00": "xx…" each costing `size` characters as `{"k00":"…"}` (braces included)."""
    return {f"k{index:02}": "x" * (size - len('{"k00":""}')) for index in range(count)}


def test_entries_fill_the_budget_exactly_then_the_rest_is_counted() -> None:
    """Entries are kept while the JSON stays within the budget (the braces count); the others are counted."""
    # each entry costs 400: 2 (the braces) + 4 * 400 = 1602, a fifth would make 2002 > 2000
    params = entries(9, 400)
    shown = run_report(run(params=params), max_chars=MAX).params
    assert shown is not None
    assert list(shown) == ["k00", "k01", "k02", "k03", "…"]
    assert shown["…"] == "5 more entries left out"


def test_an_entry_that_just_fits_is_kept() -> None:
    """The last entry is kept when it ends exactly at the budget."""
    # 2 + 4 * 400 = 1602; an entry of 398 ends at 2000 exactly; one more entry is then left out
    params = {**entries(4, 400), "last": "x" * (398 - len('{"last":""}')), "after": text_of_size(3000)}
    shown = run_report(run(params=params), max_chars=MAX).params
    assert shown is not None and list(shown) == ["k00", "k01", "k02", "k03", "last", "…"]
    assert shown["…"] == "1 more entry left out"
    params["last"] = "x" * (399 - len('{"last":""}'))
    shown = run_report(run(params=params), max_chars=MAX).params
    assert shown is not None and list(shown) == ["k00", "k01", "k02", "k03", "…"]
    assert shown["…"] == "2 more entries left out"


def test_a_thousand_entries_are_counted_with_a_separator() -> None:
    """The count the model reads is exact and readable."""
    params = {f"key{index}": index for index in range(1200)}
    shown = run_report(run(params=params), max_chars=MAX).params
    assert shown is not None
    kept = len(shown) - 1
    assert shown["…"] == f"{1200 - kept:,} more entries left out"
    assert len(compact({key: value for key, value in shown.items() if key != "…"})) <= SMALL_FIELD_CHARS


def test_long_keys_are_cut_only_in_a_bounded_mapping() -> None:
    """Keys of KEY_CHARS stay; longer ones are cut, saying how much was left out."""
    fits, long = "k" * KEY_CHARS, "q" * (KEY_CHARS + 1)
    shown = run_report(run(params={fits: 1, long: 2, "big": text_of_size(3000)}), max_chars=MAX).params
    assert shown is not None
    cut = f"{'q' * (KEY_CHARS - 40)}… (41 more characters)"
    assert shown == {fits: 1, cut: 2, "big": "<3,000 characters left out>"}


def test_params_nested_to_the_depth_bound_stay_and_deeper_values_are_summarised() -> None:
    """Params MAX_DEPTH - 1 deep are shown whole; a value that makes them deeper is replaced by its size."""
    fits = {"deep": nested(MAX_DEPTH - 2)}
    assert run_report(run(params=fits), max_chars=MAX).params == fits
    too = {"deep": nested(MAX_DEPTH - 1)}
    size = len(compact(nested(MAX_DEPTH - 1)))
    assert run_report(run(params=too), max_chars=MAX).params == {"deep": f"<{size:,} characters left out>"}


def nested_list(depth: int) -> list[Any]:
    """A list `depth` levels deep, two characters a level."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_in_a_bounded_mapping_small_values_up_to_the_depth_bound_stay_structure() -> None:
    """In a mapping cut for size, a small value MAX_DEPTH - 2 deep is kept; one level deeper is summarised."""
    params = {"ok": nested_list(MAX_DEPTH - 2), "deep": nested_list(MAX_DEPTH - 1), "big": text_of_size(3000)}
    shown = run_report(run(params=params), max_chars=MAX).params
    size = 2 * (MAX_DEPTH - 1)
    assert shown == {
        "ok": nested_list(MAX_DEPTH - 2),
        "deep": f"<{size} characters left out>",
        "big": "<3,000 characters left out>",
    }


def test_other_attributes_are_bounded_like_params_and_default_to_empty() -> None:
    """`other` gets the same budget; a run without other attributes shows {}."""
    shown = run_report(run(other=entries(9, 400)), max_chars=MAX).other
    assert shown["…"] == "5 more entries left out"
    assert run_report(run(), max_chars=MAX).other == {}
    assert run_report(run(), max_chars=MAX).params is None


# ---- ids, names and statuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["id", "status", "workflow_id", "workflow_name", "started_at"])
def test_scalars_up_to_the_bound_are_kept_and_longer_ones_cut_with_the_count(field: str) -> None:
    """SCALAR_CHARS characters stay; one more is cut to SCALAR_CHARS - 40, saying how many were left out."""
    exact = "s" * SCALAR_CHARS
    assert getattr(run_report(run(**{field: exact}), max_chars=MAX), field) == exact
    longer = "s" * (SCALAR_CHARS + 1)
    shown = getattr(run_report(run(**{field: longer}), max_chars=MAX), field)
    assert shown == f"{'s' * (SCALAR_CHARS - 40)}… (41 more characters)"


def test_a_very_long_id_is_cut_with_a_separated_count() -> None:
    """The count of characters left out reads with a thousands separator."""
    shown = run_report(run(id="i" * 5000), max_chars=MAX).id
    assert shown.endswith(f"… ({5000 - SCALAR_CHARS + 40:,} more characters)")


# ---- the next step -----------------------------------------------------------------------------------------------


def test_next_step_of_a_running_run_says_wait_for_run_with_its_id() -> None:
    """Started, not waited: call wait_for_run with the run id."""
    step = run_report(run(status="running"), max_chars=MAX).next_step
    assert "wait_for_run with run_id 'run-1'" in step and "timed" not in step


def test_next_step_after_a_timed_out_wait_says_how_long_and_not_to_start_again() -> None:
    """A timed-out wait gives the seconds waited, the call to make and the warning against a second run."""
    outcome = WaitOutcome(run=run(status="running"), timed_out=True, elapsed=29.6, polls=7)
    report = wait_report(outcome, max_chars=MAX)
    assert "after waiting 30 s" in report.next_step
    assert "wait_for_run with run_id 'run-1' again" in report.next_step
    assert "Do not start the workflow again" in report.next_step
    assert (report.timed_out, report.polls, report.elapsed_seconds) == (True, 7, 29.6)


def test_a_running_run_at_the_end_of_a_wait_that_did_not_time_out_is_not_called_timed_out() -> None:
    """`timed_out` false: the next step is the plain one."""
    report = wait_report(WaitOutcome(run=run(status="running"), timed_out=False, elapsed=0.0, polls=0), max_chars=MAX)
    assert "after waiting" not in report.next_step and "wait_for_run with run_id 'run-1'" in report.next_step


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("completed", "report its result"),
        (" Completed", "report its result"),
        ("failed", "tell the user what it reported"),
        ("FAILED", "tell the user what it reported"),
        ("cancelled", "ended with status 'cancelled'"),
    ],
)
def test_next_step_of_a_finished_run_follows_its_status(status: str, words: str) -> None:
    """Completed, failed and any other final status each tell the model what to report."""
    assert words in run_report(run(status=status), max_chars=MAX).next_step


def test_wait_report_rounds_the_elapsed_seconds_to_hundredths() -> None:
    """elapsed_seconds is rounded to 0.01 s."""
    report = wait_report(WaitOutcome(run=run(), timed_out=False, elapsed=3.14159, polls=2), max_chars=MAX)
    assert report.elapsed_seconds == 3.14


# ---- the summary line and the text -----------------------------------------------------------------------------


def test_summary_of_a_finished_run_says_its_status_and_the_wait() -> None:
    """A completed run after a wait: id, workflow name, status, seconds and polls."""
    report = wait_report(WaitOutcome(run=run(), timed_out=False, elapsed=12.4, polls=3), max_chars=MAX)
    assert summary_line(report) == "Run run-1 of 'One' completed after waiting 12 s (3 polls)."


def test_summary_counts_one_poll_in_the_singular() -> None:
    """One poll is 'poll', not 'polls'."""
    report = wait_report(WaitOutcome(run=run(status="failed"), timed_out=False, elapsed=0.2, polls=1), max_chars=MAX)
    assert summary_line(report) == "Run run-1 of 'One' failed after waiting 0 s (1 poll)."


def test_summary_without_polls_says_nothing_of_a_wait() -> None:
    """A report of a plain read has no wait in its summary."""
    assert summary_line(run_report(run(status="failed"), max_chars=MAX)) == "Run run-1 of 'One' failed."
    report = wait_report(WaitOutcome(run=run(), timed_out=False, elapsed=0.0, polls=0), max_chars=MAX)
    assert summary_line(report) == "Run run-1 of 'One' completed."


def test_summary_of_a_running_run_says_still_running_and_whether_the_wait_timed_out() -> None:
    """Running after a timed-out wait says both; running without a wait says only that it runs."""
    waited = wait_report(WaitOutcome(run=run(status="running"), timed_out=True, elapsed=30, polls=4), max_chars=MAX)
    assert summary_line(waited) == (
        "Run run-1 of 'One' is still running (the wait timed out) after waiting 30 s (4 polls)."
    )
    assert summary_line(run_report(run(status=" Running"), max_chars=MAX)) == "Run run-1 of 'One' is still running."


def test_summary_names_the_workflow_by_id_when_it_has_no_name() -> None:
    """Without a name the workflow id is given; without either, nothing."""
    assert summary_line(run_report(run(workflow_name=None), max_chars=MAX)) == "Run run-1 of workflow wf-1 completed."
    assert summary_line(run_report(run(workflow_name=None, workflow_id=None), max_chars=MAX)) == "Run run-1 completed."


def test_the_text_gives_summary_next_step_and_a_small_result_indented() -> None:
    """A small result is pretty-printed after the summary and the next step."""
    text = render_text(run_report(run(result={"total": 3}), max_chars=MAX))
    lines = text.splitlines()
    assert lines[0] == "Run run-1 of 'One' completed."
    assert "report its result" in lines[1]
    assert lines[2:] == ["Result:", "{", '  "total": 3', "}"]


def test_the_text_of_a_page_names_its_characters() -> None:
    """A page is introduced by its range and the total, then its text."""
    text = render_text(run_report(run(result=text_of_size(250)), max_chars=MAX, offset=100))
    assert "Result, characters 100-200 of 250:" in text.splitlines()
    assert text.splitlines()[-1] == compact(text_of_size(250))[100:200]


def test_the_text_without_a_result_ends_with_the_next_step() -> None:
    """No result, no 'Result:' line."""
    assert len(render_text(run_report(run(status="running"), max_chars=MAX)).splitlines()) == 2


def test_a_long_result_that_indenting_would_bloat_is_compact_in_the_text() -> None:
    """Indenting is kept while short or at most a quarter longer than compact JSON; else compact."""
    bloated = [[index] for index in range(400)]
    text = render_text(run_report(run(result=bloated), max_chars=100_000))
    assert text.splitlines()[-1] == compact(bloated)
    dense = ["x" * 50] * 60
    text = render_text(run_report(run(result=dense), max_chars=100_000))
    assert text.splitlines()[-1] == "]" and len(text.splitlines()) == 3 + 62


def test_indenting_is_kept_up_to_exactly_a_quarter_more() -> None:
    """Over 2,000 characters, a result whose indented form is exactly 5/4 of its compact form stays indented."""
    result = ["x" * 9] * 132 + ["y" * 13]
    pretty = json.dumps(result, indent=2)
    assert (len(pretty), len(compact(result))) == (2001, 1601)
    assert render_text(run_report(run(result=result), max_chars=100_000)).endswith(pretty)
    longer = [*result, "z" * 9]
    assert render_text(run_report(run(result=longer), max_chars=100_000)).endswith(json.dumps(longer, indent=2))
    bloated = [*result, [[1]]]
    assert render_text(run_report(run(result=bloated), max_chars=100_000)).endswith(compact(bloated))


def test_indenting_stops_past_two_thousand_characters_when_it_bloats() -> None:
    """A bloated result indented in exactly 2,000 characters stays indented; one character more is compact."""
    result: list[Any] = [[1] for _ in range(120)]
    result.append("z" * (2000 - len(json.dumps([*result, ""], indent=2))))
    pretty = json.dumps(result, indent=2)
    assert len(pretty) == 2000 and len(pretty) > len(compact(result)) * 5 // 4
    assert render_text(run_report(run(result=result), max_chars=100_000)).endswith(pretty)
    result[-1] += "z"
    assert render_text(run_report(run(result=result), max_chars=100_000)).endswith(compact(result))


# ---- the listing -------------------------------------------------------------------------------------------------


def info(index: int, **fields: Any) -> WorkflowInfo:
    return WorkflowInfo(**{"id": f"wf-{index}", **fields})


def test_a_listing_within_the_bound_is_whole_with_its_note() -> None:
    """Every workflow and the note stay when they fit."""
    listing = WorkflowList(workflows=[info(1), info(2)], note="From the catalog.")
    assert bounded_listing(listing, max_chars=10_000) == listing


def test_a_listing_over_the_bound_says_how_many_were_left_out() -> None:
    """Workflows past the bound are left out and counted; the query advice follows the note."""
    workflows = [info(index) for index in range(5)]
    size = len(workflows[0].model_dump_json())
    listing = bounded_listing(WorkflowList(workflows=workflows, note="Note."), max_chars=2 * size)
    assert [workflow.id for workflow in listing.workflows] == ["wf-0", "wf-1"]
    assert listing.note == "Note. 3 more workflows are not shown: pass `query` to narrow the list."
    alone = bounded_listing(WorkflowList(workflows=workflows), max_chars=2 * size + 1)
    assert alone.note == "3 more workflows are not shown: pass `query` to narrow the list."
    assert len(bounded_listing(WorkflowList(workflows=workflows), max_chars=2 * size - 1).workflows) == 1


def test_the_first_workflow_is_listed_even_over_the_bound() -> None:
    """A bound smaller than one workflow still lists one."""
    listing = bounded_listing(WorkflowList(workflows=[info(1), info(2)]), max_chars=1)
    assert [workflow.id for workflow in listing.workflows] == ["wf-1"]


def test_names_and_descriptions_are_cut_at_their_bounds() -> None:
    """Names of NAME_CHARS and descriptions of DESCRIPTION_CHARS stay; one more character is cut with a count."""
    exact = info(1, name="n" * NAME_CHARS, description="d" * DESCRIPTION_CHARS)
    longer = info(2, name="n" * (NAME_CHARS + 1), description="d" * (DESCRIPTION_CHARS + 1), id="i" * 301)
    listing = bounded_listing(WorkflowList(workflows=[exact, longer]), max_chars=100_000)
    assert listing.workflows[0] == exact
    cut = listing.workflows[1]
    assert cut.name == f"{'n' * (NAME_CHARS - 40)}… (41 more characters)"
    assert cut.description == f"{'d' * (DESCRIPTION_CHARS - 40)}… (41 more characters)"
    assert cut.id == f"{'i' * (SCALAR_CHARS - 40)}… (41 more characters)"


def test_non_ascii_results_are_counted_and_shown_as_characters() -> None:
    """Pages and the text count characters, not escapes: 'é' is one character and shown as itself."""
    page = run_report(run(result="é" * 150), max_chars=MAX).result_page
    assert page is not None and (page.total_chars, page.text) == (152, '"' + "é" * 99)
    assert '"name": "Zoë"' in render_text(run_report(run(result={"name": "Zoë"}), max_chars=MAX))


def test_a_wait_that_timed_out_at_once_says_zero_seconds() -> None:
    """A zero-second wait that timed out says 0 s."""
    report = wait_report(WaitOutcome(run=run(status="running"), timed_out=True, elapsed=0.0, polls=1), max_chars=MAX)
    assert "after waiting 0 s" in report.next_step
