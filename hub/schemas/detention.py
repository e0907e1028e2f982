"""Detention events from DJI (Injus) and PI backoffices: flows A, D and E."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import ClassVar

from pydantic import model_validator

from hub.core import topics
from hub.schemas.base import CanonicalEvent
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.common import Facility
from hub.schemas.plausibility import fact, may_lie_ahead

GM_CODE = r"^GM\d{4}$"
J, ID = DataCategory.JUSTICE, DataCategory.IDENTITY


class DetentionEvent(CanonicalEvent):
    """What every detention event carries. The BSN is not here: it became the subject."""

    topic: ClassVar[topics.TopicSpec] = topics.DETENTION

    source_event_id: str = categorised(
        J, description="Injus eventId.", min_length=1, max_length=100
    )
    skn: str | None = categorised(
        ID, description="Strafrechtketennummer.", default=None, max_length=20
    )
    person_name: str | None = categorised(
        ID, description="Name as Injus gives it.", default=None, max_length=200
    )
    birth_date: dt.date | None = fact(ID, description="Date of birth.", default=None)
    municipality: str = categorised(
        J, description="GM code of the municipality of origin.", pattern=GM_CODE
    )
    facility: Facility = categorised(J, description="The PI holding the person.")
    detention_title: str | None = categorised(
        J, description="Legal title of the detention.", default=None, max_length=100
    )
    expected_end_date: dt.date | None = may_lie_ahead(
        J, description="Expected end of the detention: a forecast, so it lies ahead.", default=None
    )


class DetentionStarted(DetentionEvent):
    """Injus START: the person entered a PI (flow A)."""

    name: ClassVar[str] = "detention.started"
    start_date: dt.date = fact(J, description="Date of entry.")

    def content_digest(self) -> str:
        """A fingerprint of what this START says, its Injus event id aside: two STARTs of
        one stay with the same fingerprint are one notice sent twice. The hub keeps the
        fingerprint, not a second copy of the content, to tell a repeat from a correction.
        Only the declared fields count: one a newer hub added is kept, never disclosed, so
        a START that differs only there is no correction to anyone this hub tells."""
        declared = set(type(self).model_fields) - {"source_event_id"}
        said = self.model_dump(mode="json", include=declared)
        text = json.dumps(said, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DetentionTransferred(DetentionEvent):
    """Injus OVERPLAATSING: moved from one PI to another (flow D). ``facility`` is the new PI."""

    name: ClassVar[str] = "detention.transferred"
    previous_facility: Facility = categorised(J, description="The PI the person left.")
    transfer_date: dt.date = fact(J, description="Date of the transfer.")

    @model_validator(mode="after")
    def _two_different_facilities(self) -> DetentionTransferred:
        if self.previous_facility.code == self.facility.code:
            raise ValueError("previous_facility and facility are the same PI")
        return self


class DetentionLeave(DetentionEvent):
    """Injus VERLOF: temporary leave from the PI."""

    name: ClassVar[str] = "detention.leave"
    leave_start: dt.date = fact(J, description="First day of leave.")
    leave_end: dt.date | None = may_lie_ahead(
        J, description="Last day of leave: the planned return, ahead while on leave.", default=None
    )


class DetentionEnded(DetentionEvent):
    """Injus EINDE: release (flow E). Detention data is erased six months after ``end_date``."""

    name: ClassVar[str] = "detention.ended"
    end_date: dt.date = fact(J, description="Date of release.")
    release_municipality: str = categorised(
        J, description="GM code of the municipality of release.", pattern=GM_CODE
    )
