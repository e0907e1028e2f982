"""The Dutch citizen service number (BSN) and its 11-check.

A BSN never travels on the bus; these checks let the edges reject a bad one early and
let the log scrubber recognise one that slipped into a message.
"""

from __future__ import annotations

import re

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
BSN_PATTERN = re.compile(r"(?<!\d)\d{9}(?!\d)")


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
