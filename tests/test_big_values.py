"""Large, wide and deep results as the model reads them: the paged JSON text is exactly the compact JSON of the result,
however it is made (in pieces, in slices, or past the C encoder's recursion); what counts as large; freeing a result
a slice at a time; text made encodable.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from wave_mcp.limits import REPLACEMENT, encodable, has_surrogates
from wave_mcp.models import Run
from wave_mcp.reports import LARGE_CHARS, LARGE_ENTRIES, RELEASE_SLICE, is_large, release, run_report

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
        (nested(7, 1), False),
        (nested(12, 1), True),
        (42, False),
        (None, False),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v),
)
def test_what_counts_as_large(value: Any, large: bool) -> None:
    """More than LARGE_ENTRIES entries (counted a few levels down), a text over LARGE_CHARS, or deeper than it looks."""
    assert is_large(value) is large


def test_release_empties_a_result_in_slices() -> None:
    """After `release`, the result and the containers in it are empty, however large."""
    inner_list = list(range(RELEASE_SLICE * 2 + 7))
    inner_dict = {str(i): [i] for i in range(RELEASE_SLICE + 3)}
    value = {"list": inner_list, "dict": inner_dict, "small": [1, 2], "scalar": 3}
    release(value)
    assert value == {} and inner_list == [] and inner_dict == {}
    as_list: list[Any] = [[1, 2], {"a": 1}] * (RELEASE_SLICE + 1)
    first = as_list[0]
    release(as_list)
    assert as_list == [] and first == []
    release("text")
    release(None)


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
