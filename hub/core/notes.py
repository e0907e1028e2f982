"""An operator's note: why a connector is paused, why a dead letter is given up. It is
free text kept with the action and shown to other accounts, so it is held to what the
hub shows anywhere: a few words, and never a BSN (a name cannot be told from other
words; the console and the API say a note is seen by every operator)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from hub.core.bsn import holds_a_bsn

MAX_NOTE = 200


def _no_bsn(text: str) -> str:
    if holds_a_bsn(text):
        raise ValueError(
            "a note must not hold a BSN (9 digits passing the 11-check, also written in groups)"
        )
    return text


OperatorNote = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_NOTE),
    AfterValidator(_no_bsn),
]
"""A few words (3 to 200 characters, spaces around them dropped), without a BSN."""
