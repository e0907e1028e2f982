"""What a subject on the bus looks like: a pseudonym, ``psn-<key id>-<40 hex>``.

Only the shape lives here, so the schemas can refuse a BSN in the subject without
knowing how pseudonyms are made (``hub.identity.pseudonym``).
"""

from __future__ import annotations

import re

PSEUDONYM_PATTERN = re.compile(r"^psn-[a-z0-9]{1,8}-[0-9a-f]{40}$")


def is_pseudonym(value: str) -> bool:
    return PSEUDONYM_PATTERN.fullmatch(value) is not None
