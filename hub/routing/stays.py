"""A detention START against the stay on record: a start, a correction, or a repeat.

A person is held in one place at a time, from START to EINDE, so a START for a subject
whose stay is still open, or that began before its recorded release, is about that
stay (:mod:`hub.state.detentions` says how a stay is named). Partners get one start
notice per stay; after that a START that says something else is a correction, and one
that says the same is a repeat that sends nothing:

================================================  ===================  ================
stay on record                                    the START            classification
================================================  ===================  ================
none                                              any                  START, new stay
released on or before the START's start date      any                  START, new stay
the same stay, no START notified yet              any                  START
the same stay                                     same content         DUPLICATE_START
the same stay                                     other content, or    CORRECTION
                                                  the earlier unknown
================================================  ===================  ================

Pure, so the router's single and batch paths (and a dead letter the router gets back
from replay) decide alike, and the table is tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.schemas.detention import DetentionStarted
from hub.state.audit import AuditOutcome
from hub.state.detentions import Stay


class StartKind(StrEnum):
    """What a START is for its stay; the value is the audit outcome that says so."""

    START = AuditOutcome.START
    CORRECTION = AuditOutcome.CORRECTION
    DUPLICATE = AuditOutcome.DUPLICATE_START


@dataclass(frozen=True)
class StartClassification:
    """What a START is, the stay it belongs to, and the START it repeats or corrects."""

    kind: StartKind
    stay_key: str
    earlier_event_id: str | None = None
    """The START this one corrects or repeats."""

    @property
    def sends(self) -> bool:
        return self.kind is not StartKind.DUPLICATE

    def describe(self) -> str:
        """For the audit: the stay key and event ids, never what the START said."""
        if self.kind is StartKind.START:
            return f"stay {self.stay_key}: start"
        if self.kind is StartKind.CORRECTION:
            return f"stay {self.stay_key}: correction of event {self.earlier_event_id}"
        return f"stay {self.stay_key}: repeat of event {self.earlier_event_id}, nothing sent"


def classify_start(
    stay: Stay | None, event: DetentionStarted, event_id: str
) -> StartClassification:
    """Classify the START ``event`` (event id ``event_id``) against ``stay``, the
    subject's stay as it stood before it."""
    if stay is None or (stay.released_on is not None and stay.released_on <= event.start_date):
        return StartClassification(StartKind.START, event_id)
    if stay.start_event_id is None:
        return StartClassification(StartKind.START, stay.key)
    kind = (
        StartKind.DUPLICATE if stay.start_digest == event.content_digest() else StartKind.CORRECTION
    )
    return StartClassification(kind, stay.key, stay.start_event_id)
