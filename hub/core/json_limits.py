"""The one reader of JSON that comes from outside the hub (a partner's webhook, file or
answer): bounded, so what the hub cannot fully read is refused with a ContractError (a
4xx problem+json at an HTTP edge, a dead letter elsewhere) before it costs the stack or
the CPU.

The standard ``json.loads`` recurses once per nesting level, so 100,000 brackets raise
RecursionError (a 500); it reads ``1e999`` as infinity and ``NaN`` as a float no
contract means; it accepts a key given twice (keeping the last, where another reader
keeps the first). Here the nesting is counted on the text, iteratively, before any
parsing, and the rest is checked as the parser builds the value.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from hub.core.errors import ContractError

MAX_DEPTH = 64
"""Nested arrays and objects; the hub's deepest contract (a FHIR Consent inside a ZVH
event) needs about ten."""
MAX_NUMBER_CHARS = 40
"""Characters of one number: room for any 128-bit integer or double, far below the
4,300 digits at which Python refuses an integer anyway."""
MAX_STRING_CHARS = 65_536
"""Characters of one string or key: a long free-text note fits, a megabyte does not."""
MAX_ITEMS = 10_000
"""Elements of one array, members of one object."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\Z)', re.DOTALL)
"""A string literal, or an unterminated one to the end (so no text is scanned twice)."""
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings not
    counted; linear, and without recursion, however deep the text goes."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def read_json(body: bytes | str, *, field: str = "body") -> Any:
    """``body`` as JSON within the limits above; ContractError naming ``field`` otherwise."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise ContractError("the JSON is not UTF-8", field=field) from None
    if depth(text) > MAX_DEPTH:
        raise ContractError(f"the JSON is nested deeper than {MAX_DEPTH} levels", field=field)
    refuse = _Refusals(field)
    try:
        data = json.loads(
            text,
            parse_int=refuse.integer,
            parse_float=refuse.real,
            parse_constant=refuse.constant,
            object_pairs_hook=refuse.object,
        )
    except ValueError:
        raise ContractError("the body is not JSON", field=field) from None
    refuse.sizes(data)
    return data


class _Refusals:
    """The parser's hooks: each returns the value, or raises ContractError."""

    def __init__(self, field: str):
        self.field = field

    def _number(self, text: str) -> None:
        if len(text) > MAX_NUMBER_CHARS:
            raise ContractError(
                f"a number of more than {MAX_NUMBER_CHARS} characters", field=self.field
            )

    def integer(self, text: str) -> int:
        self._number(text)
        return int(text)

    def real(self, text: str) -> float:
        self._number(text)
        value = float(text)
        if not math.isfinite(value):
            raise ContractError(f"the number {text} is out of range", field=self.field)
        return value

    def constant(self, name: str) -> Any:
        raise ContractError(f"{name} is not a JSON number", field=self.field)

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len(pairs) > MAX_ITEMS:
            raise ContractError(f"an object of more than {MAX_ITEMS} members", field=self.field)
        made = dict(pairs)
        if len(made) != len(pairs):
            raise ContractError("an object gives one key twice", field=self.field)
        return made

    def sizes(self, data: Any) -> None:
        """Every string (keys included) and array within its limit; iterative, though
        the depth is already bounded."""
        stack = [data]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if len(value) > MAX_STRING_CHARS:
                    raise ContractError(
                        f"a string of more than {MAX_STRING_CHARS} characters", field=self.field
                    )
            elif isinstance(value, list):
                if len(value) > MAX_ITEMS:
                    raise ContractError(
                        f"an array of more than {MAX_ITEMS} elements", field=self.field
                    )
                stack.extend(value)
            elif isinstance(value, dict):
                stack.extend(value)
                stack.extend(value.values())
