"""The bounded JSON reader (``hub.core.json_limits``): where each limit lies, and that
counting the nesting is linear whatever the text."""

from __future__ import annotations

import time

import pytest

from hub.core.errors import ContractError
from hub.core.json_limits import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NUMBER_CHARS,
    MAX_STRING_CHARS,
    depth,
    read_json,
)


def _refusal(body: bytes | str) -> str:
    with pytest.raises(ContractError) as refused:
        read_json(body, field="data")
    assert refused.value.field == "data"
    return refused.value.message


def test_nesting_up_to_the_limit_is_read_and_one_more_refused() -> None:
    assert read_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert "nested deeper" in _refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert "nested deeper" in _refusal('{"a":' * 100_000)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"a": "' + "[{" * 1000 + '", "b": "\\"[[[[", "c": [1]}'
    assert depth(text) == 2
    assert read_json(text)["c"] == [1]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("1" * (MAX_NUMBER_CHARS + 1), "characters"),
        ("1" * 5000, "characters"),
        ("-1e999", "out of range"),
        ("1e400", "out of range"),
        ("NaN", "not a JSON number"),
        ("[Infinity]", "not a JSON number"),
        ('"' + "x" * (MAX_STRING_CHARS + 1) + '"', "string"),
        ('{"' + "k" * (MAX_STRING_CHARS + 1) + '": 1}', "string"),
        ("[" + "0," * MAX_ITEMS + "0]", "array"),
        ("{" + ",".join(f'"{n}":0' for n in range(MAX_ITEMS + 1)) + "}", "object"),
        ('{"bsn": "1", "bsn": "2"}', "key twice"),
        ("{", "not JSON"),
    ],
)
def test_values_beyond_the_limits_are_refused(body: str, why: str) -> None:
    assert why in _refusal(body)


def test_text_that_is_not_utf8_is_refused() -> None:
    assert "UTF-8" in _refusal(b'{"a": "\xff"}')
    assert "UTF-8" in _refusal('{"a": 1}'.encode("utf-16"))


def test_values_within_the_limits_are_read_as_the_standard_parser_does() -> None:
    body = b'{"n": 12345678901234567890, "x": -1.5e300, "s": "\\u00e9", "l": [true, null]}'
    assert read_json(body) == {
        "n": 12345678901234567890,
        "x": -1.5e300,
        "s": "é",
        "l": [True, None],
    }


@pytest.mark.parametrize(
    "text",
    ["[]" * 500_000, 'a"\\"' * 250_000, '"' + "\\" * 1_000_000, "[" * 1_000_000],
    ids=["pairs", "escaped quotes", "unterminated", "open brackets"],
)
def test_counting_a_megabyte_is_quick_whatever_it_holds(text: str) -> None:
    started = time.perf_counter()
    depth(text)
    assert time.perf_counter() - started < 1.0
