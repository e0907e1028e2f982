"""The CloudEvents 1.0 envelope every record on the bus carries (NL GOV profile).

The subject is always a pseudonym. ``correlationid`` ties every record of one flow
together (from the first partner message to the last delivery); ``causationid`` names
the record that caused this one; ``datacategories`` lists the categories in the data,
so a consumer or an auditor can see what a record holds without reading it;
``origintime`` is when the flow's first partner message reached the hub, so every stage
downstream can measure the flow's time end to end.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.core.subjects import is_pseudonym
from hub.schemas.base import CanonicalEvent
from hub.schemas.categories import DataCategory

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200, description="URI of the producer.")
    type: str = Field(min_length=1)
    subject: str = Field(description="The subject pseudonym; never a BSN.")
    time: dt.datetime
    dataschema: str = Field(min_length=1)
    datacontenttype: str = CONTENT_TYPE
    correlationid: str = Field(min_length=1, max_length=200)
    causationid: str | None = Field(None, max_length=200)
    datacategories: frozenset[DataCategory] = frozenset()
    origintime: dt.datetime | None = Field(
        None, description="When the flow's first partner message reached the hub."
    )

    @field_validator("subject")
    @classmethod
    def _subject_is_a_pseudonym(cls, value: str) -> str:
        if not is_pseudonym(value):
            raise ValueError("subject must be a pseudonym (psn-<key id>-<40 hex>)")
        return value

    @field_validator("time", "origintime")
    @classmethod
    def _time_is_aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("time needs a time zone")
        return value

    @property
    def started(self) -> dt.datetime:
        """When this record's flow began at the hub's edge."""
        return self.origintime or self.time

    @classmethod
    def for_event(
        cls,
        event: CanonicalEvent,
        *,
        subject: str,
        source: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        time: dt.datetime | None = None,
        origin_time: dt.datetime | None = None,
    ) -> Envelope:
        """A new envelope for ``event``; a new flow starts a new correlation id."""
        new_id = event_id or str(uuid.uuid4())
        return cls(
            id=new_id,
            source=source,
            type=event.event_type(),
            subject=subject,
            time=time or dt.datetime.now(dt.UTC),
            dataschema=event.dataschema(),
            correlationid=correlation_id or new_id,
            causationid=causation_id,
            datacategories=event.categories_present(),
            origintime=origin_time,
        )


def partner_source(partner_id: str) -> str:
    """The CloudEvents ``source`` of a record produced for a partner's edge."""
    return f"urn:ketenhub:partner:{partner_id}"


HUB_SOURCE = "urn:ketenhub:hub"
