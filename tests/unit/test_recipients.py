"""Who hears of an event, before the policy speaks: the effective team of one event
(hub.routing.recipients.case_context) and the addressees its flow names. Pure: each case
compares the whole answer, so a changed field, member or purpose shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hub.routing.decision import Purpose
from hub.routing.recipients import (
    LABEL_SET_FIELDS,
    PI_FIELDS,
    Addressee,
    CaseContext,
    addressees,
    case_context,
    dispute,
    dispute_context,
    flow_of,
    routes_for,
    with_break_glass,
)
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    CaseDisputed,
    CaseView,
    ClientExcluded,
    ClientMoved,
    ExclusionReason,
    KedoLookupResult,
    TeamMember,
    TeamRole,
)
from hub.schemas.common import Contact, Facility
from hub.schemas.consent import ConflictDecision
from hub.schemas.deliveries import Flow
from hub.schemas.detention import DetentionEnded, DetentionTransferred
from hub.state.cases import Case
from tests.data import (
    CASUSREGISSEUR,
    LLC,
    PROCESREGISSEUR,
    client_included,
    crisis_contact,
    detention_started,
    kedo_hit,
)

R = TeamRole
LLA, NAZORG = Purpose.LEVENSLOOPAANPAK, Purpose.NAZORG
ZVH, LLZ, GEMEENTE = "zvh:amsterdam", "llz:fivoor", "gemeente:GM0363"
UTRECHT = Contact(
    name="U. Regisseur",
    role="procesregisseur",
    organisation="ZVH Utrecht",
    partner="zvh:utrecht",
)
OLD_PI = TeamMember(partner="pi:pi-old", role=R.PI_BACKOFFICE)
POLITIE = TeamMember(partner="politie", role=R.POLITIE)
REGISTERED = (
    TeamMember(partner=ZVH, role=R.PROCESREGISSEUR),
    TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
    POLITIE,
    OLD_PI,
)
CONTACTS = {R.PROCESREGISSEUR: PROCESREGISSEUR, R.LEVENSLOOPCOORDINATOR: LLC}

TODAY = dt.date(2026, 11, 23)


def case(status: str = "included", team: tuple[TeamMember, ...] = REGISTERED) -> Case:
    return Case(
        subject="psn",
        status=status,
        zvh=ZVH,
        municipality="GM0363",
        included_since=dt.date(2026, 3, 1),
        team=team,
        contacts=dict(CONTACTS),
    )


def ended(municipality: str) -> DetentionEnded:
    started = detention_started()
    return DetentionEnded(
        **started.model_dump(exclude={"start_date"}),
        end_date=dt.date(2026, 11, 30),
        release_municipality=municipality,
    )


def moved() -> ClientMoved:
    return ClientMoved(
        from_zvh=ZVH, to_zvh="zvh:utrecht", moved_on=dt.date(2026, 6, 1), procesregisseur=UTRECHT
    )


class TestDetentionContext:
    """KEDO says whether there is a case; its answer and the registered team form it."""

    def test_without_an_answer_there_is_no_case(self) -> None:
        assert case_context(detention_started(), case(), None, TODAY) == CaseContext(
            found=False, included=False
        )

    def test_a_case_outside_the_approach_is_found_but_not_included(self) -> None:
        lookup = kedo_hit(included=False)
        assert case_context(detention_started(), case(), lookup, TODAY) == CaseContext(
            found=True, included=False
        )

    def test_no_case_at_kedo_is_not_found(self) -> None:
        lookup = KedoLookupResult(
            found=False, looked_up_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
        )
        assert case_context(detention_started(), case(), lookup, TODAY) == CaseContext(
            found=False, included=False
        )

    def test_the_registered_team_with_kedos_contacts_and_the_pi_holding_the_client(self) -> None:
        llc_elsewhere = LLC.model_copy(update={"partner": "llz:elders"})
        no_partner = CASUSREGISSEUR.model_copy(update={"partner": None})
        lookup = kedo_hit(llc=llc_elsewhere, casusregisseur=no_partner)
        assert case_context(detention_started(), case(), lookup, TODAY) == CaseContext(
            found=True,
            included=True,
            zvh=ZVH,
            team=(
                TeamMember(partner=ZVH, role=R.PROCESREGISSEUR),
                TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
                POLITIE,
                TeamMember(partner="llz:elders", role=R.LEVENSLOOPCOORDINATOR),
                TeamMember(partner="pi:pi-ams", role=R.PI_BACKOFFICE),
            ),
            contacts={
                R.PROCESREGISSEUR: PROCESREGISSEUR,
                R.LEVENSLOOPCOORDINATOR: llc_elsewhere,
                R.CASUSREGISSEUR: no_partner,
            },
        )

    def test_without_a_registered_case_kedos_answer_is_the_team(self) -> None:
        lookup = kedo_hit(zvh=None)
        context = case_context(detention_started(), None, lookup, TODAY)
        assert context.zvh is None
        assert context.team == (
            TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
            TeamMember(partner=GEMEENTE, role=R.CASUSREGISSEUR),
            TeamMember(partner="pi:pi-ams", role=R.PI_BACKOFFICE),
        )

    def test_release_elsewhere_brings_that_municipality_in_for_aftercare_only(self) -> None:
        context = case_context(ended("GM0344"), case(), kedo_hit(), TODAY)
        assert context == CaseContext(
            found=True,
            included=True,
            zvh=ZVH,
            team=(
                TeamMember(partner=ZVH, role=R.PROCESREGISSEUR),
                TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
                POLITIE,
                TeamMember(partner=GEMEENTE, role=R.CASUSREGISSEUR),
                TeamMember(partner="gemeente:GM0344", role=R.CASUSREGISSEUR),
            ),
            contacts={**CONTACTS, R.CASUSREGISSEUR: CASUSREGISSEUR},
            nazorg_only=frozenset({"gemeente:GM0344"}),
        )

    def test_release_in_the_teams_own_municipality_is_no_aftercare_only_member(self) -> None:
        context = case_context(ended("GM0363"), case(), kedo_hit(), TODAY)
        assert context.nazorg_only == frozenset()
        assert context.members(R.CASUSREGISSEUR) == [GEMEENTE]


class TestCaseContext:
    def test_an_inclusion_brings_its_own_team_and_contacts(self) -> None:
        event = client_included()
        assert case_context(event, None, None, TODAY) == CaseContext(
            found=True,
            included=True,
            zvh=ZVH,
            team=event.team,
            contacts={
                R.LEVENSLOOPCOORDINATOR: LLC,
                R.CASUSREGISSEUR: CASUSREGISSEUR,
                R.PROCESREGISSEUR: PROCESREGISSEUR,
            },
        )

    def test_no_case_and_a_case_no_longer_included(self) -> None:
        event = crisis_contact()
        assert case_context(event, None, None, TODAY) == CaseContext(found=False, included=False)
        closed = case(status="excluded")
        assert case_context(event, closed, None, TODAY) == CaseContext(found=True, included=False)

    def test_an_exclusion_goes_to_the_team_as_it_was(self) -> None:
        event = ClientExcluded(
            zvh=ZVH, reason=ExclusionReason.CLOSED, excluded_on=dt.date(2026, 12, 1)
        )
        assert case_context(event, case(), None, TODAY) == CaseContext(
            found=True, included=False, zvh=ZVH, team=REGISTERED, contacts=CONTACTS
        )

    def test_a_move_adds_both_zvhs_and_the_new_procesregisseur(self) -> None:
        assert case_context(moved(), case(), None, TODAY) == CaseContext(
            found=True,
            included=True,
            zvh="zvh:utrecht",
            team=(*REGISTERED, TeamMember(partner="zvh:utrecht", role=R.PROCESREGISSEUR)),
            contacts={**CONTACTS, R.PROCESREGISSEUR: UTRECHT},
        )

    def test_any_other_event_sees_the_registered_case(self) -> None:
        assert case_context(crisis_contact(), case(), None, TODAY) == CaseContext(
            found=True, included=True, zvh=ZVH, team=REGISTERED, contacts=CONTACTS
        )

    def test_membership(self) -> None:
        context = CaseContext(found=True, included=True, team=(POLITIE,))
        assert context.in_team("politie")
        assert not context.in_team(LLZ)


class TestAddressees:
    def test_an_event_without_a_flow_has_no_routes(self) -> None:
        assert routes_for(kedo_hit()) == ()
        assert (
            addressees(kedo_hit(), case_context(client_included(), None, None, TODAY), None) == []
        )

    def test_a_detention_notice_names_each_role_once_with_its_fields(self) -> None:
        context = CaseContext(
            found=True,
            included=True,
            team=(
                TeamMember(partner="gemeente:GM0599", role=R.CASUSREGISSEUR),
                TeamMember(partner=GEMEENTE, role=R.CASUSREGISSEUR),
                TeamMember(partner="gemeente:GM0344", role=R.CASUSREGISSEUR),
                TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
                TeamMember(partner="pi:pi-ams", role=R.PI_BACKOFFICE),
            ),
            nazorg_only=frozenset({"gemeente:GM0344"}),
        )
        # The sender is skipped, and the partners after it in the same role still hear.
        assert addressees(detention_started(), context, "gemeente:GM0599") == [
            Addressee(GEMEENTE, R.CASUSREGISSEUR, Flow.A, LLA, None),
            Addressee("gemeente:GM0344", R.CASUSREGISSEUR, Flow.A, NAZORG, None),
            Addressee(LLZ, R.LEVENSLOOPCOORDINATOR, Flow.A, LLA, None),
            Addressee("pi:pi-ams", R.PI_BACKOFFICE, Flow.A, LLA, PI_FIELDS),
        ]

    def test_the_label_partners_hear_of_an_inclusion_with_the_label_fields(self) -> None:
        context = CaseContext(found=True, included=True, team=(POLITIE, POLITIE))
        assert addressees(client_included(), context, ZVH) == [
            Addressee("politie", R.POLITIE, Flow.B, LLA, LABEL_SET_FIELDS)
        ]

    def test_a_move_tells_the_sending_zvh_too_but_a_notice_never_tells_its_sender(self) -> None:
        context = case_context(moved(), case(), None, TODAY)
        assert addressees(moved(), context, ZVH) == [
            Addressee(ZVH, R.PROCESREGISSEUR, Flow.G, LLA, None),
            Addressee("zvh:utrecht", R.PROCESREGISSEUR, Flow.G, LLA, None),
        ]
        signal = crisis_contact()
        assert [a.partner for a in addressees(signal, context, ZVH)] == [LLZ, "zvh:utrecht"]


class TestExclusionContext:
    """The notice of withdrawal needs a case with a team; the day decides an open case."""

    EXCLUDED = ClientExcluded(
        zvh=ZVH, reason=ExclusionReason.CLOSED, excluded_on=dt.date(2026, 12, 1)
    )

    def test_without_a_case_or_a_team_the_exclusion_goes_to_no_team(self) -> None:
        assert case_context(self.EXCLUDED, None, None, TODAY) == CaseContext(
            found=False, included=False
        )
        assert case_context(self.EXCLUDED, case(team=()), None, TODAY) == CaseContext(
            found=True, included=False
        )

    def test_an_exclusion_dated_ahead_leaves_the_team_until_its_day(self) -> None:
        ahead = replace(case(status="excluded"), excluded_on=TODAY + dt.timedelta(days=1))
        assert case_context(crisis_contact(), ahead, None, TODAY) == CaseContext(
            found=True, included=True, zvh=ZVH, team=REGISTERED, contacts=CONTACTS
        )
        today = replace(ahead, excluded_on=TODAY)
        assert case_context(crisis_contact(), today, None, TODAY) == CaseContext(
            found=True, included=False
        )
        # The same case, a day later, is closed: the day passed in is the one that counts.
        assert case_context(
            crisis_contact(), ahead, None, TODAY + dt.timedelta(days=1)
        ) == CaseContext(found=True, included=False)


def transferred() -> DetentionTransferred:
    started = detention_started()
    return DetentionTransferred(
        **started.model_dump(exclude={"start_date", "facility"}),
        facility=Facility(code="PI-VUG", name="PI Vught"),
        previous_facility=started.facility,
        transfer_date=dt.date(2026, 11, 22),
    )


class TestDispute:
    """The hub and KEDO disagree about a detained client: the notice carries the label
    facts the ZVH needs to resolve it, and nothing else."""

    SINCE = dt.date(2026, 3, 1)

    def test_no_dispute_outside_a_detention_or_without_a_hub_case(self) -> None:
        closed = replace(case(status="excluded"), excluded_on=TODAY)
        assert dispute(crisis_contact(), closed, kedo_hit(), TODAY) is None
        assert dispute(detention_started(), None, None, TODAY) is None
        assert dispute(detention_started(), None, kedo_hit(included=False), TODAY) is None

    def test_no_dispute_when_they_agree(self) -> None:
        assert dispute(detention_started(), case(), kedo_hit(), TODAY) is None
        closed = replace(case(status="excluded"), excluded_on=TODAY)
        not_included = kedo_hit(included=False)
        assert dispute(detention_started(), closed, not_included, TODAY) is None
        assert dispute(detention_started(), closed, None, TODAY) is None

    def test_an_exclusion_in_effect_while_kedo_says_included(self) -> None:
        closed = replace(case(status="excluded"), excluded_on=TODAY)
        assert dispute(detention_started(), closed, kedo_hit(), TODAY) == CaseDisputed(
            zvh=ZVH,
            hub_says=CaseView.EXCLUDED,
            kedo_says=CaseView.INCLUDED,
            met_by="nl.ketenhub.detention.started.v1",
            included_since=self.SINCE,
            excluded_on=TODAY,
            kedo_zvh=None,
        )

    def test_kedo_naming_another_zvh_is_in_the_notice(self) -> None:
        closed = replace(case(status="excluded"), excluded_on=TODAY)
        lookup = kedo_hit(zvh="zvh:utrecht")
        assert dispute(transferred(), closed, lookup, TODAY) == CaseDisputed(
            zvh=ZVH,
            hub_says=CaseView.EXCLUDED,
            kedo_says=CaseView.INCLUDED,
            met_by="nl.ketenhub.detention.transferred.v1",
            included_since=self.SINCE,
            excluded_on=TODAY,
            kedo_zvh="zvh:utrecht",
        )

    def test_the_hub_has_the_client_in_the_approach_and_kedo_does_not(self) -> None:
        expected = CaseDisputed(
            zvh=ZVH,
            hub_says=CaseView.INCLUDED,
            kedo_says=CaseView.NOT_INCLUDED,
            met_by="nl.ketenhub.detention.started.v1",
            included_since=self.SINCE,
        )
        lookup = kedo_hit(included=False, zvh="zvh:utrecht")
        assert dispute(detention_started(), case(), lookup, TODAY) == replace_model(
            expected, kedo_zvh="zvh:utrecht"
        )
        assert dispute(detention_started(), case(), kedo_hit(included=False), TODAY) == expected
        not_found = replace_model(expected, kedo_says=CaseView.NOT_FOUND)
        assert dispute(detention_started(), case(), None, TODAY) == not_found
        answer = KedoLookupResult(
            found=False, looked_up_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
        )
        assert dispute(detention_started(), case(), answer, TODAY) == not_found

    def test_an_exclusion_dated_ahead_is_named_with_its_day(self) -> None:
        ahead = replace(case(status="excluded"), excluded_on=TODAY + dt.timedelta(days=3))
        assert dispute(detention_started(), ahead, None, TODAY) == CaseDisputed(
            zvh=ZVH,
            hub_says=CaseView.INCLUDED,
            kedo_says=CaseView.NOT_FOUND,
            met_by="nl.ketenhub.detention.started.v1",
            included_since=self.SINCE,
            excluded_on=TODAY + dt.timedelta(days=3),
        )

    def test_an_included_case_names_no_exclusion_day_even_a_stale_one(self) -> None:
        """The store clears the day on re-inclusion; the notice does not rely on it."""
        stale = replace(case(), excluded_on=TODAY - dt.timedelta(days=30))
        assert dispute(detention_started(), stale, None, TODAY) == CaseDisputed(
            zvh=ZVH,
            hub_says=CaseView.INCLUDED,
            kedo_says=CaseView.NOT_FOUND,
            met_by="nl.ketenhub.detention.started.v1",
            included_since=self.SINCE,
        )

    def test_its_one_addressee_is_the_zvh_procesregisseur(self) -> None:
        closed = replace(case(status="excluded"), excluded_on=TODAY)
        notice = dispute(detention_started(), closed, kedo_hit(), TODAY)
        assert notice is not None
        assert dispute_context(notice) == CaseContext(
            found=True,
            included=False,
            zvh=ZVH,
            team=(TeamMember(partner=ZVH, role=R.PROCESREGISSEUR),),
        )


def replace_model(model: CaseDisputed, **update: object) -> CaseDisputed:
    return CaseDisputed.model_validate({**model.model_dump(), **update})


def test_the_flow_of_an_event_is_its_first_routes() -> None:
    assert flow_of(detention_started()) is Flow.A
    assert flow_of(transferred()) is Flow.D
    assert flow_of(ended("GM0363")) is Flow.E
    assert flow_of(client_included()) is Flow.B
    assert flow_of(moved()) is Flow.G
    assert flow_of(crisis_contact()) is Flow.F
    # An event no flow names (a KEDO answer) counts as a detention notice's flow.
    assert flow_of(kedo_hit()) is Flow.A


class TestBreakGlass:
    """A conflict-of-duties decision in force adds its recipient for the medical fields it
    releases (document 004); the policy decides each field afterwards."""

    NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
    MEDICAL = ("assessment", "outcome")
    TEAM = CaseContext(
        found=True,
        included=True,
        zvh=ZVH,
        team=(
            TeamMember(partner=ZVH, role=R.PROCESREGISSEUR),
            TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
            TeamMember(partner="crisis:amsterdam", role=R.CRISISDIENST),
        ),
    )

    def decision(
        self, recipient: str, releases: tuple[str, ...] = ("assessment",), *, days: int = 1
    ) -> ConflictDecision:
        return ConflictDecision(
            subject="psn",
            decision_id=f"d-{recipient}",
            decided_by="Dr. A",
            recipient=recipient,
            releases=releases,
            reason="Acuut gevaar voor derden.",
            decided_at=self.NOW - dt.timedelta(days=2),
            valid_until=self.NOW + dt.timedelta(days=days),
        )

    def run(
        self,
        decisions: list[ConflictDecision],
        found: list[Addressee] | None = None,
        event: CanonicalEvent | None = None,
        sender: str | None = "crisis:amsterdam",
    ) -> list[Addressee]:
        event = event or crisis_contact()
        if found is None:
            found = addressees(event, self.TEAM, sender)
        return with_break_glass(event, self.TEAM, found, decisions, self.MEDICAL, self.NOW, sender)

    def test_without_a_flow_or_a_decision_nothing_changes(self) -> None:
        found = [Addressee(LLZ, R.LEVENSLOOPCOORDINATOR, Flow.F, LLA, None)]
        assert self.run([self.decision("politie")], found, event=kedo_hit()) == found
        assert self.run([], found) == found

    def test_the_recipient_joins_with_exactly_the_released_fields(self) -> None:
        police = self.decision("politie", ("assessment", "outcome", "diagnosis"))
        assert self.run([police]) == [
            Addressee(LLZ, R.LEVENSLOOPCOORDINATOR, Flow.F, LLA, None),
            Addressee(ZVH, R.PROCESREGISSEUR, Flow.F, LLA, None),
            Addressee("politie", R.POLITIE, Flow.F, LLA, frozenset({"assessment", "outcome"})),
        ]

    def test_a_team_member_joins_in_its_team_role_and_the_flow_is_the_events(self) -> None:
        crisis = self.decision("crisis:amsterdam", ("medical",))
        assert self.run([crisis], [], event=moved(), sender=ZVH) == [
            Addressee("crisis:amsterdam", R.CRISISDIENST, Flow.G, LLA, frozenset(self.MEDICAL))
        ]
        # A partner of no role the hub knows (DJI) is not added.
        assert self.run([self.decision("dji")], []) == []

    def test_the_sender_an_expired_decision_and_nothing_carried_are_skipped(self) -> None:
        from_sender = self.decision("crisis:amsterdam")
        expired = self.decision("politie", days=-1)
        elsewhere = self.decision("reclassering", ("diagnosis",))
        assert self.run([from_sender, expired, elsewhere], []) == []
        # After each skipped decision the next one still counts.
        police = self.decision("politie")
        assert self.run([from_sender, expired, elsewhere, police], []) == [
            Addressee("politie", R.POLITIE, Flow.F, LLA, frozenset({"assessment"}))
        ]

    def test_a_named_addressee_gets_the_released_fields_added(self) -> None:
        narrow = Addressee(LLZ, R.LEVENSLOOPCOORDINATOR, Flow.F, LLA, frozenset({"zvh"}))
        everything = Addressee(ZVH, R.PROCESREGISSEUR, Flow.F, LLA, None)
        decisions = [
            self.decision(LLZ, ("assessment",)),
            self.decision(ZVH, ("medical",)),
            self.decision("reclassering", ("outcome",)),
        ]
        assert self.run(decisions, [narrow, everything]) == [
            Addressee(LLZ, R.LEVENSLOOPCOORDINATOR, Flow.F, LLA, frozenset({"zvh", "assessment"})),
            everything,
            Addressee("reclassering", R.RECLASSERING, Flow.F, LLA, frozenset({"outcome"})),
        ]


def test_a_contact_kedo_names_in_a_role_its_partner_cannot_hold_is_no_member() -> None:
    """KEDO names the LLC's partner; one whose kind cannot be an LLC (here a
    municipality) is kept as the notice's contact but is not addressed as the LLC."""
    wrong = LLC.model_copy(update={"partner": "gemeente:GM0344"})
    context = case_context(detention_started(), None, kedo_hit(llc=wrong), TODAY)
    assert ("gemeente:GM0344", R.LEVENSLOOPCOORDINATOR) not in {
        (m.partner, m.role) for m in context.team
    }
    assert context.contacts[R.LEVENSLOOPCOORDINATOR] == wrong
    right = case_context(detention_started(), None, kedo_hit(), TODAY)
    assert (LLC.partner, R.LEVENSLOOPCOORDINATOR) in {(m.partner, m.role) for m in right.team}
