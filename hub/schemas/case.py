"""Case state from the ZVH and KEDO: inclusion, exclusion, moves and look-ups (flows A, B, C, G)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from pydantic import model_validator

from hub.core import topics
from hub.schemas.base import CanonicalEvent, Payload
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.common import Contact
from hub.schemas.partners import PartnerId, ZvhId, role_refusal
from hub.schemas.plausibility import fact, may_lie_ahead
from hub.schemas.roles import TeamRole as TeamRole  # where the team is defined, too

L, C, J = DataCategory.LABEL, DataCategory.CONTACT, DataCategory.JUSTICE


class TeamMember(Payload):
    partner: PartnerId
    role: TeamRole

    @model_validator(mode="after")
    def _a_role_its_kind_may_hold(self) -> TeamMember:
        refusal = role_refusal(self.partner, self.role)
        if refusal is not None:
            raise ValueError(refusal)
        return self


class ExclusionReason(StrEnum):
    STABLE_TWO_YEARS = "stable-two-years"
    CLOSED = "closed"
    NOT_ELIGIBLE = "not-eligible"
    OTHER = "other"


class CaseEvent(CanonicalEvent):
    topic: ClassVar[topics.TopicSpec] = topics.CASE


class ClientIncluded(CaseEvent):
    """ZVH INCLUSIE: the client joins the Levensloopaanpak and gets a levensloopteam."""

    name: ClassVar[str] = "case.included"
    zvh: ZvhId = categorised(L, description="The ZVH that holds process direction.")
    included_since: dt.date = fact(L, description="Date of inclusion.")
    municipality: str = categorised(
        L, description="GM code of the municipality.", pattern=r"^GM\d{4}$"
    )
    team: tuple[TeamMember, ...] = categorised(
        L, description="Partners in the levensloopteam.", min_length=1
    )
    llc: Contact = categorised(C, description="The levensloopcoördinator.")
    casusregisseur: Contact = categorised(C, description="The gemeentelijke casusregisseur.")
    procesregisseur: Contact = categorised(C, description="The ZVH procesregisseur.")
    handling_advice: str | None = categorised(
        L,
        description="Short advice for the police and the crisis service on meeting the client.",
        default=None,
        max_length=500,
    )

    @model_validator(mode="after")
    def _team_has_an_llc(self) -> ClientIncluded:
        if not any(m.role is TeamRole.LEVENSLOOPCOORDINATOR for m in self.team):
            raise ValueError("team needs a member with role levensloopcoordinator")
        return self


class ClientExcluded(CaseEvent):
    """ZVH EXCLUSIE: the client leaves the approach; every label is withdrawn (flow C)."""

    name: ClassVar[str] = "case.excluded"
    zvh: ZvhId = categorised(L, description="The ZVH that closes the case.")
    reason: ExclusionReason = categorised(L, description="Why the case ends.")
    excluded_on: dt.date = may_lie_ahead(
        L, description="Date of exclusion; an exclusion may be planned, so it may lie ahead."
    )


class ClientMoved(CaseEvent):
    """ZVH VERHUIZING: process direction moves to another ZVH (flow G)."""

    name: ClassVar[str] = "case.moved"
    from_zvh: ZvhId = categorised(L, description="The ZVH handing over.")
    to_zvh: ZvhId = categorised(L, description="The ZVH taking over.")
    moved_on: dt.date = may_lie_ahead(
        L, description="Date of the handover; the ZVHs agree it in advance, so it may lie ahead."
    )
    procesregisseur: Contact = categorised(C, description="Procesregisseur at the new ZVH.")

    @model_validator(mode="after")
    def _two_different_zvhs(self) -> ClientMoved:
        if self.from_zvh == self.to_zvh:
            raise ValueError("from_zvh and to_zvh are the same ZVH")
        return self


class KedoLookupResult(CanonicalEvent):
    """The answer of KEDO's ``GET /regie/{bsn}``; ``found`` is false for a 404."""

    topic: ClassVar[topics.TopicSpec] = topics.LOOKUP
    name: ClassVar[str] = "case.lookup-result"
    found: bool = categorised(L, description="Whether any ZVH has a current case.")
    zvh: ZvhId | None = categorised(L, description="The ZVH with the case.", default=None)
    case_type: str | None = categorised(
        J, description="KEDO case type.", default=None, max_length=100
    )
    included: bool = categorised(L, description="Included in the Levensloopaanpak.", default=False)
    included_since: dt.date | None = fact(L, description="Date of inclusion.", default=None)
    llc: Contact | None = categorised(C, description="The levensloopcoördinator.", default=None)
    casusregisseur: Contact | None = categorised(
        C, description="The gemeentelijke casusregisseur.", default=None
    )
    looked_up_at: dt.datetime = fact(L, description="When KEDO answered.")

    @model_validator(mode="after")
    def _no_case_no_details(self) -> KedoLookupResult:
        if not self.found and (self.zvh or self.included or self.llc):
            raise ValueError("a look-up without a case carries no case details")
        return self


class CaseView(StrEnum):
    """Where a client stands by one source, in a dispute notice."""

    INCLUDED = "included"
    EXCLUDED = "excluded"
    NOT_INCLUDED = "not-included"
    NOT_FOUND = "not-found"


class CaseDisputed(CanonicalEvent):
    """The hub's notice to the ZVH procesregisseur that the hub's case state and KEDO
    disagree about a client, so the ZVH can resolve it. Label facts only: never the
    detention that met the dispute. It travels only inside a delivery, on the look-up's
    topic that the router does not consume."""

    topic: ClassVar[topics.TopicSpec] = topics.LOOKUP
    name: ClassVar[str] = "case.disputed"
    zvh: ZvhId = categorised(L, description="The ZVH asked to resolve the dispute.")
    hub_says: CaseView = categorised(L, description="The case as the hub's own state has it.")
    kedo_says: CaseView = categorised(L, description="The case as KEDO answered.")
    met_by: str = categorised(
        L, description="CloudEvents type of the event that met the dispute.", max_length=200
    )
    included_since: dt.date | None = fact(
        L, description="The inclusion date the hub has.", default=None
    )
    excluded_on: dt.date | None = may_lie_ahead(
        L, description="The exclusion date the hub has (it may lie ahead).", default=None
    )
    kedo_zvh: ZvhId | None = categorised(
        L, description="The ZVH KEDO named, when another.", default=None
    )
