"""Secrets kept out of what the server says: which secrets are in play (the configured ones and the key of the
caller being served) and text and JSON with each one masked, keys included."""

from __future__ import annotations

from typing import Any

from wave_mcp.caller import caller_key
from wave_mcp.redact import MASK, Secrets, redact_json, redact_text


def test_empty_configured_secrets_are_dropped() -> None:
    """An unset token or key is no secret: masking '' would mask between every character."""
    assert Secrets(["", "key-1", ""]).in_play() == ["key-1"]
    assert Secrets().text("plain text") == "plain text"


def test_the_caller_s_key_is_in_play_only_while_it_is_served() -> None:
    """Inside a caller's request its key is masked too, after the configured ones; outside it is not."""
    secrets = Secrets(["server-key"])
    with caller_key("caller-key"):
        assert secrets.in_play() == ["server-key", "caller-key"]
        assert secrets.text("server-key caller-key") == f"{MASK} {MASK}"
    assert secrets.in_play() == ["server-key"]
    assert secrets.text("caller-key") == "caller-key"
    with caller_key(None):
        assert secrets.in_play() == ["server-key"]


def test_every_occurrence_of_every_secret_is_masked_and_empty_ones_are_ignored() -> None:
    """Each secret, wherever and however often it occurs; an empty secret changes nothing."""
    assert redact_text("a-s1-b-s1-s2", ["", "s1", "s2"]) == f"a-{MASK}-b-{MASK}-{MASK}"
    assert redact_text("nothing here", ["s1"]) == "nothing here"
    assert redact_text("abc", [""]) == "abc"


def test_json_is_copied_with_secrets_masked_in_strings_and_keys() -> None:
    """Keys and strings at any depth are masked; numbers, booleans and null are kept; tuples become lists."""
    value: dict[str, Any] = {"s1": {"list": ["x s1 y", 3, None, True, ("s1",)]}, "n": 1.5, "ok": "fine"}
    masked = redact_json(value, ["s1"])
    assert masked == {MASK: {"list": [f"x {MASK} y", 3, None, True, [MASK]]}, "n": 1.5, "ok": "fine"}
    assert value["s1"]["list"][0] == "x s1 y"


def test_json_keeps_the_order_of_lists_and_keys() -> None:
    """The copy has the same order as the original."""
    value = {"b": [1, [2, 3], {"c": 4}], "a": [5, 6]}
    masked = redact_json(value, ["zz"])
    assert masked == value and list(masked) == ["b", "a"]
    assert masked["b"] is not value["b"]


def test_scalars_and_strings_at_the_top_are_handled() -> None:
    """A bare string is masked; a bare number is returned as it is; empty containers stay empty."""
    assert redact_json("s1!", ["s1"]) == f"{MASK}!"
    assert redact_json(7, ["s1"]) == 7
    assert redact_json({}, ["s1"]) == {} and redact_json([], ["s1"]) == []
    assert redact_json((), ["s1"]) == []


def test_json_non_string_keys_are_masked_as_text() -> None:
    """A key that is not a string is compared as its text."""
    assert redact_json({12345: "v"}, ["234"]) == {f"1{MASK}5": "v"}


def test_secrets_json_uses_the_secrets_in_play() -> None:
    """`Secrets.json` masks the configured secrets and the caller's key."""
    secrets = Secrets(["s1"])
    with caller_key("c1"):
        assert secrets.json({"a": "s1 c1"}) == {"a": f"{MASK} {MASK}"}


def test_a_very_deep_value_is_masked_without_recursion() -> None:
    """Ten thousand levels are walked without exhausting the stack."""
    value: list[object] = ["s1"]
    for _ in range(10_000):
        value = [value]
    masked = redact_json(value, ["s1"])
    for _ in range(10_000):
        masked = masked[0]
    assert masked == [MASK]
