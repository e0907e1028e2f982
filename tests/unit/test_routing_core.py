"""The router's pure core, without a database or a broker: a decision table of what one
event plans from the client's state as it stood, and that the plan depends on its
inputs alone."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from hub.routing.cedar_policy import CedarPolicy
from hub.routing.core import EventPlan, Inputs, Rules, authority_problem, plan_event, replan
from hub.routing.lookup import not_found
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientIncluded, ExclusionReason, TeamMember, TeamRole
from hub.schemas.common import Facility
from hub.schemas.consent import ConflictDecision
from hub.schemas.consent_profile import read_consent
from hub.schemas.deliveries import NotificationDelivery, Outcome
from hub.schemas.envelope import HUB_SOURCE, Envelope, partner_source
from hub.settings import RoutingSettings
from hub.state.cases import Case
from hub.state.consents import PolicyFacts
from hub.state.detentions import Stay
from hub.state.labels import LabelAction
from tests.data import (
    TEST_BSNS,
    client_included,
    conflict_decision,
    crisis_contact,
    detention_started,
    doorbreking,
    fhir_consent,
    kedo_hit,
    pseudonymiser,
)

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
POLICY = CedarPolicy()
DIGEST = detention_started().content_digest()
FOUR = {"gemeente:GM0363", "llz:fivoor", "zvh:amsterdam", "pi:pi-ams"}
LABELLED = client_included(
    team=(
        *client_included().team,
        TeamMember(partner="politie", role=TeamRole.POLITIE),
        TeamMember(partner="reclassering", role=TeamRole.RECLASSERING),
        TeamMember(partner="crisis:amsterdam", role=TeamRole.CRISISDIENST),
    )
)


def counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"ref-new-{next(numbers)}"


def plan(
    event: CanonicalEvent,
    inputs: Inputs,
    *,
    sender: str = "dji",
    envelope: Envelope | None = None,
    mint: Callable[[], str] | None = None,
) -> EventPlan:
    envelope = envelope or Envelope.for_event(
        event, subject=SUBJECT, source=partner_source(sender), event_id="e-1", time=NOW
    )
    rules = Rules(POLICY, frozenset(RoutingSettings().bsn_authorised), NOW, mint or counter())
    return plan_event(envelope, event, inputs, rules)


def inputs(**changes: object) -> Inputs:
    fields: dict[str, object] = {
        "case": None,
        "found": kedo_hit(),
        "facts": PolicyFacts(),
        "stay": None,
        "references": {},
    }
    fields.update(changes)
    return Inputs(**fields)  # type: ignore[arg-type]


def case_of(included: ClientIncluded) -> Case:
    """The case an inclusion leaves, as the state store would hand it over."""
    return Case(
        subject=SUBJECT,
        status="included",
        zvh=included.zvh,
        municipality=included.municipality,
        included_since=included.included_since,
        team=included.team,
        contacts={
            TeamRole.LEVENSLOOPCOORDINATOR: included.llc,
            TeamRole.CASUSREGISSEUR: included.casusregisseur,
            TeamRole.PROCESREGISSEUR: included.procesregisseur,
        },
    )


def recipients(planned: EventPlan) -> set[str]:
    return {o.notification.recipient for o in planned.deliveries}


def test_without_a_case_only_no_case_is_audited() -> None:
    planned = plan(detention_started(), inputs(found=not_found()))
    assert [e.outcome for e in planned.entries] == ["NO_CASE"]
    assert (planned.deliveries, planned.labels, planned.record_detention) == ([], [], False)


def test_a_first_start_opens_the_stay_and_tells_the_four() -> None:
    planned = plan(detention_started(), inputs())
    assert planned.entries[0].outcome == "START"
    assert recipients(planned) == FOUR
    assert (planned.record_detention, planned.stay_key) == (True, "e-1")
    assert not any(o.notification.correction for o in planned.deliveries)
    delivered = {o.notification.idempotency_key for o in planned.deliveries}
    assert delivered == {e.delivery_id for e in planned.entries[1:]}, "one audit per delivery"


@pytest.mark.parametrize(
    ("stay", "start", "outcome", "sent", "correction"),
    [
        (Stay("s-1", None, "e-0", DIGEST), {}, "DUPLICATE_START", 0, False),
        (Stay("s-1", None, "e-0", DIGEST), {"source_event_id": "X-2"}, "DUPLICATE_START", 0, False),
        (Stay("s-1", None, "e-0", "another digest"), {}, "CORRECTION", 4, True),
        (Stay("s-1", None, None, None), {}, "START", 4, False),
        (Stay("s-1", dt.date(2026, 11, 1), "e-0", "d"), {}, "START", 4, False),
        (Stay("s-1", dt.date(2026, 12, 1), "e-0", "d"), {}, "CORRECTION", 4, True),
    ],
)  # fmt: skip
def test_a_start_against_the_stay_on_record(
    stay: Stay, start: dict[str, object], outcome: str, sent: int, correction: bool
) -> None:
    planned = plan(detention_started(**start), inputs(stay=stay))
    assert planned.entries[0].outcome == outcome
    assert len(planned.deliveries) == sent
    assert planned.record_detention is (sent > 0)
    assert all(o.notification.correction is correction for o in planned.deliveries)


def test_a_correction_to_another_prison_tells_that_prison() -> None:
    vught = Facility(code="PI-VUG", name="PI Vught")
    stay = Stay("s-1", None, "e-0", detention_started().content_digest())
    planned = plan(detention_started(facility=vught), inputs(stay=stay))
    assert recipients(planned) == FOUR - {"pi:pi-ams"} | {"pi:pi-vug"}


def test_an_inclusion_asks_each_label_partner_with_its_own_handle() -> None:
    planned = plan(
        LABELLED, inputs(found=None, references={"politie": "ref-kept"}), sender="zvh:amsterdam"
    )
    asks = {a.partner: a for a in planned.labels}
    assert set(asks) == {"politie", "reclassering", "crisis:amsterdam"}
    assert asks["politie"].reference == "ref-kept", "a handle is made once"
    assert {asks["reclassering"].reference, asks["crisis:amsterdam"].reference} == {
        "ref-new-1",
        "ref-new-2",
    }
    assert all(a.action is LabelAction.SET for a in asks.values())
    for ask in asks.values():
        assert ask.outgoing is not None
        assert ask.denied is None
        assert planned.deliveries[ask.outgoing].notification.recipient == ask.partner


def test_a_signal_carries_medical_fields_only_with_a_consent() -> None:
    case = case_of(client_included())
    without = plan(crisis_contact(), inputs(case=case), sender="crisis:amsterdam")
    llc = [o.notification for o in without.deliveries if o.notification.recipient == "llz:fivoor"]
    assert llc
    assert "assessment" not in llc[0].content
    consent = read_consent(fhir_consent("c-1", actor="llz:fivoor"))
    with_consent = plan(
        crisis_contact(),
        inputs(case=case, facts=PolicyFacts(consents=(consent,))),
        sender="crisis:amsterdam",
    )
    llc = [
        o.notification for o in with_consent.deliveries if o.notification.recipient == "llz:fivoor"
    ]
    assert "assessment" in llc[0].content


def _breach(**changes: Any) -> ConflictDecision:
    return conflict_decision(SUBJECT, NOW, **changes)


def _to(planned: EventPlan, partner: str) -> list[NotificationDelivery]:
    return [o.notification for o in planned.deliveries if o.notification.recipient == partner]


def test_a_conflict_of_duties_sends_the_police_exactly_the_released_field() -> None:
    """Issue 22 item 4: no route names the police for a crisis contact; the decision does."""
    case = case_of(client_included())
    plain = plan(crisis_contact(), inputs(case=case), sender="crisis:amsterdam")
    assert _to(plain, "politie") == []
    facts = PolicyFacts(conflict_decisions=(_breach(),))
    held = {"politie": "lla-police-1"}
    broken = plan(
        crisis_contact(),
        inputs(case=case, facts=facts, references=held),
        sender="crisis:amsterdam",
    )
    (police,) = _to(broken, "politie")
    assert police.label_reference == "lla-police-1", "the notice names the subscription held"
    assert broken.labels == [], "and asks nothing of the label"
    assert police.content == {"assessment": crisis_contact().assessment}
    assert police.decision.outcome is Outcome.PERMIT_BREAK_GLASS
    assert police.decision.legal_bases == ("conflict-van-plichten",)
    assert police.decision.released_by == ("DVP-1",)
    assert police.recipient_role == "politie"
    assert not police.bsn_permitted
    (llc,) = _to(broken, "llz:fivoor")
    assert "assessment" not in llc.content, "the LLC's own basis is unchanged"
    entry = next(e for e in broken.entries if e.recipient == "politie")
    assert entry.outcome == "PERMIT_BREAK_GLASS"
    assert entry.disclosed_fields == ("assessment",)


def test_an_expired_or_foreign_decision_sends_the_police_nothing() -> None:
    case = case_of(client_included())
    for breach in (
        _breach(valid_until=NOW - dt.timedelta(minutes=1), decided_at=NOW - dt.timedelta(days=1)),
        _breach(releases=("outcome",), recipient="reclassering"),
    ):
        facts = PolicyFacts(conflict_decisions=(breach,))
        planned = plan(crisis_contact(), inputs(case=case, facts=facts), sender="crisis:amsterdam")
        assert _to(planned, "politie") == []


def test_a_release_to_a_route_with_a_narrow_field_set_adds_the_field() -> None:
    case = case_of(client_included())
    facts = PolicyFacts(conflict_decisions=(_breach(recipient="zvh:amsterdam"),))
    planned = plan(crisis_contact(), inputs(case=case, facts=facts), sender="crisis:amsterdam")
    (zvh,) = _to(planned, "zvh:amsterdam")
    assert zvh.content["assessment"] == crisis_contact().assessment
    assert zvh.decision.outcome is Outcome.PERMIT_BREAK_GLASS


def test_the_plan_depends_on_its_inputs_alone() -> None:
    envelope = Envelope.for_event(
        LABELLED, subject=SUBJECT, source=partner_source("zvh:amsterdam"), event_id="e-1"
    )
    first = plan(LABELLED, inputs(found=None), envelope=envelope)
    again = plan(LABELLED, inputs(found=None), envelope=envelope)
    assert first == again


def _delivered_to_llc(facts: PolicyFacts) -> tuple[Envelope, NotificationDelivery]:
    """The crisis contact as the LLC got it (or would have), decided with ``facts``."""
    case = case_of(client_included())
    envelope = Envelope.for_event(
        crisis_contact(), subject=SUBJECT, source=partner_source("crisis:amsterdam"), time=NOW
    )
    planned = plan(crisis_contact(), inputs(case=case, facts=facts), envelope=envelope)
    (llc,) = [o for o in planned.deliveries if o.notification.recipient == "llz:fivoor"]
    return llc.envelope, llc.notification


CONSENTED = PolicyFacts(consents=(read_consent(fhir_consent("c-1", actor="llz:fivoor")),))


@pytest.mark.parametrize(
    ("facts", "case", "sent", "removed_now"),
    [
        (CONSENTED, client_included(), True, ()),
        (PolicyFacts(), client_included(), True, ("assessment", "outcome")),
        (CONSENTED, None, True, ()),
        (CONSENTED, "excluded", False, None),
    ],
)
def test_a_replay_decides_again_with_the_facts_of_now(
    facts: PolicyFacts, case: object, sent: bool, removed_now: tuple[str, ...] | None
) -> None:
    envelope, delivery = _delivered_to_llc(CONSENTED)
    state = case_of(client_included()) if case is not None else None
    if case == "excluded" and state is not None:
        state = replace(state, status="excluded")
    rules = Rules(POLICY, frozenset(RoutingSettings().bsn_authorised), NOW, counter())
    decided = replan("letter-1", envelope, delivery, state, facts, rules)
    assert (decided.delivery is not None) is sent
    assert decided.audit.delivery_id == delivery.idempotency_key
    if decided.delivery is None:
        assert decided.outcome == "DENY"
        return
    again = decided.delivery.notification
    assert again.idempotency_key == delivery.idempotency_key, "the key stays"
    assert decided.removed_now == removed_now
    assert set(again.content) <= set(delivery.content), "a replay never adds a field"
    repeated = replan("letter-1", envelope, delivery, state, facts, rules).delivery
    assert repeated is not None
    assert repeated.envelope.id == decided.delivery.envelope.id, "one replay id per letter"


def test_a_label_set_replayed_after_the_client_left_is_denied_a_withdrawal_goes() -> None:
    """Found by an outside look: the label partner's rule does not ask for the team, so
    a label set replayed after the exclusion went to the police."""
    envelope = Envelope.for_event(
        LABELLED, subject=SUBJECT, source=partner_source("zvh:amsterdam"), time=NOW
    )
    planned = plan(LABELLED, inputs(found=None), envelope=envelope)
    (label_set,) = [o for o in planned.deliveries if o.notification.recipient == "politie"]
    excluded = replace(case_of(LABELLED), status="excluded")
    rules = Rules(POLICY, frozenset(RoutingSettings().bsn_authorised), NOW, counter())
    decided = replan(
        "letter-2", label_set.envelope, label_set.notification, excluded, PolicyFacts(), rules
    )
    assert decided.delivery is None
    assert decided.outcome == "DENY"
    assert "left the approach" in decided.explanation
    still = replan(
        "letter-2",
        label_set.envelope,
        label_set.notification,
        case_of(LABELLED),
        PolicyFacts(),
        rules,
    )
    assert still.delivery is not None, "while the client is in the approach it goes"


# Issue 22, item 5: conservative when the hub and KEDO disagree, and an exclusion dated
# ahead takes effect on its day (Europe/Amsterdam).

ZVH = "zvh:amsterdam"
AHEAD = dt.date(2027, 1, 15)


def at(moment: dt.datetime) -> Callable[[CanonicalEvent, Inputs], EventPlan]:
    """Plan as the router would at ``moment`` (the core reads no clock)."""

    def planned(event: CanonicalEvent, given: Inputs) -> EventPlan:
        envelope = Envelope.for_event(
            event, subject=SUBJECT, source=partner_source("dji"), event_id="e-1", time=moment
        )
        rules = Rules(POLICY, frozenset(RoutingSettings().bsn_authorised), moment, counter())
        return plan_event(envelope, event, given, rules)

    return planned


def excluded(on: dt.date, *, team: bool = True) -> Case:
    """The case after the ZVH's exclusion of ``on``: the team stays while it is ahead."""
    case = case_of(client_included())
    return replace(case, status="excluded", excluded_on=on, team=case.team if team else ())


