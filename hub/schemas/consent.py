"""Consents, legal titles and conflict-of-duties decisions (flow H).

These events change what the sharing policy allows for the next message; they are
never forwarded themselves. A consent travels as a FHIR R4 ``Consent`` resource.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, Field, field_validator, model_validator

from hub.core import topics
from hub.core.errors import ContractError
from hub.schemas.base import CanonicalEvent, Payload
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.common import Contact
from hub.schemas.consent_profile import ProfileError, bound_to, read_consent
from hub.schemas.partners import PartnerId, PartnerKind, partner_kind
from hub.schemas.plausibility import fact, may_lie_ahead

M, J, C = DataCategory.MEDICAL, DataCategory.JUSTICE, DataCategory.CONTACT
NOT_RECIPIENTS = frozenset({PartnerKind.DJI, PartnerKind.KEDO})
"""Partners the hub takes from or asks, never sends a client's data to."""
KEEPERS = ("procesregisseur",)
"""The role that keeps a client's consents and decisions: the ZVH's procesregisseur.
Flow-H events are never forwarded, but their medical fields declare a role like any."""


class ConsentEvent(CanonicalEvent):
    topic: ClassVar[topics.TopicSpec] = topics.CONSENT


class ConsentRecorded(ConsentEvent):
    """TOESTEMMING: a consent or objection, as a FHIR R4 Consent (Mitz conventions)."""

    name: ClassVar[str] = "consent.recorded"
    consent: dict[str, Any] = categorised(
        M,
        description="FHIR R4 Consent resource in the hub's profile "
        "(hub.schemas.consent_profile); its patient is the client's pseudonym.",
        relevant_roles=KEEPERS,
    )

    @field_validator("consent")
    @classmethod
    def _in_the_profile(cls, value: dict[str, Any]) -> dict[str, Any]:
        read_consent(value, bsn_allowed=True)
        return value

    def for_subject(self, *, subject: str, bsn: str | None) -> Self:
        """The consent with its patient named by the pseudonym; refused when it names
        another client than the message (ProfileError)."""
        try:
            bound = bound_to(self.consent, subject=subject, bsn=bsn)
        except ProfileError as error:
            raise ContractError(error.reason, field=f"consent.{error.path}") from None
        return self.model_copy(update={"consent": bound})


class ConsentWithdrawn(ConsentEvent):
    """Withdrawal of a recorded consent; it takes effect at once."""

    name: ClassVar[str] = "consent.withdrawn"
    consent_id: str = categorised(
        M, description="Id of the withdrawn Consent.", min_length=1, relevant_roles=KEEPERS
    )
    withdrawn_at: AwareDatetime = fact(
        M, description="Moment of withdrawal.", relevant_roles=KEEPERS
    )


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
    releases: tuple[str, ...] = categorised(
        J,
        description="The medical fields it releases, by name, or 'medical' for every one.",
        min_length=1,
    )
    reason: str = categorised(
        M, description="Why sharing prevents serious harm.", min_length=1, relevant_roles=KEEPERS
    )
    decided_at: AwareDatetime = fact(J, description="When the decision was taken.")
    valid_until: AwareDatetime = may_lie_ahead(J, description="When the decision expires.")

    @field_validator("recipient")
    @classmethod
    def _a_recipient(cls, value: str) -> str:
        if partner_kind(value) in NOT_RECIPIENTS:
            raise ValueError(f"{value!r} receives no notices; name a partner that does")
        return value

    @field_validator("releases")
    @classmethod
    def _medical_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from hub.schemas.registry import releasable_fields

        known = releasable_fields()
        for name in value:
            if name != M.value and name not in known:
                raise ValueError(
                    f"{name!r} is not a medical field; a conflict of duties releases medical "
                    f"data only: 'medical' or one of {', '.join(sorted(known))}"
                )
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> ConflictOfDutiesDecided:
        if self.valid_until <= self.decided_at:
            raise ValueError("valid_until lies before decided_at: the decision never holds")
        return self


class LegalTitle(Payload):
    """A recorded title as the policy reads it; outside its period (Amsterdam days) it
    counts as absent, and a title about another client does not count at all."""

    subject: str = Field(min_length=1, description="The client's pseudonym.")
    title_id: str = Field(min_length=1)
    kind: TitleKind
    includes_levensloopaanpak: bool
    valid_from: dt.date
    valid_until: dt.date

    @model_validator(mode="after")
    def _period_is_ordered(self) -> LegalTitle:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until lies before valid_from")
        return self


class ConflictDecision(Payload):
    """A recorded conflict-of-duties decision as the policy reads it: for one client, one
    recipient and the medical fields (or 'medical') it releases, until it expires."""

    subject: str = Field(min_length=1, description="The client's pseudonym.")
    decision_id: str = Field(min_length=1)
    decided_by: str = Field(min_length=1, description="The named professional.")
    recipient: PartnerId
    releases: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(min_length=1)
    decided_at: AwareDatetime
    valid_until: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> ConflictDecision:
        if self.valid_until <= self.decided_at:
            raise ValueError("valid_until lies before decided_at: the decision never holds")
        return self

    def releases_field(self, name: str, category: DataCategory) -> bool:
        return category is DataCategory.MEDICAL and (
            name in self.releases or category.value in self.releases
        )

    def holds_at(self, now: dt.datetime) -> bool:
        return self.decided_at <= now < self.valid_until
