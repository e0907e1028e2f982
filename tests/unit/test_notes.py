"""An operator's note never holds a BSN, bare or written as people write one; the table
is hand-written (valid BSNs from the 11-check by hand: 123456782, 111222333)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from hub.core.notes import OperatorNote

NOTE = TypeAdapter(OperatorNote)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("client 123456782 rang", True),
        ("client 1234.56.782 moved", True),
        ("client 123 45 6782 asked", True),
        ("client 123-456-782", True),
        ("111.222.333 is back", True),
        ("client 1234.56.783 (not a BSN)", False),
        ("LLC maintenance until 2026-12-02 16:00", False),
        ("call 06-12345678", False),
        ("ticket 12345678", False),
        ("version 1.2.3", False),
    ],
)
def test_a_note_with_a_bsn_is_refused_in_any_notation(text: str, refused: bool) -> None:
    if refused:
        with pytest.raises(ValidationError, match="must not hold a BSN"):
            NOTE.validate_python(text)
    else:
        assert NOTE.validate_python(text) == text