def only_the_dispute_notice(planned: EventPlan) -> NotificationDelivery:
    """Nothing of the detention goes anywhere; the ZVH alone gets label facts."""
    assert planned.entries[0].outcome == "DISPUTED"
    assert planned.entries[0].action == "dispute"
    assert planned.entries[0].missing == ("hub-kedo-dispute",)
    assert (planned.labels, planned.record_detention, planned.stay_key) == ([], False, None)
    (out,) = planned.deliveries
    notice = out.notification
    assert notice.recipient == ZVH
    assert notice.recipient_role == "procesregisseur"
    assert notice.source_type == "nl.ketenhub.case.disputed.v1"
    assert set(notice.content_categories.values()) == {"label"}
    assert "facility" not in notice.content
    assert "person_name" not in notice.content
    assert notice.decision.outcome is Outcome.PERMIT
    assert out.envelope.correlationid == "e-1", "the same flow as the event"
    (decided,) = planned.entries[1:]
    assert (decided.recipient, decided.event_id, decided.delivery_id) == (
        ZVH,
        "e-1",
        notice.idempotency_key,
    )
    return notice


def test_hub_closed_and_kedo_included_sends_only_the_notice_to_the_zvh() -> None:
    planned = plan(detention_started(), inputs(case=excluded(dt.date(2026, 11, 1), team=False)))
    notice = only_the_dispute_notice(planned)
    assert notice.content["hub_says"] == "excluded"
    assert notice.content["kedo_says"] == "included"
    assert notice.content["excluded_on"] == "2026-11-01"
    assert notice.content["met_by"] == "nl.ketenhub.detention.started.v1"
    assert "excluded on 2026-11-01" in planned.entries[0].object


