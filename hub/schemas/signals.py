"""Signals on a label from the police, probation and crisis service (flow F)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from hub.core import topics
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import TeamRole
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.common import Contact
from hub.schemas.plausibility import fact

J, M, L, C = DataCategory.JUSTICE, DataCategory.MEDICAL, DataCategory.LABEL, DataCategory.CONTACT


class SignalEvent(CanonicalEvent):
    topic: ClassVar[topics.TopicSpec] = topics.SIGNAL
    occurred_at: dt.datetime = fact(J, description="When it happened.")


class PoliceEncounter(SignalEvent):
    """The police met the labelled person (a hit on the subscription)."""

    name: ClassVar[str] = "signal.police-encounter"
    subscription_id: str = categorised(L, description="The police subscription.", min_length=1)
    location: str = categorised(J, description="Municipality or place.", max_length=200)
    summary: str = categorised(J, description="What happened.", max_length=2000)
    officer: Contact | None = categorised(C, description="Who to call back.", default=None)


class ProbationSignalKind(StrEnum):
    VIOLATION = "violation"
    MISSED_APPOINTMENT = "missed-appointment"
    CONCERN = "concern"


class ProbationSignal(SignalEvent):
    """Reclassering's supervision signal from Iris."""

    name: ClassVar[str] = "signal.probation"
    kind: ProbationSignalKind = categorised(J, description="Kind of signal.")
    summary: str = categorised(J, description="What the supervisor saw.", max_length=2000)
    supervisor: Contact | None = categorised(C, description="The supervisor.", default=None)


class CrisisContact(SignalEvent):
    """A contact of the acute GGZ crisis service with the client."""

    name: ClassVar[str] = "signal.crisis-contact"
    police_involved: bool = categorised(J, description="Police were present.", default=False)
    assessment: str = categorised(
        M,
        description="Psychiatric assessment.",
        max_length=4000,
        relevant_roles=(TeamRole.LEVENSLOOPCOORDINATOR, TeamRole.ZORGAANBIEDER),
    )
    outcome: str = categorised(
        M,
        description="Outcome, e.g. admission.",
        max_length=500,
        relevant_roles=(
            TeamRole.LEVENSLOOPCOORDINATOR,
            TeamRole.ZORGAANBIEDER,
            TeamRole.PROCESREGISSEUR,
        ),
    )
    crisis_team: Contact = categorised(C, description="The crisis team.")
