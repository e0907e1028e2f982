"""From one event and one addressee to a delivery and its audit entry
(hub.routing.disclosure), with the shipped policy and no broker: the message a router
builds, what goes into the notification and its envelope, and what the audit says,
field by field, for a disclosure and for a withholding."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

import pytest

from hub.routing.cedar_policy import CedarPolicy
from hub.routing.decision import Purpose
from hub.routing.disclosure import (
    DELIVERY_NAMESPACE,
    Disclosure,
    Message,
    bsn_authorised,
    delivery_id,
    disclose,
    object_text,
)
from hub.routing.recipients import Addressee, CaseContext, case_context
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientMoved, TeamMember, TeamRole
from hub.schemas.categories import DataCategory
from hub.schemas.common import Contact
from hub.schemas.consent import ConflictDecision, LegalTitle, TitleKind
from hub.schemas.consent_profile import read_consent
from hub.schemas.deliveries import Flow, Outcome
from hub.schemas.envelope import HUB_SOURCE, Envelope, partner_source
from hub.state.audit import Action, AuditEntry
from hub.state.consents import PolicyFacts
from tests.data import (
    CASUSREGISSEUR,
    LLC,
    PROCESREGISSEUR,
    TEST_BSNS,
    client_included,
    crisis_contact,
    detention_started,
    fhir_consent,
    pseudonymiser,
)

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
POLICY = CedarPolicy()
CONTEXT = case_context(client_included(), None, None, TODAY)
LLZ = "llz:fivoor"
TO_LLC = Addressee(LLZ, TeamRole.LEVENSLOOPCOORDINATOR, Flow.F, Purpose.LEVENSLOOPAANPAK, None)
SIGNAL_TYPE = "nl.ketenhub.signal.crisis-contact.v1"
CRISIS_TEAM = {
    "name": "Crisisteam Noord",
    "role": "crisisdienst",
    "organisation": "GGZ Crisisdienst",
    "partner": "crisis:amsterdam",
}


def contact(c: Contact) -> dict[str, Any]:
    return c.model_dump(mode="json", exclude_none=True)


def envelope_of(event: CanonicalEvent) -> Envelope:
    return Envelope.for_event(
        event,
        subject=SUBJECT,
        source=partner_source("crisis:amsterdam"),
        event_id="e-1",
        correlation_id="c-1",
        time=NOW - dt.timedelta(hours=1),
        origin_time=NOW - dt.timedelta(hours=2),
    )


def signal(
    addressee: Addressee = TO_LLC,
    facts: PolicyFacts = PolicyFacts(),
    *,
    may_hold_bsn: bool = True,
    context: CaseContext = CONTEXT,
    **options: Any,
) -> Disclosure:
    """The crisis-contact signal (medical and justice) decided for ``addressee``."""
    event = crisis_contact()
    return disclose(
        envelope=envelope_of(event),
        message=Message.build(event, CONTEXT),
        addressee=addressee,
        context=context,
        policy=POLICY,
        facts=facts,
        may_hold_bsn=may_hold_bsn,
        now=NOW,
        **options,
    )


class TestMessage:
    def test_the_events_fields_as_json_then_what_the_case_adds(self) -> None:
        message = Message.build(crisis_contact(), CONTEXT)
        assert message.values == {
            "occurred_at": "2026-11-22T23:10:00Z",
            "police_involved": True,
            "assessment": "Acute psychose, gevaar voor anderen.",
            "outcome": "Opgenomen met crisismaatregel.",
            "crisis_team": CRISIS_TEAM,
            "levensloopaanpak": True,
            "zvh": "zvh:amsterdam",
            "llc": contact(LLC),
            "casusregisseur": contact(CASUSREGISSEUR),
            "procesregisseur": contact(PROCESREGISSEUR),
        }
        assert {name: spec.category for name, spec in message.specs.items()} == {
            "occurred_at": DataCategory.JUSTICE,
            "police_involved": DataCategory.JUSTICE,
            "assessment": DataCategory.MEDICAL,
            "outcome": DataCategory.MEDICAL,
            "crisis_team": DataCategory.CONTACT,
            "levensloopaanpak": DataCategory.LABEL,
            "zvh": DataCategory.LABEL,
            "llc": DataCategory.CONTACT,
            "casusregisseur": DataCategory.CONTACT,
            "procesregisseur": DataCategory.CONTACT,
            "bsn": DataCategory.IDENTITY,
        }

    def test_unset_fields_stay_out_and_the_case_fields_it_lacks_stay_out(self) -> None:
        context = CaseContext(found=True, included=False)
        message = Message.build(detention_started(skn=None), context)
        assert set(message.values) == {
            "source_event_id",
            "person_name",
            "birth_date",
            "municipality",
            "facility",
            "detention_title",
            "start_date",
            "levensloopaanpak",
        }
        assert message.values["levensloopaanpak"] is False
        assert "bsn" in message.specs

    def test_the_events_own_field_wins_over_the_cases(self) -> None:
        utrecht = Contact(name="U. R", role="procesregisseur", organisation="ZVH Utrecht")
        event = ClientMoved(
            from_zvh="zvh:amsterdam",
            to_zvh="zvh:utrecht",
            moved_on=dt.date(2026, 6, 1),
            procesregisseur=utrecht,
        )
        message = Message.build(event, CONTEXT)
        assert message.values["procesregisseur"] == contact(utrecht)
        assert message.values["llc"] == contact(LLC)
        assert list(message.specs)[-2:] == ["casusregisseur", "bsn"]
        assert "bsn" not in message.values


class TestDelivery:
    @pytest.mark.parametrize("may_hold_bsn", [True, False])
    def test_the_notification_and_its_envelope(self, may_hold_bsn: bool) -> None:
        consent = PolicyFacts(consents=(read_consent(fhir_consent("c1")),))
        result = signal(facts=consent, may_hold_bsn=may_hold_bsn, label_reference="ref-1")
        assert result.delivery is not None
        notification, envelope = result.delivery
        key = delivery_id("e-1", LLZ, "levensloopcoordinator")
        removed = () if may_hold_bsn else ("bsn",)
        assert notification.model_dump(exclude={"decision", "content", "content_categories"}) == {
            "recipient": LLZ,
            "recipient_role": "levensloopcoordinator",
            "flow": Flow.F,
            "purpose": "levensloopaanpak",
            "source_type": SIGNAL_TYPE,
            "idempotency_key": key,
            "removed_fields": removed,
            "bsn_permitted": may_hold_bsn,
            "label_reference": "ref-1",
            "correction": False,
        }
        assert notification.content == Message.build(crisis_contact(), CONTEXT).values
        assert notification.decision.outcome is (
            Outcome.PERMIT if may_hold_bsn else Outcome.PERMIT_REDACTED
        )
        assert notification.decision.policy_version == POLICY.version
        assert (envelope.id, envelope.source, envelope.subject) == (key, HUB_SOURCE, SUBJECT)
        assert (envelope.correlationid, envelope.causationid) == ("c-1", "e-1")
        assert (envelope.time, envelope.started) == (NOW, NOW - dt.timedelta(hours=2))
        assert (result.addressee, result.decision.consent_id) == (TO_LLC, "c1")

    def test_a_correction_is_marked_only_when_asked(self) -> None:
        corrected = signal(correction=True).delivery
        assert corrected is not None
        assert corrected[0].correction
        assert signal().delivery is not None

    def test_the_audit_of_a_disclosure_names_everything_decided(self) -> None:
        result = signal(may_hold_bsn=False)
        decision = result.decision
        assert result.delivery is not None
        assert replace(result.audit, record_id="r") == AuditEntry(
            event_id="e-1",
            event_type=SIGNAL_TYPE,
            event_time=NOW - dt.timedelta(hours=1),
            action=Action.DISCLOSE,
            sender=partner_source("crisis:amsterdam"),
            subject=SUBJECT,
            object=f"{SIGNAL_TYPE} [contact,identity,justice,label,medical]",
            outcome="PERMIT_REDACTED",
            correlation_id="c-1",
            recipient=LLZ,
            recipient_role="levensloopcoordinator",
            flow="F",
            purpose="levensloopaanpak",
            legal_bases=("wgs-samenwerkingsverband",),
            rule_ids=("wgs-samenwerkingsverband",),
            policy_version=POLICY.version,
            consent_id=None,
            disclosed_fields=(
                "occurred_at",
                "police_involved",
                "crisis_team",
                "levensloopaanpak",
                "zvh",
                "llc",
                "casusregisseur",
                "procesregisseur",
            ),
            removed_fields=("assessment", "outcome", "bsn"),
            missing=("geen-grondslag-medisch", "geen-bsn-bevoegdheid"),
            delivery_id=delivery_id("e-1", LLZ, "levensloopcoordinator"),
            record_id="r",
        )
        assert decision.removed_fields == result.audit.removed_fields

    def test_the_audit_names_the_consent_it_rests_on(self) -> None:
        result = signal(facts=PolicyFacts(consents=(read_consent(fhir_consent("c1")),)))
        assert result.audit.consent_id == "c1"
        assert result.audit.legal_bases == ("bsn-bevoegd", "consent", "wgs-samenwerkingsverband")

    def test_an_unreadable_consent_reaches_the_policy_and_blocks_the_consent_basis(
        self,
    ) -> None:
        """Fail closed: a stored consent the profile refuses may be a withdrawal, so the
        readable consent beside it is no basis for the medical fields."""
        consent = read_consent(fhir_consent("c1"))
        readable = signal(facts=PolicyFacts(consents=(consent,)))
        assert readable.decision.outcome is Outcome.PERMIT
        assert readable.audit.legal_bases == ("bsn-bevoegd", "consent", "wgs-samenwerkingsverband")
        blocked = signal(facts=PolicyFacts(consents=(consent,), unreadable=("c2",)))
        assert blocked.decision.outcome is Outcome.PERMIT_REDACTED
        audit = blocked.audit
        assert audit.legal_bases == ("bsn-bevoegd", "wgs-samenwerkingsverband")
        assert (audit.removed_fields, audit.missing) == (
            ("assessment", "outcome"),
            ("geen-grondslag-medisch",),
        )
        assert blocked.delivery is not None
        assert set(blocked.delivery[0].content).isdisjoint({"assessment", "outcome"})

    def test_a_title_and_a_conflict_decision_reach_the_policy(self) -> None:
        title = LegalTitle(
            subject=SUBJECT,
            title_id="zm1",
            kind=TitleKind.ZORGMACHTIGING,
            includes_levensloopaanpak=True,
            valid_from=dt.date(2026, 1, 1),
            valid_until=dt.date(2027, 1, 1),
        )
        conflict = ConflictDecision(
            subject=SUBJECT,
            decision_id="d1",
            decided_by="Dr. A",
            recipient=LLZ,
            releases=("assessment", "outcome"),
            reason="Acuut gevaar voor derden.",
            decided_at=NOW - dt.timedelta(days=1),
            valid_until=NOW + dt.timedelta(days=1),
        )
        assert signal(facts=PolicyFacts()).decision.outcome is Outcome.PERMIT_REDACTED
        assert signal(facts=PolicyFacts(titles=(title,))).decision.outcome is Outcome.PERMIT
        by_conflict = signal(facts=PolicyFacts(conflict_decisions=(conflict,)))
        assert by_conflict.decision.outcome is Outcome.PERMIT_BREAK_GLASS

    def test_an_addressee_gets_the_fields_its_route_names_and_the_bsn_is_decided(self) -> None:
        only = replace(TO_LLC, fields=frozenset({"zvh", "occurred_at"}))
        result = signal(only)
        assert result.delivery is not None
        assert set(result.delivery[0].content) == {"zvh", "occurred_at"}
        assert set(result.decision.field_verdicts) == {"zvh", "occurred_at", "bsn"}
        assert result.audit.object == f"{SIGNAL_TYPE} [identity,justice,label]"


class TestWithholding:
    def test_a_permitted_bsn_alone_is_no_delivery(self) -> None:
        """Only the BSN is wanted and it may go, but it is never in the message itself."""
        nothing = replace(TO_LLC, fields=frozenset())
        result = signal(nothing)
        assert result.decision.outcome is Outcome.PERMIT
        assert result.delivery is None
        audit = result.audit
        assert (audit.action, audit.outcome) == (Action.WITHHOLD, "DENY")
        assert (audit.legal_bases, audit.disclosed_fields, audit.delivery_id) == ((), (), None)
        assert audit.rule_ids == ("bsn-bevoegd",)
        assert audit.object == f"{SIGNAL_TYPE} [identity]"

    def test_outside_the_team_nothing_goes_and_the_audit_says_why(self) -> None:
        stranger = replace(TO_LLC, partner="llz:elders")
        outside = CaseContext(
            found=True,
            included=True,
            team=(TeamMember(partner=LLZ, role=TeamRole.LEVENSLOOPCOORDINATOR),),
        )
        result = signal(stranger, context=outside)
        assert result.delivery is None
        assert result.audit.recipient == "llz:elders"
        assert (result.audit.action, result.audit.outcome) == (Action.WITHHOLD, "DENY")
        assert set(result.audit.missing) == {"geen-lid-netwerk"}
        assert result.audit.removed_fields == tuple(result.decision.field_verdicts)


def test_delivery_ids_are_stable_and_tell_event_partner_and_role_apart() -> None:
    key = delivery_id("e-1", LLZ, "levensloopcoordinator")
    assert key == str(uuid.uuid5(DELIVERY_NAMESPACE, f"e-1|{LLZ}|levensloopcoordinator"))
    others = {
        delivery_id("e-2", LLZ, "levensloopcoordinator"),
        delivery_id("e-1", "llz:elders", "levensloopcoordinator"),
        delivery_id("e-1", LLZ, "casusregisseur"),
    }
    assert key not in others
    assert len(others) == 3


def test_object_text_lists_the_categories_sorted() -> None:
    categories = frozenset({DataCategory.MEDICAL, DataCategory.IDENTITY, DataCategory.LABEL})
    assert object_text("t", categories) == "t [identity,label,medical]"


def test_bsn_authority_follows_the_partners_kind() -> None:
    assert bsn_authorised(LLZ, frozenset({"llz", "pi"}))
    assert not bsn_authorised("politie", frozenset({"llz", "pi"}))