@pytest.mark.parametrize(
    ("answer", "kedo_says"),
    [(kedo_hit(included=False, llc=None), "not-included"), (not_found(NOW), "not-found")],
)
def test_hub_included_and_kedo_not_included_sends_only_the_notice(
    answer: object, kedo_says: str
) -> None:
    planned = plan(detention_started(), inputs(case=case_of(client_included()), found=answer))
    notice = only_the_dispute_notice(planned)
    assert (notice.content["hub_says"], notice.content["kedo_says"]) == ("included", kedo_says)
    assert "excluded_on" not in notice.content


@pytest.mark.parametrize(
    ("case", "found", "outcome", "sent"),
    [
        (None, kedo_hit(), "START", FOUR),
        ("included", kedo_hit(), "START", FOUR),
        (None, not_found(NOW), "NO_CASE", set()),
        ("excluded", not_found(NOW), "NO_CASE", set()),
        ("excluded", kedo_hit(included=False, llc=None), "NO_CASE", set()),
    ],
)  # fmt: skip
def test_when_the_hub_and_kedo_agree_nothing_changes(
    case: str | None, found: object, outcome: str, sent: set[str]
) -> None:
    state = {
        None: None,
        "included": case_of(client_included()),
        "excluded": excluded(dt.date(2026, 11, 1), team=False),
    }[case]
    planned = plan(detention_started(), inputs(case=state, found=found))
    assert planned.entries[0].outcome == outcome
    assert recipients(planned) == sent


