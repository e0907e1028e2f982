"""The decision per recipient and field, and the Mitz consent conventions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.routing import mitz
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.conditions import RuleResult
from hub.routing.decision import (
    DecisionInput,
    FieldSpec,
    Purpose,
    Recipient,
    Verdict,
    decide,
)
from hub.schemas.categories import DataCategory
from hub.schemas.consent import ConflictDecision, LegalTitle, TitleKind
from hub.schemas.consent_profile import read_consent
from hub.schemas.deliveries import Outcome
from tests.data import TEST_BSNS, pseudonymiser
from tests.data import fhir_consent as consent

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
POLICY = CedarPolicy()
LLC = Recipient(partner="llz:fivoor", role="levensloopcoordinator", in_team=True, may_hold_bsn=True)
FIELDS = (
    FieldSpec(name="facility", category=DataCategory.JUSTICE),
    FieldSpec(name="person_name", category=DataCategory.IDENTITY),
    FieldSpec(
        name="assessment",
        category=DataCategory.MEDICAL,
        relevant_roles=("levensloopcoordinator", "crisisdienst"),
    ),
)


def _decide(**changes: Any) -> Any:
    data: dict[str, Any] = {
        "subject": SUBJECT,
        "fields": FIELDS,
        "recipient": LLC,
        "purpose": Purpose.LEVENSLOOPAANPAK,
        "now": NOW,
    }
    data.update(changes)
    return decide(DecisionInput(**data), POLICY)


class TestMitz:
    def resolve(
        self, *consents: dict[str, Any], recipient: str = "llz:fivoor"
    ) -> mitz.ConsentVerdict:
        rules = [read_consent(c) for c in consents]
        return mitz.resolve(rules, recipient=recipient, category=DataCategory.MEDICAL, now=NOW)

    def test_no_choice_means_no(self) -> None:
        assert not self.resolve().permitted

    def test_generic_consent_permits(self) -> None:
        assert self.resolve(consent("c1")).consent_id == "c1"

    def test_most_specific_wins(self) -> None:
        verdict = self.resolve(
            consent("c1", "deny"), consent("c2", actor="llz:fivoor", cls="medical")
        )
        assert verdict.permitted
        assert verdict.consent_id == "c2"

    def test_objection_beats_consent_of_equal_specificity(self) -> None:
        verdict = self.resolve(
            consent("c1", actor="llz:fivoor"), consent("c2", "deny", actor="llz:fivoor")
        )
        assert not verdict.permitted
        assert verdict.consent_id == "c2"

    def test_consent_for_another_recipient_does_not_count(self) -> None:
        assert not self.resolve(consent("c1", actor="politie")).permitted

    def test_expired_consent_counts_as_absent(self) -> None:
        assert not self.resolve(consent("c1", end="2026-06-30")).permitted

    def test_nested_exception_inherits_and_wins(self) -> None:
        parent = consent(
            "c1", actor="llz:fivoor", nested=[{"type": "deny", "class": [{"code": "medical"}]}]
        )
        assert not self.resolve(parent).permitted


class TestDecision:
    def test_without_consent_medical_is_removed_and_explained(self) -> None:
        decision = _decide()
        assert decision.outcome is Outcome.PERMIT_REDACTED
        assert decision.removed_fields == ("assessment",)
        assert decision.field_verdicts["facility"] is Verdict.PERMIT
        assert decision.missing[0].code == "geen-grondslag-medisch"
        assert "toestemming" in decision.missing[0].message
        assert "wgs-samenwerkingsverband" in decision.legal_bases

    def test_with_consent_everything_goes(self) -> None:
        decision = _decide(consents=(consent("c1"),))
        assert decision.outcome is Outcome.PERMIT
        assert decision.consent_id == "c1"
        assert "consent" in decision.rule_ids

    def test_outside_the_team_nothing_goes(self) -> None:
        stranger = Recipient(
            partner="llz:other", role="levensloopcoordinator", in_team=False, may_hold_bsn=True
        )
        decision = _decide(recipient=stranger, consents=(consent("c1"),))
        assert decision.outcome is Outcome.DENY
        assert decision.missing[0].code == "geen-lid-netwerk"
        assert decision.legal_bases == ()

    def test_conflict_of_duties_alone_is_break_glass(self) -> None:
        doorbreking = ConflictDecision(
            subject=SUBJECT,
            decision_id="d1",
            decided_by="Dr. A",
            recipient="llz:fivoor",
            releases=("assessment",),
            reason="Ernstig gevaar voor derden",
            decided_at=NOW - dt.timedelta(days=1),
            valid_until=NOW + dt.timedelta(days=1),
        )
        decision = _decide(conflict_decisions=(doorbreking,))
        assert decision.outcome is Outcome.PERMIT_BREAK_GLASS
        assert decision.review_required

    def test_expired_title_counts_as_absent(self) -> None:
        title = LegalTitle(
            subject=SUBJECT,
            title_id="zm1",
            kind=TitleKind.ZORGMACHTIGING,
            includes_levensloopaanpak=True,
            valid_from=dt.date(2025, 1, 1),
            valid_until=dt.date(2025, 12, 31),
        )
        assert _decide(titles=(title,)).outcome is Outcome.PERMIT_REDACTED
        valid = title.model_copy(update={"valid_until": dt.date(2027, 1, 1)})
        assert _decide(titles=(valid,)).outcome is Outcome.PERMIT

    def test_bsn_only_to_authorised_recipients(self) -> None:
        no_bsn = LLC.model_copy(update={"may_hold_bsn": False})
        decision = _decide(recipient=no_bsn, consents=(consent("c1"),))
        assert decision.removed_fields == ("person_name",)
        assert decision.missing[0].code == "geen-bsn-bevoegdheid"

    def test_medical_field_irrelevant_to_the_role_is_removed(self) -> None:
        zvh = Recipient(
            partner="zvh:amsterdam", role="procesregisseur", in_team=True, may_hold_bsn=True
        )
        decision = _decide(recipient=zvh, consents=(consent("c1"),))
        assert decision.removed_fields == ("assessment",)
        assert decision.missing[0].code == "niet-relevant-voor-rol"


# --- property: no medical field without a valid basis at that moment ----------------------

partners = st.sampled_from(
    ["llz:fivoor", "zvh:amsterdam", "gemeente:GM0363", "politie", "crisis:ams"]
)
days = st.integers(min_value=-400, max_value=400).map(lambda d: NOW.date() + dt.timedelta(days=d))


@st.composite
def consents(draw: st.DrawFn) -> dict[str, Any]:
    start, end = sorted([draw(days), draw(days)])
    return consent(
        draw(st.text("abc123", min_size=1, max_size=4)),
        draw(st.sampled_from(["permit", "deny"])),
        actor=draw(st.none() | partners),
        cls=draw(st.sampled_from([None, "medical", "justice"])),
        start=start.isoformat(),
        end=end.isoformat() if draw(st.booleans()) else None,
    )


@st.composite
def titles(draw: st.DrawFn) -> LegalTitle:
    start, end = sorted([draw(days), draw(days)])
    return LegalTitle(
        subject=SUBJECT,
        title_id="t",
        kind=draw(st.sampled_from(list(TitleKind))),
        includes_levensloopaanpak=draw(st.booleans()),
        valid_from=start,
        valid_until=end,
    )


@st.composite
def conflicts(draw: st.DrawFn) -> ConflictDecision:
    start, end = sorted([draw(days), draw(days)])
    return ConflictDecision(
        subject=SUBJECT,
        decision_id="d",
        decided_by="Dr. A",
        recipient=draw(partners),
        releases=(draw(st.sampled_from(["assessment", "medical", "outcome"])),),
        reason="Ernstig gevaar",
        decided_at=dt.datetime.combine(start, dt.time(), dt.UTC),
        valid_until=dt.datetime.combine(end, dt.time(), dt.UTC) + dt.timedelta(hours=1),
    )


def _released(data: DecisionInput) -> bool:
    """Independent of the policy: a decision in force releases the assessment to them."""
    return any(
        d.recipient == data.recipient.partner
        and d.decided_at <= data.now < d.valid_until
        and set(d.releases) & {"assessment", "medical"}
        for d in data.conflict_decisions
    )


def _has_valid_basis(data: DecisionInput) -> bool:
    """Independent of the policy: is there any basis for medical data to this recipient now?"""
    today, who = data.now.date(), data.recipient.partner
    titled = any(
        t.includes_levensloopaanpak and t.valid_from <= today <= t.valid_until for t in data.titles
    )
    consented = mitz.resolve(
        data.consents, recipient=who, category=DataCategory.MEDICAL, now=data.now
    ).permitted
    return titled or _released(data) or consented


CASES = {"n": 0, "medical_permitted": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_property_cases(report: Callable[[str], None]) -> Iterator[None]:
    yield
    if CASES["n"]:
        assert CASES["medical_permitted"] > 0, "the property never met a permitted medical field"
    report(
        f"[policy] property test: {CASES['n']} random cases, "
        f"{CASES['medical_permitted']} of them permitted a medical field, each with a basis"
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    recipient=st.builds(
        Recipient,
        partner=partners,
        role=st.sampled_from(["levensloopcoordinator", "procesregisseur", "crisisdienst"]),
        in_team=st.booleans(),
        may_hold_bsn=st.booleans(),
    ),
    purpose=st.sampled_from(list(Purpose)),
    consent_list=st.lists(consents(), max_size=3),
    title_list=st.lists(titles(), max_size=2),
    conflict_list=st.lists(conflicts(), max_size=2),
    covenant=st.booleans(),
)
def test_no_medical_field_reaches_a_recipient_without_a_valid_basis(
    recipient: Recipient,
    purpose: Purpose,
    consent_list: list[dict[str, Any]],
    title_list: list[LegalTitle],
    conflict_list: list[ConflictDecision],
    covenant: bool,
) -> None:
    CASES["n"] += 1
    data = DecisionInput(
        subject=SUBJECT,
        fields=FIELDS,
        recipient=recipient,
        purpose=purpose,
        consents=tuple(consent_list),
        titles=tuple(title_list),
        conflict_decisions=tuple(conflict_list),
        covenant=covenant,
        now=NOW,
    )
    decision = decide(data, POLICY)
    if decision.field_verdicts["assessment"] is Verdict.PERMIT:
        CASES["medical_permitted"] += 1
        assert _has_valid_basis(data)
        assert purpose is Purpose.LEVENSLOOPAANPAK
        assert recipient.role in ("levensloopcoordinator", "crisisdienst") or _released(data)
    flipped = decide(data.model_copy(update={"covenant": not covenant}), POLICY)
    assert flipped.field_verdicts == decision.field_verdicts


# --- what mutation testing found untested (make mutate) -----------------------------------

GEMEENTE = Recipient(
    partner="gemeente:GM0363", role="casusregisseur", in_team=True, may_hold_bsn=True
)
POLICE = Recipient(partner="politie", role="politie", in_team=False, may_hold_bsn=False)
JUSTICE_ONLY = (FieldSpec(name="facility", category=DataCategory.JUSTICE),)
MEDICAL_ONLY = (FIELDS[2],)


class TestWhyWithheld:
    """Each missing condition is named for the case it stands for."""

    @pytest.mark.parametrize(
        ("recipient", "purpose", "now", "code"),
        [
            (POLICE, Purpose.LEVENSLOOPAANPAK, NOW, "labelpartner-alleen-label"),
            (
                LLC,
                Purpose.LEVENSLOOPAANPAK,
                dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC),
                "wgs-niet-van-kracht",
            ),
            (LLC, Purpose.NAZORG, NOW, "doel-niet-toegestaan"),
            (GEMEENTE, Purpose.OTHER, NOW, "doel-niet-toegestaan"),
        ],
    )
    def test_justice_withheld_and_why(
        self, recipient: Recipient, purpose: Purpose, now: dt.datetime, code: str
    ) -> None:
        decision = _decide(fields=JUSTICE_ONLY, recipient=recipient, purpose=purpose, now=now)
        assert decision.outcome is Outcome.DENY
        assert [m.code for m in decision.missing] == [code]
        assert decision.legal_bases == ()

    def test_the_gemeente_for_aftercare_receives_justice(self) -> None:
        decision = _decide(fields=JUSTICE_ONLY, recipient=GEMEENTE, purpose=Purpose.NAZORG)
        assert decision.outcome is Outcome.PERMIT
        assert decision.legal_bases == ("wettelijke-taak-nazorg",)

    def test_the_wgs_holds_from_its_first_day_in_amsterdam(self) -> None:
        first_day = dt.datetime(2025, 2, 28, 23, 30, tzinfo=dt.UTC)  # 1 March, 00:30 local
        assert _decide(fields=JUSTICE_ONLY, now=first_day).outcome is Outcome.PERMIT
        day_before = dt.datetime(2025, 2, 28, 22, 30, tzinfo=dt.UTC)
        assert _decide(fields=JUSTICE_ONLY, now=day_before).outcome is Outcome.DENY


class TestBases:
    def _title(self, kind: TitleKind, start: dt.date) -> LegalTitle:
        return LegalTitle(
            subject=SUBJECT,
            title_id="t1",
            kind=kind,
            includes_levensloopaanpak=True,
            valid_from=start,
            valid_until=dt.date(2027, 1, 1),
        )

    @pytest.mark.parametrize(
        ("kind", "basis"),
        [
            (TitleKind.ZORGMACHTIGING, "zorgmachtiging-lla"),
            (TitleKind.STRAFRECHTELIJKE_VOORWAARDE, "strafrechtelijke-voorwaarde-lla"),
        ],
    )
    def test_a_title_is_the_basis_of_its_own_kind_from_its_first_day(
        self, kind: TitleKind, basis: str
    ) -> None:
        decision = _decide(fields=MEDICAL_ONLY, titles=(self._title(kind, NOW.date()),))
        assert decision.legal_bases == (basis,)
        later = self._title(kind, NOW.date() + dt.timedelta(days=1))
        assert _decide(fields=MEDICAL_ONLY, titles=(later,)).outcome is Outcome.DENY

    def test_the_consent_is_named_only_for_a_message_with_medical_data(self) -> None:
        given = (consent("c1"),)
        assert _decide(fields=MEDICAL_ONLY, consents=given).consent_id == "c1"
        assert _decide(fields=JUSTICE_ONLY, consents=given).consent_id is None

    def test_a_rule_that_fired_on_a_denial_is_no_legal_basis(self) -> None:
        class ForbidsJustice:
            version = "test"

            def evaluate(self, category: DataCategory, conditions: Any) -> RuleResult:
                if category is DataCategory.JUSTICE:
                    return RuleResult(allowed=False, rule_ids=frozenset({"verbod"}))
                return POLICY.evaluate(category, conditions)

        fields = (*JUSTICE_ONLY, FieldSpec(name="zvh", category=DataCategory.LABEL))
        decision = decide(
            DecisionInput(
                subject=SUBJECT,
                fields=fields,
                recipient=LLC,
                purpose=Purpose.LEVENSLOOPAANPAK,
                now=NOW,
            ),
            ForbidsJustice(),
        )
        assert decision.rule_ids == ("verbod", "wgs-samenwerkingsverband")
        assert decision.legal_bases == ("wgs-samenwerkingsverband",)


class TestMitzProvisions:
    """Nested provisions: an exception inherits what its parent names, and is deeper."""

    def resolve(self, *consents: dict[str, Any]) -> mitz.ConsentVerdict:
        rules = [read_consent(c) for c in consents]
        return mitz.resolve(rules, recipient="llz:fivoor", category=DataCategory.MEDICAL, now=NOW)

    def test_an_exception_inherits_its_parent_s_actor(self) -> None:
        parent = consent(
            "c1", actor="llz:fivoor", nested=[{"type": "deny", "class": [{"code": "medical"}]}]
        )
        rival = consent("c2", actor="llz:fivoor", cls="medical")
        assert not self.resolve(parent, rival).permitted

    def test_an_exception_inherits_its_parent_s_class(self) -> None:
        nested = [
            {
                "type": "deny",
                "actor": [
                    {
                        "role": {"coding": [{"code": "IRCP"}]},
                        "reference": {
                            "identifier": {"system": "urn:ketenhub:partner", "value": "llz:fivoor"}
                        },
                    }
                ],
            }
        ]
        parent = consent("c1", cls="medical", nested=nested)
        rival = consent("c2", actor="llz:fivoor", cls="medical")
        assert not self.resolve(parent, rival).permitted

    def test_an_exception_of_equal_specificity_wins_by_depth(self) -> None:
        parent = consent("c1", actor="llz:fivoor", nested=[{"type": "deny"}])
        assert not self.resolve(parent).permitted
        allowing = consent("c1", "deny", actor="llz:fivoor", nested=[{"type": "permit"}])
        assert self.resolve(allowing).permitted

    def test_an_exception_for_another_category_leaves_the_parent(self) -> None:
        parent = consent("c1", nested=[{"type": "deny", "class": [{"code": "justice"}]}])
        assert self.resolve(parent).permitted

    def test_an_exception_names_its_own_recipient_and_period(self) -> None:
        actor = {
            "role": {"coding": [{"code": "IRCP"}]},
            "reference": {"identifier": {"system": "urn:ketenhub:partner", "value": "llz:fivoor"}},
        }
        parent = consent("c1", nested=[{"type": "deny", "actor": [actor]}])
        assert not self.resolve(parent).permitted
        later = consent("c1", nested=[{"type": "deny", "period": {"start": "2027-01-01"}}])
        assert self.resolve(later).permitted

    def test_only_a_provision_for_the_levensloopaanpak_counts(self) -> None:
        elsewhere = consent("c1")
        elsewhere["provision"]["purpose"] = [{"code": "nazorg"}]
        assert not self.resolve(elsewhere).permitted
        here = consent("c1")
        here["provision"]["purpose"] = [{"code": "levensloopaanpak"}]
        assert self.resolve(here).permitted

    def test_naming_the_actor_or_the_class_is_more_specific_than_neither(self) -> None:
        generic = consent("c1", "deny")
        assert self.resolve(generic, consent("c2", actor="llz:fivoor")).permitted
        assert self.resolve(generic, consent("c2", cls="medical")).permitted

    def test_the_actor_and_the_class_weigh_the_same(self) -> None:
        by_class = consent("c1", cls="medical")
        by_actor = consent("c2", "deny", actor="llz:fivoor")
        assert not self.resolve(by_class, by_actor).permitted
        by_actor = consent("c1", actor="llz:fivoor")
        by_class = consent("c2", "deny", cls="medical")
        assert not self.resolve(by_actor, by_class).permitted

    def test_an_inactive_consent_does_not_hide_the_next(self) -> None:
        draft = {**consent("c0"), "status": "draft"}
        assert self.resolve(draft, consent("c1")).consent_id == "c1"
