"""Large, wide and deep results as the model reads them: the paged JSON text is exactly the compact JSON of the result,
however it is made (in pieces, in slices, or past the C encoder's recursion); what counts as large; freeing a result
a slice at a time; text made encodable.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest

from wave_mcp import reports
from wave_mcp.limits import REPLACEMENT, encodable, has_surrogates
from wave_mcp.models import Run
from wave_mcp.reports import (
    LARGE_CHARS,
    LARGE_ENTRIES,
    RELEASE_SLICE,
    SLICE_WEIGHT,
    SPLIT_DEPTH,
    is_large,
    release,
    run_report,
)

PAGE = 1_000


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def paged_text(value: Any) -> str:
    """The result's JSON text as `get_run` hands it out, page after page from offset 0 to the end."""
    run = Run(id="r1", status="completed", result=value)
    text, offset = "", 0
    while True:
        page = run_report(run, max_chars=PAGE, offset=offset).result_page
        assert page is not None, "a result this size is paged"
        assert page.offset == offset
        text += page.text
        if page.next_offset is None:
            assert len(text) == page.total_chars
            return text
        offset = page.next_offset


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = [value, level] if level % 2 else {"k": value, "n": level}
    return value


@pytest.mark.parametrize(
    "value",
    [
        [{"i": i, "name": f"order {i}", "tags": ["a", "b"], "price": i / 4} for i in range(3_000)],
        {f"key {i}": {"i": i, "ok": i % 2 == 0, "none": None} for i in range(2_500)},
        [[{"deep": [[i, {"x": "é"}]] * 3} for i in range(40)] for _ in range(30)],
        {"rows": [list(range(50)) for _ in range(300)], "meta": {"count": 300, "note": "ünïcode ✓"}},
        [[], {}, [[]], {"a": {}}, "", 0, -1.5, True, False, None] * 300,
        {"deep": nested(40, "leaf"), "wide": list(range(5_000))},
    ],
    ids=["list-of-objects", "object-of-objects", "nested-lists", "rows", "empties-and-scalars", "deep-and-wide"],
)
def test_a_large_result_s_pages_join_into_its_exact_compact_json(value: Any) -> None:
    """However the text is made (pieces, slices of entries), the pages join into `json.dumps` of the result."""
    assert paged_text(value) == compact(value)


Step = tuple[str, int]
"""("encode", entries handed to the C encoder in one call) or ("yield", 0): the interpreter offered to the loop."""
YIELD: Step = ("yield", 0)


def entries(value: Any) -> int:
    """The entries in `value`, counted all the way down (what one encoder call has to walk)."""
    if isinstance(value, dict):
        return len(value) + sum(entries(child) for child in value.values())
    if isinstance(value, list):
        return len(value) + sum(entries(child) for child in value)
    return 0


def making_steps(monkeypatch: pytest.MonkeyPatch, value: Any) -> list[Step]:
    """How the result's JSON text is made for `get_run`: each encoder call (work done holding the interpreter) and
    each point where the worker thread making it lets the event loop run. Calls for a key or a scalar alone (no
    entries) are left out; the text made is checked to be exact."""
    steps: list[Step] = []
    encode = reports._encode

    def recorded_encode(part: Any) -> str:
        if entries(part):
            steps.append(("encode", entries(part)))
        return encode(part)

    with monkeypatch.context() as patch:
        patch.setattr(reports, "_encode", recorded_encode)
        patch.setattr(reports, "_let_the_loop_run", lambda: steps.append(YIELD))
        page = run_report(Run(id="r1", status="completed", result=value), max_chars=PAGE).result_page
    assert page is not None and page.offset == 0
    assert paged_text(value) == compact(value)
    return steps


def sliced(*sizes: int) -> list[Step]:
    """The steps of a wide list or object made in slices of `sizes` entries."""
    return [step for size in sizes for step in (("encode", size), YIELD)]


def test_a_wide_list_is_made_a_slice_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """4,001 numbers: encoder calls of SLICE_WEIGHT entries at most, each followed by a yield to the event loop."""
    assert making_steps(monkeypatch, list(range(2 * SLICE_WEIGHT + 1))) == sliced(SLICE_WEIGHT, SLICE_WEIGHT, 1)


