"""Who hears of an event, before the policy speaks: the effective team of one event
(hub.routing.recipients.case_context) and the addressees its flow names. Pure: each case
compares the whole answer, so a changed field, member or purpose shows."""

from __future__ import annotations

import datetime as dt

from hub.routing.decision import Purpose
from hub.routing.recipients import (
    LABEL_SET_FIELDS,
    PI_FIELDS,
    Addressee,
    CaseContext,
    addressees,
    case_context,
    routes_for,
)
from hub.schemas.case import (
    ClientExcluded,
    ClientMoved,
    ExclusionReason,
    KedoLookupResult,
    TeamMember,
    TeamRole,
)
from hub.schemas.common import Contact
from hub.schemas.deliveries import Flow
from hub.schemas.detention import DetentionEnded
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
                TeamMember(partner="dji", role=R.CASUSREGISSEUR),
                TeamMember(partner=GEMEENTE, role=R.CASUSREGISSEUR),
                TeamMember(partner="gemeente:GM0344", role=R.CASUSREGISSEUR),
                TeamMember(partner=LLZ, role=R.LEVENSLOOPCOORDINATOR),
                TeamMember(partner="pi:pi-ams", role=R.PI_BACKOFFICE),
            ),
            nazorg_only=frozenset({"gemeente:GM0344"}),
        )
        # The sender is skipped, and the partners after it in the same role still hear.
        assert addressees(detention_started(), context, "dji") == [
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
