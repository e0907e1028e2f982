"""The canonical events, as the connector SDK offers them: what an inbound connector
emits, what an outbound one accepts, what a look-up answers. These are the contracts
between the partners and the hub (JSON Schemas in ``docs/schemas/``; ``hub schemas
check`` keeps them additive within a major version). A connector imports them from
here, never from ``hub.schemas``, whose layout may change."""

from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    CaseDisputed,
    ClientExcluded,
    ClientIncluded,
    ClientMoved,
    KedoLookupResult,
)
from hub.schemas.categories import DataCategory
from hub.schemas.consent import (
    ConflictOfDutiesDecided,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitleRecorded,
)
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.labels import LabelAcknowledged, LabelSet, LabelWithdrawn
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

__all__ = [
    "CanonicalEvent",
    "CaseDisputed",
    "ClientExcluded",
    "ClientIncluded",
    "ClientMoved",
    "ConflictOfDutiesDecided",
    "ConsentRecorded",
    "ConsentWithdrawn",
    "CrisisContact",
    "DataCategory",
    "DetentionEnded",
    "DetentionLeave",
    "DetentionStarted",
    "DetentionTransferred",
    "KedoLookupResult",
    "LabelAcknowledged",
    "LabelSet",
    "LabelWithdrawn",
    "LegalTitleRecorded",
    "PoliceEncounter",
    "ProbationSignal",
]