AMSTERDAM_MIDNIGHT = dt.datetime(2027, 1, 14, 23, tzinfo=dt.UTC)
"""15 January 2027, 00:00 in Amsterdam (CET, UTC+1)."""


@pytest.mark.parametrize(
    ("moment", "outcome", "sent"),
    [
        (NOW, "START", FOUR),
        (AMSTERDAM_MIDNIGHT - dt.timedelta(seconds=1), "START", FOUR),
        (AMSTERDAM_MIDNIGHT, "DISPUTED", {ZVH}),
    ],
)
def test_an_exclusion_dated_ahead_keeps_the_case_open_until_its_amsterdam_day(
    moment: dt.datetime, outcome: str, sent: set[str]
) -> None:
    """KEDO still says included throughout: before the day the client is routed as
    included; from the day the hub's case is closed, and KEDO's answer is a dispute."""
    planned = at(moment)(detention_started(), inputs(case=excluded(AHEAD)))
    assert planned.entries[0].outcome == outcome
    assert recipients(planned) == sent


def test_on_its_day_an_exclusion_and_kedo_not_found_agree_on_no_case() -> None:
    planned = at(AMSTERDAM_MIDNIGHT)(detention_started(), inputs(case=excluded(AHEAD), found=None))
    assert [e.outcome for e in planned.entries] == ["NO_CASE"]


