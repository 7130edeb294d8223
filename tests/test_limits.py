"""The bounds on what is sent: ids (length, dots, control characters, encoding) and params (exact size and depth
limits, the compact JSON body, the refusals and the numbers they give)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wave_mcp.errors import InvalidInputError
from wave_mcp.limits import MAX_ID_LENGTH, MAX_PARAMS_BYTES, MAX_PARAMS_DEPTH, check_id, encode_params, too_deep


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep: {"a": {"a": ... {}}}."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def sized(size: int) -> dict[str, Any]:
    """Params whose compact JSON is exactly `size` bytes."""
    overhead = len(b'{"p":""}')
    params = {"p": "x" * (size - overhead)}
    assert len(json.dumps(params, separators=(",", ":"))) == size
    return params


# ---- ids ---------------------------------------------------------------------------------------------------------


def test_an_id_of_the_longest_length_passes_and_one_longer_is_refused_with_both_numbers() -> None:
    """MAX_ID_LENGTH characters pass; one more is refused, saying the length and the bound."""
    assert check_id("r" * MAX_ID_LENGTH, "run") == "r" * MAX_ID_LENGTH
    with pytest.raises(InvalidInputError) as refusal:
        check_id("r" * (MAX_ID_LENGTH + 1), "run")
    assert f"{MAX_ID_LENGTH + 1} characters" in str(refusal.value)
    assert f"at most {MAX_ID_LENGTH}" in str(refusal.value)
    assert "run id" in str(refusal.value)


@pytest.mark.parametrize("value", ["", " ", "\t "])
def test_an_empty_id_is_refused_naming_its_kind(value: str) -> None:
    """An empty or blank id is refused, naming which id."""
    with pytest.raises(InvalidInputError, match="The workflow id is empty"):
        check_id(value, "workflow")


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_are_refused(value: str) -> None:
    """'.' and '..' would move along the path: refused, quoting the id."""
    with pytest.raises(InvalidInputError, match=f"{value!r} is not a valid run id"):
        check_id(value, "run")


@pytest.mark.parametrize(
    "char",
    ["\x00", "\n", "\x7f", "\u200b", "\u2028", "\u2029", "\ud800"],
    ids=["nul", "newline", "del", "zero-width-space", "line-separator", "paragraph-separator", "surrogate"],
)
def test_ids_with_control_or_invisible_characters_are_refused(char: str) -> None:
    """Control, format, surrogate and separator characters are refused in an id."""
    with pytest.raises(InvalidInputError, match="The run id contains control characters"):
        check_id(f"run{char}1", "run")


@pytest.mark.parametrize(
    ("value", "segment"), [("a/b", "a%2Fb"), ("...", "..."), ("é 1", "%C3%A9%201"), ("a?b#c", "a%3Fb%23c")]
)
def test_ids_are_percent_encoded_as_one_segment(value: str, segment: str) -> None:
    """Slashes, spaces, query and fragment marks and non-ASCII letters are encoded; three dots are just a name."""
    assert check_id(value, "run") == segment


# ---- params ------------------------------------------------------------------------------------------------------


def test_the_body_is_compact_utf8_json() -> None:
    """No spaces after separators, non-ASCII as UTF-8 (not \\u escapes), the params as given."""
    body = encode_params({"name": "Zoë", "n": [1, 2], "ok": True})
    assert body == '{"name":"Zoë","n":[1,2],"ok":true}'.encode()


def test_empty_params_are_an_empty_object() -> None:
    """No params is the body `{}`."""
    assert encode_params({}) == b"{}"


def test_params_of_exactly_the_largest_size_are_sent_and_one_byte_more_is_refused() -> None:
    """MAX_PARAMS_BYTES bytes pass; one more is refused with both sizes, as the model reads them."""
    assert len(encode_params(sized(MAX_PARAMS_BYTES))) == MAX_PARAMS_BYTES
    with pytest.raises(InvalidInputError) as refusal:
        encode_params(sized(MAX_PARAMS_BYTES + 1))
    assert f"{MAX_PARAMS_BYTES + 1:,} bytes" in str(refusal.value)
    assert f"at most {MAX_PARAMS_BYTES:,} bytes" in str(refusal.value)


def test_the_size_counts_utf8_bytes_not_characters() -> None:
    """Two-byte characters count twice: half the bound in 'é's is just over it."""
    with pytest.raises(InvalidInputError, match="bytes as JSON"):
        encode_params({"p": "é" * (MAX_PARAMS_BYTES // 2)})


def test_params_exactly_as_deep_as_allowed_are_sent_and_one_level_more_is_refused() -> None:
    """MAX_PARAMS_DEPTH levels pass; one more is refused, naming the bound."""
    assert encode_params(nested(MAX_PARAMS_DEPTH)).startswith(b'{"a":{"a":')
    with pytest.raises(InvalidInputError) as refusal:
        encode_params(nested(MAX_PARAMS_DEPTH + 1))
    assert f"more than {MAX_PARAMS_DEPTH} levels" in str(refusal.value)


def test_depth_counts_lists_as_levels_too() -> None:
    """Lists nest like objects."""
    value: Any = []
    for _ in range(MAX_PARAMS_DEPTH):
        value = [value]
    with pytest.raises(InvalidInputError, match="nested more than"):
        encode_params({"a": value})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_refused_as_not_json(number: float) -> None:
    """Values JSON cannot carry are refused, saying what to pass instead."""
    with pytest.raises(InvalidInputError) as refusal:
        encode_params({"x": number})
    assert "cannot be sent as JSON" in str(refusal.value) and "no NaN or Infinity" in str(refusal.value)
    assert refusal.value.__cause__ is None


def test_a_value_that_is_not_json_is_refused_with_the_first_line_of_the_reason() -> None:
    """A Python object that JSON cannot encode is refused, quoting why on one line."""
    with pytest.raises(InvalidInputError) as refusal:
        encode_params({"x": object()})
    message = str(refusal.value)
    assert "cannot be sent as JSON (Object of type object is not JSON serializable)" in message
    assert "\n" not in message


def test_a_lone_surrogate_is_refused_not_sent() -> None:
    """A string JSON text cannot carry as UTF-8 is refused with a one-line reason."""
    with pytest.raises(InvalidInputError, match=r"cannot be sent as JSON \(.*surrogate"):
        encode_params({"x": "\ud800"})


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        (1, 0, False),
        ({}, 1, False),
        ({}, 0, True),
        ([[]], 2, False),
        ([[]], 1, True),
        ({"a": [1, {"b": {}}]}, 4, False),
        ({"a": [1, {"b": {}}]}, 3, True),
        ([1, "x", None, [2, [3]]], 3, False),
        ([[], [[]]], 2, True),
    ],
)
def test_too_deep_counts_the_deepest_branch(value: Any, limit: int, expected: bool) -> None:
    """Each list or object is a level; scalars are not; the deepest branch counts, wherever it is."""
    assert too_deep(value, limit) is expected


def test_the_reason_quoted_is_the_first_line_cut_to_120_characters() -> None:
    """A long or multi-line reason is quoted as its first line, at most 120 characters, so the message stays short."""
    long_name = type("L" * 200, (), {})
    with pytest.raises(InvalidInputError) as refusal:
        encode_params({"x": long_name()})
    reason = ("Object of type " + "L" * 200)[:120]
    assert f"cannot be sent as JSON ({reason}): pass plain JSON values" in str(refusal.value)
    two_lines = type("First\nSecond", (), {})
    with pytest.raises(InvalidInputError) as refusal:
        encode_params({"x": two_lines()})
    assert "cannot be sent as JSON (Object of type First): pass" in str(refusal.value)