def test_a_slice_counts_its_entries_own_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 rows of 50 numbers weigh 51 each: a slice ends with the row that brings it to SLICE_WEIGHT (the 40th),
    and a wide object's entries are sliced the same way."""
    rows = [list(range(50)) for _ in range(300)]
    per_slice = -(-SLICE_WEIGHT // 51)  # 39 rows weigh 1,989, 40 weigh 2,040
    full, rest = divmod(len(rows), per_slice)
    expected = sliced(*[per_slice * 51] * full, rest * 51)
    assert making_steps(monkeypatch, rows) == expected
    assert making_steps(monkeypatch, {f"row {i}": row for i, row in enumerate(rows)}) == expected
    objects = [{"i": i, "n": -i} for i in range(3_000)]  # weigh 3: 667 to a slice
    assert making_steps(monkeypatch, objects) == sliced(*[667 * 3] * 4, (3_000 - 4 * 667) * 3)
    mixed = [entry for i in range(2_000) for entry in (i, [i])]  # a number weighs 1, a list of one 2
    assert making_steps(monkeypatch, mixed) == sliced(667 * 3, 667 * 3, 666 * 3)


def test_an_entry_that_weighs_a_slice_is_made_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a wide list, a slice ends before an entry that weighs SLICE_WEIGHT alone, and that entry is made in
    slices of its own; in a wide object too."""
    heavy = list(range(2 * SLICE_WEIGHT + 1_000))
    own = sliced(SLICE_WEIGHT, SLICE_WEIGHT, 1_000)
    assert making_steps(monkeypatch, [1] * 300 + [heavy] + [2] * 300) == [*sliced(300), *own, YIELD, *sliced(300)]
    table = {f"k{i}": heavy if i == 300 else i for i in range(600)}
    assert making_steps(monkeypatch, table) == [*sliced(300), *own, YIELD, *sliced(299)]
    just_heavy = list(range(SLICE_WEIGHT - 1))  # weighs SLICE_WEIGHT exactly
    steps = making_steps(monkeypatch, [*range(300), just_heavy, *range(300)])
    assert steps == [*sliced(300), *sliced(SLICE_WEIGHT - 1), YIELD, *sliced(300)]


def test_heavy_entries_are_taken_apart_down_to_split_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heavy entries inside heavy entries are made in slices level after level, until SPLIT_DEPTH levels down, where
    what is left goes whole: here the wide list at the bottom is one encoder call, the largest of all."""
    bottom = list(range(3_000))
    value: Any = bottom
    for _ in range(SPLIT_DEPTH):
        value = [value, *[0] * SLICE_WEIGHT]
    calls = [size for kind, size in making_steps(monkeypatch, value) if kind == "encode"]
    assert max(calls) == len(bottom) and calls.count(len(bottom)) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["text"] * LARGE_ENTRIES, [("encode", LARGE_ENTRIES)]),
        (["text"] * (LARGE_ENTRIES + 1), sliced(LARGE_ENTRIES + 1)),
        (
            {"meta": {"count": 2, "tags": ["a", "b"]}, "items": list(range(3_000))},
            [("encode", 4), *sliced(2_000, 1_000)],
        ),
        ({"items": list(range(SLICE_WEIGHT // 10 + 1_000))}, sliced(SLICE_WEIGHT // 10 + 1_000)),
        ({1: list(range(3_000))}, [("encode", 3_001)]),
    ],
    ids=["small", "large", "a-few-entries-around-a-wide-one", "one-entry", "keys-not-text"],
)
def test_what_is_made_in_one_call(monkeypatch: pytest.MonkeyPatch, value: Any, expected: list[Step]) -> None:
    """A result that is not large is one encoder call; a large one is opened where it has a few entries, each small
    part one call and each wide one in slices. An object whose keys are not text (only built in process) is made
    whole, as `json.dumps` would."""
    assert making_steps(monkeypatch, value) == expected


@pytest.mark.parametrize("length", [SLICE_WEIGHT // 10, SLICE_WEIGHT // 10 + 1])
def test_a_large_value_of_a_few_entries_is_opened(monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    """A large list of SLICE_WEIGHT / 10 lists of ten (large by what they hold): each small list one encoder call,
    no yield; one entry more and the list is wide: slices of lists weighing 11 each (182 to a slice)."""
    value = [list(range(10)) for _ in range(length)]
    per_slice = -(-SLICE_WEIGHT // 11)
    expected = (
        [("encode", 10)] * length if length <= SLICE_WEIGHT // 10 else sliced(per_slice * 11, (length - per_slice) * 11)
    )
    assert making_steps(monkeypatch, value) == expected


@pytest.mark.parametrize("levels", [SPLIT_DEPTH - 1, SPLIT_DEPTH])
def test_a_large_value_is_taken_apart_near_the_top_only(monkeypatch: pytest.MonkeyPatch, levels: int) -> None:
    """A wide list fewer than SPLIT_DEPTH levels down is made in slices; SPLIT_DEPTH levels down it goes whole."""
    value: Any = list(range(3_000))
    for _ in range(levels - 1):
        value = [value]
    expected = sliced(2_000, 1_000) if levels < SPLIT_DEPTH else [("encode", 3_000)]
    assert making_steps(monkeypatch, {"data": value}) == expected


def test_a_page_of_a_large_result_is_cut_without_the_whole_text() -> None:
    """The page is kept of the pieces as they are made: making it never holds the whole JSON text (or a copy of it),
    only a fraction of it, however far into the result the page is."""
    value = {"items": [{"i": i, "name": f"order {i}"} for i in range(50_000)]}
    total = len(compact(value))
    for offset in (0, total // 2, total - 10):
        tracemalloc.start()
        try:
            page = run_report(Run(id="r1", status="completed", result=value), max_chars=PAGE, offset=offset)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert page.result_page is not None and page.result_page.total_chars == total
        assert page.result_page.text == compact(value)[offset : offset + PAGE]
        assert peak < total / 2, (peak, total)


def test_a_result_deeper_than_the_encoder_s_recursion_is_still_exact_json() -> None:
    """A result nested 3,000 levels deep (past the C encoder's recursion) comes as its exact JSON text."""
    depth = 3_000
    lists: Any = [[1, "x"]]
    for _ in range(depth):
        lists = [lists, {"k": []}]
    assert paged_text(lists) == "[" * depth + '[[1,"x"]]' + ',{"k":[]}]' * depth
    objects: Any = {"end": True}
    expected = '{"end":true}'
    for level in range(depth):
        objects = {f"l{level}": objects, "n": level}
        expected = f'{{"l{level}":{expected},"n":{level}}}'
    assert paged_text(objects) == expected


@pytest.mark.parametrize(
    ("value", "large"),
    [
        (list(range(LARGE_ENTRIES)), False),
        (list(range(LARGE_ENTRIES + 1)), True),
        ({str(i): i for i in range(LARGE_ENTRIES + 1)}, True),
        ("x" * LARGE_CHARS, False),
        ("x" * (LARGE_CHARS + 1), True),
        (["x" * (LARGE_CHARS + 1)], True),
        ([[i] for i in range(LARGE_ENTRIES // 2 + 1)], True),
        ([[i] for i in range(LARGE_ENTRIES // 2 - 1)], False),
        (nested(2 * SPLIT_DEPTH - 1, 1), False),
        (nested(2 * SPLIT_DEPTH, 1), True),
        (nested(12, 1), True),
        (42, False),
        (None, False),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v),
)
def test_what_counts_as_large(value: Any, large: bool) -> None:
    """More than LARGE_ENTRIES entries (counted a few levels down), a text over LARGE_CHARS, or deeper than it looks."""
    assert is_large(value) is large


def releasing_steps(monkeypatch: pytest.MonkeyPatch, value: Any) -> list[int]:
    """`release(value)`, and the entries left in `value` each time it lets the event loop run."""
    left: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(reports, "_let_the_loop_run", lambda: left.append(entries(value)))
        release(value)
    return left


def test_release_empties_a_result_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """After `release`, the result and the containers in it are empty, however large, and it was freed RELEASE_SLICE
    entries at a time (counting their own entries), from the end of a list or an object; the last few entries
    (SLICE_WEIGHT / 10 or fewer) one at a time."""
    numbers = list(range(2 * RELEASE_SLICE + 7))
    assert releasing_steps(monkeypatch, numbers) == [RELEASE_SLICE + 7, *range(7, -1, -1)] and numbers == []
    pairs = {str(i): [i] for i in range(RELEASE_SLICE + 3)}  # each weighs 2
    assert releasing_steps(monkeypatch, pairs) == [RELEASE_SLICE + 6, 6, 4, 2, 0] and pairs == {}
    mixed: list[Any] = [[1, 2], {"a": 1}] * (RELEASE_SLICE + 1)  # weighing 3 and 2: 2,000 entries a slice
    assert releasing_steps(monkeypatch, mixed) == [5 * (RELEASE_SLICE + 1) - 5 * 1_000 * i for i in range(1, 6)] + [
        3,
        0,
    ]
    release("text")
    release(None)


def test_release_empties_heavy_and_large_entries_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list or object of a few entries is freed an entry at a time, and an entry that is large (`is_large`, here
    a few levels of one entry each around a wide list, or a long list) is emptied in slices of its own before it is
    freed; in a wide list, so is an entry that weighs a slice alone."""
    count = LARGE_ENTRIES + 500
    rows = [[i] for i in range(count)]  # each weighs 2: 3,000 together, one slice
    value: Any = {"data": {"rows": rows}, "meta": {"count": 2}}
    assert releasing_steps(monkeypatch, value) == [2 + 2 * count, 2, 1, 0] and rows == []  # meta goes first
    heavy = list(range(2 * RELEASE_SLICE))
    value = {"heavy": heavy, "after": 1}
    assert releasing_steps(monkeypatch, value) == [2 * RELEASE_SLICE + 1, RELEASE_SLICE + 1, 1, 0] and heavy == []
    just_heavy = list(range(RELEASE_SLICE - 1))  # weighs RELEASE_SLICE exactly
    wide: list[Any] = [*range(300), just_heavy, *range(300)]
    steps = releasing_steps(monkeypatch, wide)
    assert steps == [300 + RELEASE_SLICE, 301, 0] and just_heavy == []
    lighter = list(range(RELEASE_SLICE // 2))  # large, but lighter than a slice: freed with the others in it
    assert releasing_steps(monkeypatch, [*range(300), lighter]) == [0] and lighter == list(range(RELEASE_SLICE // 2))


@pytest.mark.parametrize("length", [SLICE_WEIGHT // 10, SLICE_WEIGHT // 10 + 1])
def test_release_frees_a_few_entries_one_at_a_time(monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    """SLICE_WEIGHT / 10 entries or fewer: one at a time (each may be large); one more: a slice."""
    steps = releasing_steps(monkeypatch, list(range(length)))
    assert steps == (list(range(length - 1, -1, -1)) if length <= SLICE_WEIGHT // 10 else [0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii", "plain ascii"),
        ("ünïcode ✓ 😀", "ünïcode ✓ 😀"),
        ("half an emoji \ud83d", f"half an emoji {REPLACEMENT}"),
        ("\udc00 low first", f"{REPLACEMENT} low first"),
        ("a\ud800b\udfffc", f"a{REPLACEMENT}b{REPLACEMENT}c"),
        ("", ""),
    ],
)
def test_text_is_made_encodable(text: str, expected: str) -> None:
    """Every lone surrogate becomes U+FFFD; whole characters (pairs included) stay as they are."""
    assert has_surrogates(text) is (expected != text)
    made = encodable(text)
    assert made == expected
    made.encode("utf-8")
    if expected == text:
        assert made is text, "text without surrogates is passed on as it is"
    assert REPLACEMENT == "\ufffd"
