"""The FHIR Consent profile reader (hub.schemas.consent_profile), on which failing closed
rests: what a consent in the profile reads into, compared whole, and for each way out of
the profile the element it names and the reason it gives."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from hub.core.calendar import AMSTERDAM
from hub.schemas.categories import DataCategory
from hub.schemas.consent_profile import (
    ConsentRule,
    ConsentStatus,
    PatientIdentifier,
    ProfileError,
    Provision,
    ProvisionType,
    _moment,
    bound_to,
    read_consent,
)
from hub.schemas.fhir import BSN_SYSTEM, PARTNER_SYSTEM, PSEUDONYM_SYSTEM

SUBJECT = "psn-abc"
BSN = "999990019"
UTC1 = dt.timezone(dt.timedelta(hours=1))


def actor(value: str) -> dict[str, Any]:
    return {
        "role": {"coding": [{"code": "IRCP"}]},
        "reference": {"identifier": {"system": PARTNER_SYSTEM, "value": value}},
    }


def resource() -> dict[str, Any]:
    """A consent that uses every element the profile reads, on two levels."""
    return {
        "resourceType": "Consent",
        "id": "c-1",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "medical"}]}],
        "patient": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": SUBJECT}},
        "provision": {
            "type": "permit",
            "period": {"start": "2026-01-01", "end": "2026-12-31"},
            "actor": [actor("llz:fivoor"), actor("politie")],
            "class": [{"code": "medical"}, {"code": "justice"}],
            "purpose": [{"code": "levensloopaanpak"}, {"code": "nazorg"}],
            "provision": [
                {
                    "type": "deny",
                    "period": {"start": "2026-03-01T08:00:00+01:00"},
                    "actor": [actor("politie")],
                },
                {"type": "permit", "class": [{"system": "urn:x", "code": "medical"}]},
            ],
        },
    }


READ = ConsentRule(
    consent_id="c-1",
    status=ConsentStatus.ACTIVE,
    patient=PatientIdentifier(system=PSEUDONYM_SYSTEM, value=SUBJECT),
    provision=Provision(
        type=ProvisionType.PERMIT,
        start=dt.datetime(2026, 1, 1, tzinfo=AMSTERDAM),
        end=dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=AMSTERDAM),
        actors=frozenset({"llz:fivoor", "politie"}),
        classes=frozenset({DataCategory.MEDICAL, DataCategory.JUSTICE}),
        purposes=frozenset({"levensloopaanpak", "nazorg"}),
        nested=(
            Provision(
                type=ProvisionType.DENY,
                start=dt.datetime(2026, 3, 1, 8, tzinfo=UTC1),
                actors=frozenset({"politie"}),
            ),
            Provision(type=ProvisionType.PERMIT, classes=frozenset({DataCategory.MEDICAL})),
        ),
    ),
)


def changed(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    consent = resource()
    change(consent)
    return consent


def refusal(consent: Any, *, bsn_allowed: bool = False) -> tuple[str, str, str]:
    with pytest.raises(ProfileError) as info:
        read_consent(consent, bsn_allowed=bsn_allowed)
    return info.value.path, info.value.reason, str(info.value)


class TestRead:
    def test_a_consent_in_the_profile_reads_whole(self) -> None:
        original = resource()
        assert read_consent(original) == READ
        assert original == resource()

    def test_each_status_reads_as_itself(self) -> None:
        codes = ["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"]
        assert [s.value for s in ConsentStatus] == codes
        for code in codes:
            rule = read_consent({**resource(), "status": code})
            assert rule.status is ConsentStatus(code)
        assert [t.value for t in ProvisionType] == ["permit", "deny"]

    def test_a_period_of_one_day_or_one_moment_is_a_period(self) -> None:
        day = changed(
            lambda r: r["provision"].__setitem__(
                "period", {"start": "2026-06-01", "end": "2026-06-01"}
            )
        )
        provision = read_consent(day).provision
        assert (provision.start, provision.end) == (
            dt.datetime(2026, 6, 1, tzinfo=AMSTERDAM),
            dt.datetime(2026, 6, 1, 23, 59, 59, 999999, tzinfo=AMSTERDAM),
        )
        moment = {"start": "2026-06-01T10:00:00+00:00", "end": "2026-06-01T10:00:00+00:00"}
        once = changed(lambda r: r["provision"].__setitem__("period", moment))
        provision = read_consent(once).provision
        assert provision.start == provision.end == dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC)
        open_ended = changed(lambda r: r["provision"].pop("period"))
        provision = read_consent(open_ended).provision
        assert (provision.start, provision.end) == (None, None)

    def test_at_a_partners_edge_the_patient_may_be_named_by_the_bsn(self) -> None:
        by_bsn = changed(
            lambda r: r.__setitem__("patient", {"identifier": {"system": BSN_SYSTEM, "value": BSN}})
        )
        rule = read_consent(by_bsn, bsn_allowed=True)
        assert rule == READ.model_copy(
            update={"patient": PatientIdentifier(system=BSN_SYSTEM, value=BSN)}
        )
        assert refusal(by_bsn) == (
            "patient.identifier",
            f"the patient is named by an identifier of {PSEUDONYM_SYSTEM}",
            f"patient.identifier: the patient is named by an identifier of {PSEUDONYM_SYSTEM}",
        )
        assert read_consent(resource(), bsn_allowed=True) == READ

    def test_a_rule_is_about_the_client_its_pseudonym_names(self) -> None:
        assert READ.about(SUBJECT)
        assert not READ.about("psn-other")
        by_bsn = READ.model_copy(
            update={"patient": PatientIdentifier(system=BSN_SYSTEM, value=SUBJECT)}
        )
        assert not by_bsn.about(SUBJECT)


class TestHoldsAt:
    START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    END = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    TICK = dt.timedelta(microseconds=1)

    def test_both_bounds_belong_to_the_period(self) -> None:
        provision = Provision(type=ProvisionType.PERMIT, start=self.START, end=self.END)
        assert provision.holds_at(self.START)
        assert provision.holds_at(self.END)
        assert not provision.holds_at(self.START - self.TICK)
        assert not provision.holds_at(self.END + self.TICK)

    def test_an_open_bound_holds_on_that_side(self) -> None:
        from_start = Provision(type=ProvisionType.PERMIT, start=self.START)
        assert from_start.holds_at(self.END + dt.timedelta(days=9999))
        assert not from_start.holds_at(self.START - self.TICK)
        until_end = Provision(type=ProvisionType.PERMIT, end=self.END)
        assert until_end.holds_at(self.START - dt.timedelta(days=9999))
        assert not until_end.holds_at(self.END + self.TICK)
        assert Provision(type=ProvisionType.DENY).holds_at(self.START)


def _unsupported(name: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r["provision"]["provision"][1].__setitem__(name, value)


def _period(period: dict[str, str]) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r["provision"].__setitem__("period", period)


def _identifier(identifier: dict[str, str]) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r["provision"]["actor"][1]["reference"].__setitem__("identifier", identifier)


NOT_HONOURED = "not supported by the hub's consent profile"
BY_PARTNER = f"an actor is named by a partner id ({PARTNER_SYSTEM})"
BY_PSEUDONYM = f"the patient is named by an identifier of {PSEUDONYM_SYSTEM}"
NOT_A_DAY = "is not a calendar day or a moment (a year or a month is)"
UNSUPPORTED_TEXT = "not supported by the hub's consent profile"
EMPTY_LIST = "an empty list: leave it out, or name something"
REFUSED: dict[str, tuple[Callable[[dict[str, Any]], Any], str, str]] = {
    "not a Consent": (
        lambda r: r.__setitem__("resourceType", "Patient"),
        "resourceType",
        "must be 'Consent'",
    ),
    "no resourceType": (lambda r: r.pop("resourceType"), "resourceType", "must be 'Consent'"),
    "no id": (lambda r: r.pop("id"), "id", "a Consent needs an id"),
    "unknown status": (
        lambda r: r.__setitem__("status", "approved"),
        "status",
        "'approved' is not a FHIR Consent status",
    ),
    "status of the wrong type": (
        lambda r: r.__setitem__("status", 5),
        "status",
        "invalid FHIR Consent: Input should be a valid string",
    ),
    "no patient": (lambda r: r.pop("patient"), "patient.identifier", BY_PSEUDONYM),
    "patient by reference": (
        lambda r: r.__setitem__("patient", {"reference": "Patient/1"}),
        "patient.identifier",
        BY_PSEUDONYM,
    ),
    "patient without a value": (
        lambda r: r["patient"]["identifier"].pop("value"),
        "patient.identifier",
        BY_PSEUDONYM,
    ),
    "no provision": (
        lambda r: r.pop("provision"),
        "provision",
        "a Consent without a provision says nothing",
    ),
    "type misspelled": (
        lambda r: r["provision"].__setitem__("type", "permitt"),
        "provision.type",
        "'permitt' is not 'permit' or 'deny'",
    ),
    "no type": (
        lambda r: r["provision"].pop("type"),
        "provision.type",
        "None is not 'permit' or 'deny'",
    ),
    "nested without a type": (
        lambda r: r["provision"]["provision"][0].pop("type"),
        "provision.provision.0.type",
        "None is not 'permit' or 'deny'",
    ),
    "second nested of an unknown type": (
        lambda r: r["provision"]["provision"][1].__setitem__("type", "maybe"),
        "provision.provision.1.type",
        "'maybe' is not 'permit' or 'deny'",
    ),
    "action": (
        _unsupported("action", [{"coding": [{"code": "access"}]}]),
        "provision.provision.1.action",
        NOT_HONOURED,
    ),
    "code": (
        _unsupported("code", [{"coding": [{"code": "x"}]}]),
        "provision.provision.1.code",
        NOT_HONOURED,
    ),
    "data": (
        _unsupported("data", [{"meaning": "instance", "reference": {"reference": "X/1"}}]),
        "provision.provision.1.data",
        NOT_HONOURED,
    ),
    "dataPeriod": (
        _unsupported("dataPeriod", {"start": "2026-01-01"}),
        "provision.provision.1.dataPeriod",
        NOT_HONOURED,
    ),
    "securityLabel": (
        _unsupported("securityLabel", [{"code": "R"}]),
        "provision.provision.1.securityLabel",
        NOT_HONOURED,
    ),
    "a year as start": (
        _period({"start": "2026"}),
        "provision.period.start",
        f"'2026' {NOT_A_DAY}",
    ),
    "a month as end": (
        _period({"end": "2026-05"}),
        "provision.period.end",
        f"'2026-05' {NOT_A_DAY}",
    ),
    "ends the day before it starts": (
        _period({"start": "2026-06-02", "end": "2026-06-01"}),
        "provision.period",
        "the period ends before it starts",
    ),
    "ends a moment before it starts": (
        _period({"start": "2026-06-01T10:00:00+00:00", "end": "2026-06-01T09:59:59+00:00"}),
        "provision.period",
        "the period ends before it starts",
    ),
    "a class without a code": (
        lambda r: r["provision"].__setitem__("class", [{"code": "medical"}, {"system": "urn:x"}]),
        "provision.class.1.code",
        "a code is required",
    ),
    "unknown classes": (
        lambda r: r["provision"].__setitem__(
            "class", [{"code": "medical"}, {"code": "medisch"}, {"code": "x"}]
        ),
        "provision.class",
        "'medisch' is not a data category",
    ),
    "a purpose without a code": (
        lambda r: r["provision"].__setitem__("purpose", [{"code": "nazorg"}, {"system": "urn:x"}]),
        "provision.purpose.1.code",
        "a code is required",
    ),
    "unknown purposes": (
        lambda r: r["provision"].__setitem__(
            "purpose", [{"code": "nazorg"}, {"code": "research"}, {"code": "y"}]
        ),
        "provision.purpose",
        "'research' is not a purpose the hub knows",
    ),
    "actor of another system": (
        _identifier({"system": "urn:x", "value": "politie"}),
        "provision.actor.1.reference.identifier",
        BY_PARTNER,
    ),
    "actor without a value": (
        _identifier({"system": PARTNER_SYSTEM}),
        "provision.actor.1.reference.identifier",
        BY_PARTNER,
    ),
    "actor by reference": (
        lambda r: r["provision"]["actor"][1].__setitem__(
            "reference", {"reference": "Practitioner/1"}
        ),
        "provision.actor.1.reference.identifier",
        BY_PARTNER,
    ),
    "actor without a reference (FHIR's own check)": (
        lambda r: r["provision"]["actor"][1].pop("reference"),
        "provision.actor.1.reference",
        "invalid FHIR Consent: Field required",
    ),
    "a modifier extension on the Consent": (
        lambda r: r.__setitem__(
            "modifierExtension", [{"url": "https://example.nl/only-if", "valueBoolean": True}]
        ),
        "modifierExtension",
        UNSUPPORTED_TEXT,
    ),
    "implicit rules": (
        lambda r: r.__setitem__("implicitRules", "https://example.nl/rules"),
        "implicitRules",
        UNSUPPORTED_TEXT,
    ),
    "a policy rule": (
        lambda r: r.__setitem__("policyRule", {"text": "OPTOUT"}),
        "policyRule",
        UNSUPPORTED_TEXT,
    ),
    "a modifier extension on a provision": (
        lambda r: r["provision"].__setitem__(
            "modifierExtension", [{"url": "https://example.nl/only-if", "valueBoolean": True}]
        ),
        "provision.modifierExtension",
        UNSUPPORTED_TEXT,
    ),
    "no actors, as an empty list": (
        lambda r: r["provision"].__setitem__("actor", []),
        "provision.actor",
        EMPTY_LIST,
    ),
    "no classes, as an empty list": (
        lambda r: r["provision"].__setitem__("class", []),
        "provision.class",
        EMPTY_LIST,
    ),
    "no purposes, as an empty list": (
        lambda r: r["provision"].__setitem__("purpose", []),
        "provision.purpose",
        EMPTY_LIST,
    ),
    "no exceptions, as an empty list": (
        lambda r: r["provision"].__setitem__("provision", []),
        "provision.provision",
        EMPTY_LIST,
    ),
    "actor that is no partner": (
        _identifier({"system": PARTNER_SYSTEM, "value": "somebody"}),
        "provision.actor.1.reference.identifier.value",
        "'somebody' is not a partner id",
    ),
}


class TestRefused:
    @pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
    def test_the_element_and_the_reason(self, case: str) -> None:
        change, path, reason = REFUSED[case]
        assert refusal(changed(change)) == (path, reason, f"{path}: {reason}")

    def test_fhirs_own_check_names_the_element(self) -> None:
        bad = changed(lambda r: r["provision"].__setitem__("period", {"end": "2026-13-01"}))
        path, reason, _ = refusal(bad)
        assert path == "provision.period.end"
        assert reason.startswith("invalid FHIR Consent: ")

    def test_fhir_refuses_a_moment_without_a_zone_and_the_profile_would_too(self) -> None:
        naive = changed(_period({"start": "2026-01-01", "end": "2026-02-01T10:00:00"}))
        path, reason, _ = refusal(naive)
        assert (path, reason.split(":")[0]) == ("provision.period.end", "invalid FHIR Consent")
        # Should a FHIR library ever let one through, the profile's own check stands.
        with pytest.raises(ProfileError) as info:
            _moment(dt.datetime(2026, 1, 1, 10), "provision.period.start", end=False)
        assert (info.value.path, info.value.reason) == (
            "provision.period.start",
            "a moment needs a time zone",
        )
        assert _moment(None, "p", end=True) is None

    def test_what_is_no_object_is_refused_without_a_path(self) -> None:
        assert refusal([]) == ("", "a Consent is a JSON object", "a Consent is a JSON object")

    def test_at_the_edge_the_reason_names_both_systems(self) -> None:
        other = changed(lambda r: r["patient"]["identifier"].__setitem__("system", "urn:x"))
        reason = f"the patient is named by an identifier of {PSEUDONYM_SYSTEM} or {BSN_SYSTEM}"
        assert refusal(other, bsn_allowed=True) == (
            "patient.identifier",
            reason,
            f"patient.identifier: {reason}",
        )

    def test_a_profile_error_is_a_value_error(self) -> None:
        error = ProfileError("id", "a Consent needs an id")
        assert isinstance(error, ValueError)
        assert (error.path, error.reason, error.args) == (
            "id",
            "a Consent needs an id",
            ("id: a Consent needs an id",),
        )


class TestBoundTo:
    def by_bsn(self) -> dict[str, Any]:
        return changed(
            lambda r: r.__setitem__("patient", {"identifier": {"system": BSN_SYSTEM, "value": BSN}})
        )

    def test_a_consent_named_by_the_bsn_is_bound_to_the_pseudonym(self) -> None:
        consent = self.by_bsn()
        kept = copy.deepcopy(consent)
        assert bound_to(consent, subject=SUBJECT, bsn=BSN) == resource()
        assert consent == kept

    def test_a_consent_named_by_the_pseudonym_stays_bound_to_it(self) -> None:
        assert bound_to(resource(), subject=SUBJECT, bsn=BSN) == resource()
        assert bound_to(resource(), subject=SUBJECT, bsn=None) == resource()

    @pytest.mark.parametrize(
        ("consent", "subject", "bsn"),
        [
            ("bsn", SUBJECT, "999990020"),
            ("bsn", SUBJECT, None),
            ("pseudonym", "psn-other", BSN),
            ("pseudonym", BSN, SUBJECT),
        ],
    )
    def test_a_consent_about_another_client_is_refused(
        self, consent: str, subject: str, bsn: str | None
    ) -> None:
        resource_ = self.by_bsn() if consent == "bsn" else resource()
        with pytest.raises(ProfileError) as info:
            bound_to(resource_, subject=subject, bsn=bsn)
        assert (info.value.path, info.value.reason) == (
            "patient",
            "the Consent is about another client than the message",
        )

    def test_what_is_outside_the_profile_is_refused_first(self) -> None:
        with pytest.raises(ProfileError, match=r"^id: "):
            bound_to(changed(lambda r: r.pop("id")), subject=SUBJECT, bsn=BSN)
