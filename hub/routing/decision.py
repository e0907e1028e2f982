"""The sharing decision: a pure function of its inputs, per recipient and per field.

``decide`` derives the boolean conditions from the raw inputs (team membership,
purpose, consents as FHIR Consent, legal titles, conflict-of-duties decisions, the
time), asks the policy per field, and explains every removed field in a sentence a
privacy officer reads. The covenant flag is accepted and never used: a covenant is
never a basis.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from enum import StrEnum
from typing import Any, Protocol

from pydantic import Field

from hub.routing import mitz
from hub.routing.conditions import Conditions, RuleResult
from hub.schemas.base import Payload
from hub.schemas.categories import DataCategory
from hub.schemas.consent import ConflictDecision, LegalTitle, TitleKind
from hub.schemas.deliveries import Outcome
from hub.schemas.partners import PartnerId, PartnerKind, partner_kind

WGS_IN_FORCE = dt.date(2025, 3, 1)
BREAK_GLASS_RULE = "conflict-van-plichten"
LABEL_PARTNER_KINDS = {PartnerKind.POLITIE, PartnerKind.RECLASSERING, PartnerKind.CRISIS}


class Purpose(StrEnum):
    LEVENSLOOPAANPAK = "levensloopaanpak"
    NAZORG = "nazorg"
    OTHER = "other"


class Policy(Protocol):
    @property
    def version(self) -> str: ...

    def evaluate(self, category: DataCategory, conditions: Conditions) -> RuleResult: ...


class FieldSpec(Payload):
    name: str
    category: DataCategory
    relevant_roles: tuple[str, ...] | None = Field(
        None, description="Roles a medical field is directly relevant to; empty means all."
    )


class Recipient(Payload):
    partner: PartnerId
    role: str
    in_team: bool = Field(description="In the client's levensloopteam now.")
    may_hold_bsn: bool = Field(description="Authorised to hold the BSN.")


class DecisionInput(Payload):
    fields: tuple[FieldSpec, ...]
    recipient: Recipient
    purpose: Purpose
    consents: tuple[dict[str, Any], ...] = Field((), description="FHIR R4 Consent resources.")
    titles: tuple[LegalTitle, ...] = ()
    conflict_decisions: tuple[ConflictDecision, ...] = ()
    covenant: bool = Field(False, description="Recorded, never a basis.")
    now: dt.datetime


class Verdict(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class MissingCondition(Payload):
    code: str
    message: str
    fields: tuple[str, ...]


class Decision(Payload):
    outcome: Outcome
    field_verdicts: dict[str, Verdict]
    removed_fields: tuple[str, ...]
    legal_bases: tuple[str, ...]
    rule_ids: tuple[str, ...]
    policy_version: str
    consent_id: str | None
    missing: tuple[MissingCondition, ...]
    review_required: bool


_MISSING_TEXT = {
    "geen-lid-netwerk": "De ontvanger hoort niet bij het levensloopteam van deze cliënt en "
    "is geen labelpartner; hij ontvangt niets.",
    "doel-niet-toegestaan": "Het doel van de verstrekking is niet de Levensloopaanpak (of, "
    "voor de gemeente, de nazorg).",
    "wgs-niet-van-kracht": "Op dit moment geldt de WGS nog niet als grondslag "
    "(vanaf 1 maart 2025).",
    "labelpartner-alleen-label": "Een labelpartner (politie, reclassering, crisisdienst) "
    "ontvangt alleen het label en de contactgegevens.",
    "geen-bsn-bevoegdheid": "De ontvanger is niet bevoegd het BSN en andere "
    "identificerende gegevens te ontvangen; hij krijgt het pseudoniem.",
    "niet-relevant-voor-rol": "Dit medische gegeven is niet direct relevant voor de rol "
    "van de ontvanger.",
    "geen-grondslag-medisch": "Voor medische gegevens is er geen toestemming van de cliënt, "
    "geen zorgmachtiging of strafrechtelijke beslissing met de Levensloopaanpak, en geen "
    "besluit tot doorbreking van het beroepsgeheim voor deze ontvanger. Een convenant is "
    "geen grondslag.",
}


def _missing_code(category: DataCategory, c: Conditions) -> str:
    """The first condition, in the order a privacy officer would check, that is not met."""
    if not (c.in_team or c.label_partner):
        return "geen-lid-netwerk"
    if not (c.purpose_lla or (c.purpose_nazorg and c.is_gemeente)):
        return "doel-niet-toegestaan"
    if category is DataCategory.IDENTITY:
        return "geen-bsn-bevoegdheid"
    if category is DataCategory.MEDICAL:
        return "niet-relevant-voor-rol" if not c.role_relevant else "geen-grondslag-medisch"
    if not c.in_team and category is DataCategory.JUSTICE:
        return "labelpartner-alleen-label"
    return "wgs-niet-van-kracht"


def _title_holds(titles: tuple[LegalTitle, ...], kind: TitleKind, today: dt.date) -> str | None:
    for title in titles:
        if (
            title.kind is kind
            and title.includes_levensloopaanpak
            and title.valid_from <= today <= title.valid_until
        ):
            return title.title_id
    return None


def base_conditions(data: DecisionInput) -> tuple[Conditions, str | None]:
    """The conditions for this recipient (role relevance set per field later)."""
    recipient, now = data.recipient, data.now
    kind = partner_kind(recipient.partner)
    consent = mitz.resolve(
        data.consents, recipient=recipient.partner, category=DataCategory.MEDICAL.value, now=now
    )
    conflict = any(
        d.recipient == recipient.partner and d.decided_at <= now < d.valid_until
        for d in data.conflict_decisions
    )
    conditions = Conditions(
        in_team=recipient.in_team,
        label_partner=kind in LABEL_PARTNER_KINDS,
        is_gemeente=kind is PartnerKind.GEMEENTE,
        purpose_lla=data.purpose is Purpose.LEVENSLOOPAANPAK,
        purpose_nazorg=data.purpose is Purpose.NAZORG,
        wgs_in_force=now.date() >= WGS_IN_FORCE,
        bsn_authorised=recipient.may_hold_bsn,
        consent=consent.permitted,
        zorgmachtiging=_title_holds(data.titles, TitleKind.ZORGMACHTIGING, now.date()) is not None,
        strafrechtelijke_voorwaarde=_title_holds(
            data.titles, TitleKind.STRAFRECHTELIJKE_VOORWAARDE, now.date()
        )
        is not None,
        conflict_of_duties=conflict,
        role_relevant=True,
        covenant=data.covenant,
    )
    return conditions, consent.consent_id


def decide(data: DecisionInput, policy: Policy) -> Decision:
    base, consent_id = base_conditions(data)
    verdicts: dict[str, Verdict] = {}
    fired: set[str] = set()
    medical_bases: set[str] = set()
    missing: dict[str, list[str]] = {}
    for spec in data.fields:
        relevant = not spec.relevant_roles or data.recipient.role in spec.relevant_roles
        conditions = base if relevant else replace(base, role_relevant=False)
        result = policy.evaluate(spec.category, conditions)
        verdicts[spec.name] = Verdict.PERMIT if result.allowed else Verdict.DENY
        fired |= result.rule_ids
        if spec.category is DataCategory.MEDICAL:
            medical_bases |= result.rule_ids
        if not result.allowed:
            missing.setdefault(_missing_code(spec.category, conditions), []).append(spec.name)
    removed = tuple(name for name, v in verdicts.items() if v is Verdict.DENY)
    permitted = len(removed) < len(verdicts)
    break_glass = medical_bases == {BREAK_GLASS_RULE}
    if not permitted:
        outcome = Outcome.DENY
    elif break_glass:
        outcome = Outcome.PERMIT_BREAK_GLASS
    elif removed:
        outcome = Outcome.PERMIT_REDACTED
    else:
        outcome = Outcome.PERMIT
    carries_medical = any(spec.category is DataCategory.MEDICAL for spec in data.fields)
    return Decision(
        outcome=outcome,
        field_verdicts=verdicts,
        removed_fields=removed,
        legal_bases=tuple(sorted(fired)) if permitted else (),
        rule_ids=tuple(sorted(fired)),
        policy_version=policy.version,
        consent_id=consent_id if carries_medical else None,
        missing=tuple(
            MissingCondition(code=code, message=_MISSING_TEXT[code], fields=tuple(names))
            for code, names in missing.items()
        ),
        review_required=outcome is Outcome.PERMIT_BREAK_GLASS,
    )
