"""Consents, legal titles and conflict-of-duties decisions (flow H).

These events change what the sharing policy allows for the next message; they are
never forwarded themselves. A consent travels as a FHIR R4 ``Consent`` resource.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from hub.core import topics
from hub.schemas.base import CanonicalEvent, Payload
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.common import Contact
from hub.schemas.partners import PartnerId
from hub.schemas.plausibility import fact, may_lie_ahead

M, J, C = DataCategory.MEDICAL, DataCategory.JUSTICE, DataCategory.CONTACT


class ConsentEvent(CanonicalEvent):
    topic: ClassVar[topics.TopicSpec] = topics.CONSENT


class ConsentRecorded(ConsentEvent):
    """TOESTEMMING: a consent or objection, as a FHIR R4 Consent (Mitz conventions)."""

    name: ClassVar[str] = "consent.recorded"
    consent: dict[str, Any] = categorised(
        M, description="FHIR R4 Consent resource (resourceType Consent, with an id)."
    )

    @field_validator("consent")
    @classmethod
    def _is_a_fhir_consent(cls, value: dict[str, Any]) -> dict[str, Any]:
        from hub.schemas.fhir import parse_consent

        parse_consent(value)
        return value


class ConsentWithdrawn(ConsentEvent):
    """Withdrawal of a recorded consent; it takes effect at once."""

    name: ClassVar[str] = "consent.withdrawn"
    consent_id: str = categorised(M, description="Id of the withdrawn Consent.", min_length=1)
    withdrawn_at: dt.datetime = fact(M, description="Moment of withdrawal.")


class TitleKind(StrEnum):
    ZORGMACHTIGING = "zorgmachtiging"
    STRAFRECHTELIJKE_VOORWAARDE = "strafrechtelijke-voorwaarde"


class TitleIssuer(StrEnum):
    RECHTER = "rechter"
    OM = "om"


class LegalTitleRecorded(ConsentEvent):
    """TITEL: a zorgmachtiging or a criminal-law condition with its validity period."""

    name: ClassVar[str] = "legal.title-recorded"
    title_id: str = categorised(J, description="Reference of the decision.", min_length=1)
    kind: TitleKind = categorised(J, description="Zorgmachtiging or strafrechtelijke voorwaarde.")
    issued_by: TitleIssuer = categorised(J, description="Judge or Public Prosecution (OM).")
    includes_levensloopaanpak: bool = categorised(
        J, description="The Levensloopaanpak is part of the compulsory care or the condition."
    )
    valid_from: dt.date = may_lie_ahead(
        J, description="First day of validity; a title may be recorded before it applies."
    )
    valid_until: dt.date = may_lie_ahead(J, description="Last day of validity.")

    @model_validator(mode="after")
    def _period_is_ordered(self) -> LegalTitleRecorded:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until lies before valid_from")
        if self.kind is TitleKind.ZORGMACHTIGING and self.issued_by is not TitleIssuer.RECHTER:
            raise ValueError("a zorgmachtiging is issued by a judge (rechter)")
        return self


class ConflictOfDutiesDecided(ConsentEvent):
    """DOORBREKING: a named professional breaks confidentiality to prevent serious harm."""

    name: ClassVar[str] = "legal.conflict-of-duties"
    decision_id: str = categorised(J, description="Reference of the decision.", min_length=1)
    decided_by: Contact = categorised(C, description="The professional who decided.")
    recipient: PartnerId = categorised(J, description="The one recipient it applies to.")
    reason: str = categorised(M, description="Why sharing prevents serious harm.", min_length=1)
    decided_at: dt.datetime = fact(J, description="When the decision was taken.")
    valid_until: dt.datetime = may_lie_ahead(J, description="When the decision expires.")


class LegalTitle(Payload):
    """A recorded title as the policy reads it; outside its period it counts as absent."""

    title_id: str
    kind: TitleKind
    includes_levensloopaanpak: bool
    valid_from: dt.date
    valid_until: dt.date


class ConflictDecision(Payload):
    """A recorded conflict-of-duties decision as the policy reads it."""

    decision_id: str
    decided_by: str = Field(description="The named professional.")
    recipient: PartnerId
    decided_at: dt.datetime
    valid_until: dt.datetime