def test_an_exclusion_dated_ahead_withdraws_no_label_now_and_is_routed_again_on_its_day() -> None:
    case = case_of(LABELLED)
    exclusion = ClientExcluded(zvh=ZVH, reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=AHEAD)
    planned = plan(exclusion, inputs(case=case, found=None), sender=ZVH)
    assert [e.outcome for e in planned.entries] == ["RECORDED"]
    assert "open until then" in planned.entries[0].object
    assert (planned.deliveries, planned.labels, planned.apply_case) == ([], [], True)
    assert planned.scheduled is not None
    assert planned.scheduled.due == AMSTERDAM_MIDNIGHT
    again = planned.scheduled.envelope
    assert (again.source, again.causationid) == (HUB_SOURCE, "e-1")
    assert again.id != "e-1"
    on_the_day = replace(case, status="excluded", excluded_on=AHEAD)
    rules = Rules(
        POLICY, frozenset(RoutingSettings().bsn_authorised), AMSTERDAM_MIDNIGHT, counter()
    )
    due = plan_event(again, exclusion, inputs(case=on_the_day, found=None), rules)
    assert {a.partner for a in due.labels} == {"politie", "reclassering", "crisis:amsterdam"}
    assert all(a.action is LabelAction.WITHDRAW for a in due.labels)
    assert recipients(due) == {"politie", "reclassering", "crisis:amsterdam"}
    assert due.scheduled is None
    included_again = plan_event(again, exclusion, inputs(case=case, found=None), rules)
    assert (included_again.deliveries, included_again.apply_case) == ([], False)
    assert "superseded" in included_again.entries[0].object


