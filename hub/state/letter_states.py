"""Where a dead letter stands; apart from ``hub.state.dead_letters`` so that a command
that only names a state need not load the database layer."""

from __future__ import annotations

from enum import StrEnum


class LetterState(StrEnum):
    OPEN = "open"
    REPLAYED = "replayed"
    DENIED = "denied"
    """Replay re-ran the policy and today's consents or titles no longer permit it."""
    DISCARDED = "discarded"
    RESOLVED = "resolved"
    """A later re-send of the same delivery succeeded (a label offered again)."""
