"""The sharing decision: a pure function of its inputs, per recipient and per field.

``decide`` derives the boolean conditions from the raw inputs (team membership,
purpose, consents as FHIR Consent, legal titles, conflict-of-duties decisions, the
time), asks the policy per field, and explains every removed field in a sentence a
privacy officer reads. The covenant flag is accepted and never used: a covenant is
never a basis.

The input fails closed: the client's pseudonym is part of it, and a consent, title or
decision about another client is ignored (and named in the decision); a consent
outside the hub's profile, an unknown role, a medical field without its roles, two
fields of one name or a moment without a time zone are refused before anything is
decided. Validity days are days in Europe/Amsterdam.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema, model_validator

from hub.core.calendar import local_day
from hub.core.subjects import is_pseudonym
from hub.routing import mitz
from hub.routing.conditions import Conditions, RuleResult
from hub.schemas.base import Payload
from hub.schemas.categories import DataCategory, roles_problem
from hub.schemas.consent import ConflictDecision, LegalTitle, TitleKind
from hub.schemas.consent_profile import ConsentRule, read_consent
from hub.schemas.deliveries import Outcome
from hub.schemas.partners import PartnerId, PartnerKind, partner_kind
from hub.schemas.roles import TeamRole

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
    name: str = Field(min_length=1)
    category: DataCategory
    relevant_roles: tuple[TeamRole, ...] | None = Field(
        None, description="The roles a medical field is directly relevant to (required)."
    )

    @model_validator(mode="after")
    def _medical_names_its_roles(self) -> FieldSpec:
        problem = roles_problem(self.category, self.relevant_roles)
        if problem:
            raise ValueError(problem)
        return self


class Recipient(Payload):
    partner: PartnerId
    role: TeamRole
    in_team: bool = Field(description="In the client's levensloopteam now.")
    may_hold_bsn: bool = Field(description="Authorised to hold the BSN.")


def _read(value: Any) -> Any:
    return read_consent(value) if isinstance(value, dict) else value


FhirConsent = Annotated[
    ConsentRule,
    BeforeValidator(_read),
    WithJsonSchema(
        {
            "type": "object",
            "description": "A FHIR R4 Consent in the hub's profile "
            "(hub.schemas.consent_profile), its patient named by the pseudonym.",
        }
    ),
]


class DecisionInput(Payload):
    subject: str = Field(description="The client's pseudonym; facts about others are ignored.")
    fields: tuple[FieldSpec, ...]
    recipient: Recipient
    purpose: Purpose
    consents: tuple[FhirConsent, ...] = ()
    unreadable_consents: tuple[str, ...] = Field(
        (),
        description="Ids of stored consents that no longer meet the profile: while one is "
        "there no consent counts, since it might have been an objection.",
    )
    titles: tuple[LegalTitle, ...] = ()
    conflict_decisions: tuple[ConflictDecision, ...] = ()
    covenant: bool = Field(False, description="Recorded, never a basis.")
    now: AwareDatetime

    @model_validator(mode="after")
    def _well_formed(self) -> DecisionInput:
        if not is_pseudonym(self.subject):
            raise ValueError("subject must be the client's pseudonym (psn-…), never a BSN")
        names = [spec.name for spec in self.fields]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"fields: {twice[0]!r} is given twice")
        return self


class Verdict(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class MissingCondition(Payload):
    code: str
    message: str
    fields: tuple[str, ...]


class Decision(Payload):
    subject: str
    outcome: Outcome
    field_verdicts: dict[str, Verdict]
    removed_fields: tuple[str, ...]
    legal_bases: tuple[str, ...]
    rule_ids: tuple[str, ...]
    policy_version: str
    consent_id: str | None
    missing: tuple[MissingCondition, ...]
    review_required: bool
    break_glass_fields: tuple[str, ...] = Field(
        (), description="The fields that rest on a conflict-of-duties decision alone."
    )
    released_by: tuple[str, ...] = Field(
        (), description="The conflict-of-duties decisions that released them."
    )
    ignored: tuple[str, ...] = Field(
        (), description="Facts in the input about another client, left out of the decision."
    )


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


def missing_text(code: str) -> str:
    """The sentence for a missing condition's code, as a privacy officer reads it; the
    code itself for one this version does not know (an older record)."""
    return _MISSING_TEXT.get(code, code)


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


def _title_holds(titles: tuple[LegalTitle, ...], kind: TitleKind, today: dt.date) -> bool:
    return any(
        title.kind is kind
        and title.includes_levensloopaanpak
        and title.valid_from <= today <= title.valid_until
        for title in titles
    )


@dataclass(frozen=True)
class _Facts:
    """The input's facts about this client, and what was about someone else."""

    consents: tuple[ConsentRule, ...]
    titles: tuple[LegalTitle, ...]
    decisions: tuple[ConflictDecision, ...]
    ignored: tuple[str, ...]