def test_an_exclusion_of_today_withdraws_at_once() -> None:
    exclusion = ClientExcluded(
        zvh=ZVH, reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=NOW.date()
    )
    planned = plan(exclusion, inputs(case=case_of(LABELLED), found=None), sender=ZVH)
    assert planned.scheduled is None
    assert {a.partner for a in planned.labels} == {"politie", "reclassering", "crisis:amsterdam"}


def test_a_replayed_dispute_notice_still_goes_to_the_zvh_after_the_exclusion() -> None:
    closed = excluded(dt.date(2026, 11, 1), team=False)
    planned = plan(detention_started(), inputs(case=closed))
    (out,) = planned.deliveries
    rules = Rules(POLICY, frozenset(RoutingSettings().bsn_authorised), NOW, counter())
    decided = replan("letter-2", out.envelope, out.notification, closed, PolicyFacts(), rules)
    assert decided.delivery is not None
    assert decided.delivery.notification.recipient == ZVH


def test_only_the_zvh_with_process_direction_speaks_for_the_client() -> None:
    """Found by an outside look: any ZVH could record a DOORBREKING (or a consent, an
    exclusion) for another ZVH's client, since every ZVH names itself in its messages."""
    case = case_of(client_included())
    today = NOW.date()
    breach = doorbreking("DVP-9", NOW)
    excluded = ClientExcluded(zvh="zvh:utrecht", reason=ExclusionReason.CLOSED, excluded_on=today)
    assert authority_problem(breach, case, "zvh:utrecht", today) == (
        "zvh:utrecht does not have process direction for this client; zvh:amsterdam has"
    )
    assert authority_problem(excluded, case, "zvh:utrecht", today) is not None
    assert authority_problem(client_included(), case, "zvh:utrecht", today) is not None
    assert authority_problem(breach, case, "zvh:amsterdam", today) is None
    assert authority_problem(breach, None, "zvh:utrecht", today) is None, "no case yet"
    assert authority_problem(detention_started(), case, "dji", today) is None
    closed = replace(case, status="excluded", excluded_on=today - dt.timedelta(days=1))
    assert authority_problem(client_included(), closed, "zvh:utrecht", today) is None
