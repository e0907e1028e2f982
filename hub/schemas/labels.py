"""The Levensloopaanpak label at the partners who may meet the client in a crisis (B, C)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from hub.core import topics
from hub.schemas.base import CanonicalEvent
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.common import Contact
from hub.schemas.partners import PartnerId, ZvhId
from hub.schemas.plausibility import fact, may_lie_ahead

L, C = DataCategory.LABEL, DataCategory.CONTACT


class LabelState(StrEnum):
    SET = "set"
    PENDING = "pending"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"


class LabelEvent(CanonicalEvent):
    topic: ClassVar[topics.TopicSpec] = topics.LABEL
    partner: PartnerId = categorised(L, description="The partner holding the label.")


class LabelSet(LabelEvent):
    name: ClassVar[str] = "label.set"
    zvh: ZvhId = categorised(L, description="The ZVH that included the client.")
    valid_from: dt.date = fact(L, description="Start of the label: the date of inclusion.")
    valid_until: dt.date | None = may_lie_ahead(
        L, description="End of the label: a planned exclusion may lie ahead.", default=None
    )
    llc: Contact = categorised(C, description="The levensloopcoördinator.")
    handling_advice: str = categorised(L, description="Short advice.", max_length=500)


class LabelWithdrawn(LabelEvent):
    name: ClassVar[str] = "label.withdrawn"
    withdrawn_on: dt.date = may_lie_ahead(
        L, description="Date of withdrawal: the exclusion's date, which may lie ahead."
    )


class LabelAcknowledged(LabelEvent):
    name: ClassVar[str] = "label.acknowledged"
    state: LabelState = categorised(L, description="Where the label stands at the partner.")
    detail: str | None = categorised(
        L, description="Reason for failure.", default=None, max_length=500
    )