def _own(data: DecisionInput) -> _Facts:
    subject = data.subject
    other = "about another client"
    return _Facts(
        consents=tuple(c for c in data.consents if c.about(subject)),
        titles=tuple(t for t in data.titles if t.subject == subject),
        decisions=tuple(d for d in data.conflict_decisions if d.subject == subject),
        ignored=(
            *(f"consent {c.consent_id}: {other}" for c in data.consents if not c.about(subject)),
            *(f"title {t.title_id}: {other}" for t in data.titles if t.subject != subject),
            *(
                f"conflict-of-duties {d.decision_id}: {other}"
                for d in data.conflict_decisions
                if d.subject != subject
            ),
        ),
    )


def recipient_conditions(data: DecisionInput, facts: _Facts) -> tuple[dict[str, bool], str | None]:
    """The conditions that hold for this recipient and every field alike, and the consent
    they rest on; role relevance and a conflict-of-duties release are per field."""
    recipient, now = data.recipient, data.now
    today = local_day(now)
    kind = partner_kind(recipient.partner)
    consent = mitz.resolve(
        facts.consents, recipient=recipient.partner, category=DataCategory.MEDICAL, now=now
    )
    shared = {
        "in_team": recipient.in_team,
        "label_partner": kind in LABEL_PARTNER_KINDS,
        "is_gemeente": kind == PartnerKind.GEMEENTE,
        "purpose_lla": data.purpose is Purpose.LEVENSLOOPAANPAK,
        "purpose_nazorg": data.purpose is Purpose.NAZORG,
        "wgs_in_force": today >= WGS_IN_FORCE,
        "bsn_authorised": recipient.may_hold_bsn,
        "consent": consent.permitted and not data.unreadable_consents,
        "zorgmachtiging": _title_holds(facts.titles, TitleKind.ZORGMACHTIGING, today),
        "strafrechtelijke_voorwaarde": _title_holds(
            facts.titles, TitleKind.STRAFRECHTELIJKE_VOORWAARDE, today
        ),
        "covenant": data.covenant,
    }
    return shared, consent.consent_id


def _releases(data: DecisionInput, facts: _Facts, spec: FieldSpec) -> list[str]:
    """The decisions in force that release this field to this recipient."""
    return [
        d.decision_id
        for d in facts.decisions
        if d.recipient == data.recipient.partner
        and d.holds_at(data.now)
        and d.releases_field(spec.name, spec.category)
    ]


def decide(data: DecisionInput, policy: Policy) -> Decision:
    facts = _own(data)
    shared, consent_id = recipient_conditions(data, facts)
    verdicts: dict[str, Verdict] = {}
    fired: set[str] = set()
    bases: set[str] = set()
    released_by: set[str] = set()
    on_break_glass_alone: list[str] = []
    missing: dict[str, list[str]] = {}
    for spec in data.fields:
        releases = _releases(data, facts, spec)
        conditions = Conditions(
            **shared,
            role_relevant=spec.relevant_roles is None or data.recipient.role in spec.relevant_roles,
            conflict_of_duties=bool(releases),
        )
        result = policy.evaluate(spec.category, conditions)
        verdicts[spec.name] = Verdict.PERMIT if result.allowed else Verdict.DENY
        fired |= result.rule_ids
        if not result.allowed:
            missing.setdefault(_missing_code(spec.category, conditions), []).append(spec.name)
            continue
        bases |= result.rule_ids
        if result.rule_ids == {BREAK_GLASS_RULE}:
            on_break_glass_alone.append(spec.name)
            released_by.update(releases)
    removed = tuple(name for name, v in verdicts.items() if v is Verdict.DENY)
    permitted = len(removed) < len(verdicts)
    if not permitted:
        outcome = Outcome.DENY
    elif on_break_glass_alone:
        outcome = Outcome.PERMIT_BREAK_GLASS
    elif removed:
        outcome = Outcome.PERMIT_REDACTED
    else:
        outcome = Outcome.PERMIT
    carries_medical = any(spec.category is DataCategory.MEDICAL for spec in data.fields)
    return Decision(
        subject=data.subject,
        outcome=outcome,
        field_verdicts=verdicts,
        removed_fields=removed,
        legal_bases=tuple(sorted(bases)),
        rule_ids=tuple(sorted(fired)),
        policy_version=policy.version,
        consent_id=consent_id if carries_medical else None,
        missing=tuple(
            MissingCondition(code=code, message=_MISSING_TEXT[code], fields=tuple(names))
            for code, names in missing.items()
        ),
        review_required=outcome is Outcome.PERMIT_BREAK_GLASS,
        break_glass_fields=tuple(on_break_glass_alone),
        released_by=tuple(sorted(released_by)),
        ignored=facts.ignored,
    )
