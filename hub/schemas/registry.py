"""Every canonical event type, found by its CloudEvents ``type``."""

from __future__ import annotations

import functools
from typing import Any

from hub.core.errors import ContractError
from hub.core.topics import CONSENT as CONSENT_TOPIC
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
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.labels import LabelAcknowledged, LabelSet, LabelWithdrawn
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

EVENT_MODELS: tuple[type[CanonicalEvent], ...] = (
    DetentionStarted,
    DetentionTransferred,
    DetentionLeave,
    DetentionEnded,
    KedoLookupResult,
    ClientIncluded,
    ClientExcluded,
    ClientMoved,
    CaseDisputed,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitleRecorded,
    ConflictOfDutiesDecided,
    PoliceEncounter,
    ProbationSignal,
    CrisisContact,
    LabelSet,
    LabelWithdrawn,
    LabelAcknowledged,
    NotificationDelivery,
)

_BY_TYPE: dict[str, type[CanonicalEvent]] = {m.event_type(): m for m in EVENT_MODELS}


def model_for(event_type: str) -> type[CanonicalEvent]:
    """The model of a CloudEvents type; a ContractError names an unknown type or version."""
    try:
        return _BY_TYPE[event_type]
    except KeyError:
        base, _, version = event_type.rpartition(".v")
        known = sorted(t for t in _BY_TYPE if t.rpartition(".v")[0] == base)
        if known:
            raise ContractError(
                f"unknown schema version v{version} of {base}",
                field="type",
                detail=f"known: {', '.join(known)}",
            ) from None
        raise ContractError(f"unknown event type {event_type!r}", field="type") from None


def parse_payload(event_type: str, data: Any, prefix: str = "") -> CanonicalEvent:
    """Validate raw data as the payload of ``event_type``; errors name the field."""
    return ContractError.validate(model_for(event_type), data, prefix)


@functools.cache
def releasable_fields() -> frozenset[str]:
    """The medical fields of the events the router forwards: what a conflict-of-duties
    decision may name (the flow-H events themselves are never forwarded)."""
    return frozenset(
        name
        for model in EVENT_MODELS
        if model.topic is not CONSENT_TOPIC and model is not NotificationDelivery
        for name, category in model.field_categories().items()
        if category is DataCategory.MEDICAL
    )
