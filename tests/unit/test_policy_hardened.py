"""Issue 22, items 1 to 4 and 6, as the outside review found them: each case here was
decided wrongly (or crashed) before, and must now be refused or decided closed."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from hub.cli import app
from hub.core import topics
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.decision import DecisionInput, FieldSpec, Purpose, Recipient, Verdict, decide
from hub.schemas.base import CanonicalEvent
from hub.schemas.categories import DataCategory, categorised
from hub.schemas.consent import ConflictDecision, LegalTitle, TitleKind
from hub.schemas.consent_profile import ProfileError, bound_to, read_consent
from hub.schemas.deliveries import Outcome
from hub.schemas.fhir import BSN_SYSTEM, PSEUDONYM_SYSTEM
from tests.data import TEST_BSNS, conflict_decision, fhir_consent, pseudonymiser

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
OTHER = pseudonymiser().pseudonym(TEST_BSNS[1])
POLICY = CedarPolicy()
M, J = DataCategory.MEDICAL, DataCategory.JUSTICE
LLC = Recipient(partner="llz:fivoor", role="levensloopcoordinator", in_team=True, may_hold_bsn=True)
ZVH = Recipient(partner="zvh:amsterdam", role="procesregisseur", in_team=True, may_hold_bsn=True)
POLICE = Recipient(partner="politie", role="politie", in_team=False, may_hold_bsn=False)
ASSESSMENT = FieldSpec(name="assessment", category=M, relevant_roles=("levensloopcoordinator",))
OUTCOME = FieldSpec(
    name="outcome", category=M, relevant_roles=("levensloopcoordinator", "procesregisseur")
)
FACILITY = FieldSpec(name="facility", category=J)


def _input(**changes: Any) -> DecisionInput:
    data: dict[str, Any] = {
        "subject": SUBJECT,
        "fields": (FACILITY, ASSESSMENT, OUTCOME),
        "recipient": LLC,
        "purpose": Purpose.LEVENSLOOPAANPAK,
        "now": NOW,
    }
    data.update(changes)
    return DecisionInput.model_validate(data)


def _decide(**changes: Any) -> Any:
    return decide(_input(**changes), POLICY)


def _breach(**changes: Any) -> ConflictDecision:
    return conflict_decision(SUBJECT, NOW, **changes)


def _title(**changes: Any) -> LegalTitle:
    data: dict[str, Any] = {
        "subject": SUBJECT,
        "title_id": "ZM-1",
        "kind": TitleKind.ZORGMACHTIGING,
        "includes_levensloopaanpak": True,
        "valid_from": dt.date(2026, 1, 1),
        "valid_until": dt.date(2026, 12, 31),
    }
    data.update(changes)
    return LegalTitle.model_validate(data)


# --- 1. the subject is part of every decision ----------------------------------------------


class TestSubject:
    def test_a_consent_about_another_client_is_ignored_and_named(self) -> None:
        decision = _decide(consents=(fhir_consent("c-other", patient=OTHER),))
        assert decision.field_verdicts["assessment"] is Verdict.DENY
        assert decision.consent_id is None
        assert decision.ignored == ("consent c-other: about another client",)

    def test_the_same_consent_about_this_client_permits(self) -> None:
        decision = _decide(consents=(fhir_consent("c-own", patient=SUBJECT),))
        assert decision.field_verdicts["assessment"] is Verdict.PERMIT
        assert decision.ignored == ()

    def test_a_title_or_decision_about_another_client_is_ignored(self) -> None:
        decision = _decide(
            titles=(_title(subject=OTHER),),
            conflict_decisions=(_breach(subject=OTHER, recipient="llz:fivoor"),),
        )
        assert decision.field_verdicts["assessment"] is Verdict.DENY
        assert set(decision.ignored) == {
            "title ZM-1: about another client",
            "conflict-of-duties DVP-1: about another client",
        }

    def test_the_subject_is_a_pseudonym_never_a_bsn(self) -> None:
        with pytest.raises(ValidationError, match="pseudonym"):
            _input(subject=TEST_BSNS[0])

    def test_binding_a_consent_checks_the_bsn_and_puts_the_pseudonym(self) -> None:
        consent = fhir_consent("c-1", patient=TEST_BSNS[0])
        bound = bound_to(consent, subject=SUBJECT, bsn=TEST_BSNS[0])
        assert bound["patient"]["identifier"] == {"system": PSEUDONYM_SYSTEM, "value": SUBJECT}
        assert TEST_BSNS[0] not in json.dumps(bound)
        with pytest.raises(ProfileError, match="another client"):
            bound_to(consent, subject=OTHER, bsn=TEST_BSNS[1])
        with pytest.raises(ProfileError, match="another client"):
            bound_to(fhir_consent("c-2", patient=OTHER), subject=SUBJECT, bsn=TEST_BSNS[0])


# --- 2. fail closed -------------------------------------------------------------------------


def _consent(change: Any) -> dict[str, Any]:
    consent = fhir_consent("c-1", actor="llz:fivoor", cls="medical", patient=SUBJECT)
    change(consent)
    return consent


def _set(path: str, value: Any) -> Any:
    def change(consent: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = consent
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()
REFUSED = {
    "type misspelled": (_set("provision.type", "permitt"), "provision.type"),
    "not a Consent": (_set("resourceType", "Patient"), "resourceType"),
    "no id": (_set("id", _DELETE), "id"),
    "unknown status": (_set("status", "approved"), "status"),
    "no patient": (_set("patient", _DELETE), "patient"),
    "patient by BSN on the bus": (
        _set("patient", {"identifier": {"system": BSN_SYSTEM, "value": TEST_BSNS[0]}}),
        "patient",
    ),
    "no provision": (_set("provision", _DELETE), "provision"),
    "provision as a list": (_set("provision", [{"type": "permit"}]), "provision"),
    "no provision type": (_set("provision.type", _DELETE), "provision.type"),
    "period ends before it starts": (
        _set("provision.period", {"start": "2026-06-01", "end": "2026-01-01"}),
        "provision.period",
    ),
    "invalid date": (_set("provision.period", {"start": "2026-02-30"}), "provision.period"),
    "a year is not a day": (_set("provision.period", {"start": "2026"}), "provision.period"),
    "moment without a zone": (
        _set("provision.period", {"start": "2026-01-01T10:00:00"}),
        "provision.period",
    ),
    "actor of an unknown system": (
        _set("provision.actor.0.reference.identifier.system", "urn:elsewhere"),
        "provision.actor.0",
    ),
    "actor that is no partner": (
        _set("provision.actor.0.reference.identifier.value", "somebody"),
        "provision.actor.0",
    ),
    "unknown class": (_set("provision.class", [{"code": "medisch"}]), "provision.class"),
    "unknown purpose": (_set("provision.purpose", [{"code": "research"}]), "provision.purpose"),
    "a restriction the hub cannot honour": (
        _set("provision.data", [{"meaning": "instance", "reference": {"reference": "X/1"}}]),
        "provision.data",
    ),
    "nested provision without a type": (
        _set("provision.provision", [{"class": [{"code": "medical"}]}]),
        "provision.provision.0.type",
    ),
}


class TestFailClosed:
    @pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
    def test_a_consent_outside_the_profile_is_refused_naming_the_element(self, case: str) -> None:
        change, where = REFUSED[case]
        with pytest.raises(ProfileError) as info:
            read_consent(_consent(change))
        assert info.value.path.startswith(where.split(".0")[0]), info.value
        with pytest.raises(ValidationError):
            _input(consents=(_consent(change),))

    def test_a_draft_consent_does_not_count(self) -> None:
        draft = _consent(_set("status", "draft"))
        assert _decide(consents=(draft,)).field_verdicts["assessment"] is Verdict.DENY
        active = _consent(_set("status", "active"))
        assert _decide(consents=(active,)).field_verdicts["assessment"] is Verdict.PERMIT

    @pytest.mark.parametrize("status", ["proposed", "rejected", "inactive", "entered-in-error"])
    def test_only_an_active_consent_counts(self, status: str) -> None:
        consent = _consent(_set("status", status))
        assert _decide(consents=(consent,)).field_verdicts["assessment"] is Verdict.DENY

    def test_a_title_that_ends_before_it_starts_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="before valid_from"):
            _title(valid_from=dt.date(2026, 6, 1), valid_until=dt.date(2026, 1, 1))

    def test_a_decision_that_ends_before_it_starts_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="never holds"):
            _breach(valid_until=NOW - dt.timedelta(days=2))

    def test_two_fields_of_one_name_are_refused(self) -> None:
        twin = FieldSpec(name="assessment", category=J)
        with pytest.raises(ValidationError, match="given twice"):
            _input(fields=(ASSESSMENT, twin))

    def test_a_moment_without_a_time_zone_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="timezone"):
            _input(now=NOW.replace(tzinfo=None))

    def test_an_unknown_role_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            Recipient(partner="llz:fivoor", role="behandelaar", in_team=True, may_hold_bsn=True)

    def test_an_unreadable_stored_consent_blocks_every_consent(self) -> None:
        consent = fhir_consent("c-1", patient=SUBJECT)
        assert _decide(consents=(consent,)).field_verdicts["assessment"] is Verdict.PERMIT
        blocked = _decide(consents=(consent,), unreadable_consents=("c-old",))
        assert blocked.field_verdicts["assessment"] is Verdict.DENY


class TestDecideCommand:
    """``hub policy decide`` answers bad input with one line and exit 2, never a traceback."""

    GOOD: ClassVar[dict[str, Any]] = {
        "subject": SUBJECT,
        "fields": [{"name": "facility", "category": "justice"}],
        "recipient": {
            "partner": "llz:fivoor",
            "role": "levensloopcoordinator",
            "in_team": True,
            "may_hold_bsn": True,
        },
        "purpose": "levensloopaanpak",
        "now": "2026-11-23T12:00:00+01:00",
    }

    def _run(self, tmp_path: Path, data: Any) -> Any:
        path = tmp_path / "input.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return CliRunner().invoke(app, ["policy", "decide", str(path)])

    def test_good_input_decides(self, tmp_path: Path) -> None:
        result = self._run(tmp_path, self.GOOD)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["outcome"] == "PERMIT"

    @pytest.mark.parametrize(
        ("case", "needle"),
        [
            ("invalid consent date", "consents.0"),
            ("provision as a list", "consents.0"),
            ("now without a time zone", "now"),
            ("not JSON", "is not JSON"),
            ("a BSN as subject", "pseudonym"),
        ],
    )
    def test_bad_input_is_one_line_and_exit_2(self, tmp_path: Path, case: str, needle: str) -> None:
        data: Any = copy.deepcopy(self.GOOD)
        consent = fhir_consent("c-1", patient=SUBJECT)
        if case == "invalid consent date":
            consent["provision"]["period"] = {"start": "2026-13-01"}
            data["consents"] = [consent]
        elif case == "provision as a list":
            consent["provision"] = [consent["provision"]]
            data["consents"] = [consent]
        elif case == "now without a time zone":
            data["now"] = "2026-11-23T12:00:00"
            data["consents"] = [consent]
        elif case == "not JSON":
            data = "{"
        else:
            data["subject"] = TEST_BSNS[0]
        result = self._run(tmp_path, data)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert needle in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output

    def test_a_missing_file_is_one_line_and_exit_2(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(app, ["policy", "decide", str(tmp_path / "nope.json")])
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert "cannot read" in result.output


# --- 3. every medical field declares its relevant roles -------------------------------------


class TestRelevantRoles:
    def test_a_medical_field_without_roles_cannot_be_declared(self) -> None:
        with pytest.raises(TypeError, match="relevant_roles"):
            categorised(M, description="A diagnosis.")

    def test_an_event_with_such_a_field_cannot_be_defined(self) -> None:
        from pydantic import Field

        with pytest.raises(TypeError, match="relevant"):

            class Diagnosed(CanonicalEvent):
                name: ClassVar[str] = "test.diagnosed"
                topic: ClassVar[topics.TopicSpec] = topics.SIGNAL
                diagnosis: str = Field(json_schema_extra={"x-data-category": "medical"})

    def test_an_unknown_role_cannot_be_named(self) -> None:
        with pytest.raises(TypeError, match="not a team role"):
            categorised(M, description="A diagnosis.", relevant_roles=("behandelaar",))

    def test_a_decision_input_with_such_a_field_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="relevant_roles"):
            FieldSpec(name="diagnosis", category=M)

    def test_no_medical_field_reaches_a_pi_with_a_consent(self) -> None:
        pi = Recipient(partner="pi:pi-ams", role="pi-backoffice", in_team=True, may_hold_bsn=True)
        decision = _decide(recipient=pi, consents=(fhir_consent("c-1", patient=SUBJECT),))
        assert decision.field_verdicts["assessment"] is Verdict.DENY
        assert decision.field_verdicts["outcome"] is Verdict.DENY


# --- 4. break-glass that works and is narrow ------------------------------------------------


class TestBreakGlass:
    def test_it_reaches_the_police_with_exactly_the_released_field(self) -> None:
        decision = _decide(recipient=POLICE, conflict_decisions=(_breach(),))
        assert decision.field_verdicts == {
            "facility": Verdict.DENY,
            "assessment": Verdict.PERMIT,
            "outcome": Verdict.DENY,
        }
        assert decision.outcome is Outcome.PERMIT_BREAK_GLASS
        assert decision.review_required
        assert decision.break_glass_fields == ("assessment",)
        assert decision.released_by == ("DVP-1",)
        assert decision.legal_bases == ("conflict-van-plichten",)

    def test_it_overrides_role_relevance_for_the_released_field_only(self) -> None:
        consent = fhir_consent("c-1", patient=SUBJECT)
        without = _decide(recipient=ZVH, consents=(consent,))
        assert without.field_verdicts["assessment"] is Verdict.DENY, "not relevant to the ZVH"
        breach = _breach(recipient="zvh:amsterdam")
        released = _decide(recipient=ZVH, consents=(consent,), conflict_decisions=(breach,))
        assert released.field_verdicts["assessment"] is Verdict.PERMIT
        assert released.outcome is Outcome.PERMIT_BREAK_GLASS

    def test_the_medical_category_releases_every_medical_field(self) -> None:
        decision = _decide(recipient=POLICE, conflict_decisions=(_breach(releases=("medical",)),))
        assert decision.field_verdicts["outcome"] is Verdict.PERMIT
        assert decision.field_verdicts["facility"] is Verdict.DENY

    def test_it_expires(self) -> None:
        later = NOW + dt.timedelta(days=1)
        decision = _decide(recipient=POLICE, conflict_decisions=(_breach(),), now=later)
        assert decision.outcome is Outcome.DENY
        assert decision.released_by == ()

    def test_it_holds_for_its_recipient_only(self) -> None:
        decision = _decide(recipient=POLICE, conflict_decisions=(_breach(recipient="llz:fivoor"),))
        assert decision.outcome is Outcome.DENY

    def test_it_never_releases_justice_data(self) -> None:
        from hub.schemas.consent import ConflictOfDutiesDecided

        recorded = {
            "decision_id": "DVP-2",
            "decided_by": {"name": "Dr. A", "role": "psychiater"},
            "recipient": "politie",
            "releases": ["facility"],
            "reason": "x",
            "decided_at": NOW,
            "valid_until": NOW + dt.timedelta(days=1),
        }
        with pytest.raises(ValidationError, match="not a medical field"):
            ConflictOfDutiesDecided.model_validate(recorded)
        to_kedo = {**recorded, "releases": ["assessment"], "recipient": "kedo"}
        with pytest.raises(ValidationError, match="receives no notices"):
            ConflictOfDutiesDecided.model_validate(to_kedo)
        decision = _decide(recipient=POLICE, conflict_decisions=(_breach(releases=("facility",)),))
        assert decision.field_verdicts["facility"] is Verdict.DENY


# --- 6. calendar days in Europe/Amsterdam ---------------------------------------------------


class TestAmsterdamDays:
    LATE = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    """00:30 on 24 November in Amsterdam."""

    def test_a_title_s_last_day_ends_at_midnight_in_amsterdam(self) -> None:
        title = _title(valid_until=dt.date(2026, 11, 23))
        utc = _decide(titles=(title,), now=self.LATE)
        local = _decide(
            titles=(title,), now=self.LATE.astimezone(dt.timezone(dt.timedelta(hours=2)))
        )
        assert utc.field_verdicts == local.field_verdicts
        assert utc.field_verdicts["assessment"] is Verdict.DENY
        before = _decide(titles=(title,), now=self.LATE - dt.timedelta(hours=1))
        assert before.field_verdicts["assessment"] is Verdict.PERMIT

    def test_a_consent_s_end_day_ends_at_midnight_in_amsterdam(self) -> None:
        consent = fhir_consent("c-1", end="2026-11-23", patient=SUBJECT)
        late = _decide(consents=(consent,), now=self.LATE)
        assert late.field_verdicts["assessment"] is Verdict.DENY
        earlier = _decide(consents=(consent,), now=self.LATE - dt.timedelta(hours=1))
        assert earlier.field_verdicts["assessment"] is Verdict.PERMIT

    def test_a_consent_s_first_day_starts_at_midnight_in_amsterdam(self) -> None:
        consent = fhir_consent("c-1", start="2026-11-24", patient=SUBJECT)
        assert _decide(consents=(consent,), now=self.LATE).field_verdicts["assessment"] is (
            Verdict.PERMIT
        )
