"""The Dutch citizen service number (BSN) and its 11-check.

A BSN never travels on the bus; these checks let the edges reject a bad one early and
let the log scrubber recognise one that slipped into a message.
"""

from __future__ import annotations

import re

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
BSN_PATTERN = re.compile(r"(?<!\d)\d{9}(?!\d)")
WRITTEN_IN_GROUPS = re.compile(r"(?<![\d.\-])(?:\d[ .\-]?){8}\d(?![\d])")
"""Nine digits, each pair of them apart by at most one space, dot or dash, as people
write a BSN (``1234.56.782``, ``123 45 6782``)."""


def passes_eleven_check(digits: str) -> bool:
    """True for a 9-digit string whose weighted sum is a multiple of 11 (the elfproef)."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=True))
    return total % 11 == 0 and digits != "000000000"


def normalise_bsn(value: str) -> str:
    """Return the 9-digit form of a BSN (8-digit ones get their leading zero back).

    Raises ValueError with a reason, never echoing the value, when it is no valid BSN.
    """
    digits = value.strip()
    if len(digits) == 8 and digits.isdigit():
        digits = "0" + digits
    if not passes_eleven_check(digits):
        raise ValueError("not a valid BSN (9 digits passing the 11-check)")
    return digits


def scrub_bsns(text: str) -> str:
    """Replace every 9-digit run that passes the 11-check with ``[BSN]``."""
    return BSN_PATTERN.sub(
        lambda m: "[BSN]" if passes_eleven_check(m.group(0)) else m.group(0), text
    )


def holds_a_bsn(text: str) -> bool:
    """Whether ``text`` holds a BSN, bare or written in groups (free text a person
    typed: a note, not a log line)."""
    found = (re.sub(r"[ .\-]", "", m) for m in WRITTEN_IN_GROUPS.findall(text))
    return any(passes_eleven_check(digits) for digits in found)
