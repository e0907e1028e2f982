"""FHIR R4 mapping helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hub.schemas.fhir import (
    BSN_SYSTEM,
    PSEUDONYM_SYSTEM,
    care_team,
    communication,
    levensloop_flag,
    parse_consent,
    patient,
    patient_reference,
)
from tests.data import CASUSREGISSEUR, LLC, TEST_BSNS

PSN = "psn-t1-" + "a" * 40


def _consent(**changes: Any) -> dict[str, Any]:
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": "consent-1",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "medical"}]}],
        "patient": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": PSN}},
        "provision": {"type": "permit", "period": {"start": "2026-01-01"}},
    }
    consent.update(changes)
    return consent


def test_patient_by_bsn_only_when_allowed() -> None:
    allowed = patient(bsn=TEST_BSNS[0], pseudonym=PSN)
    withheld = patient(bsn=None, pseudonym=PSN)
    assert allowed.model_dump()["identifier"][0]["system"] == BSN_SYSTEM
    assert withheld.model_dump()["identifier"][0]["system"] == PSEUDONYM_SYSTEM
    assert TEST_BSNS[0] not in withheld.model_dump_json()


def test_consent_parses() -> None:
    assert parse_consent(_consent()).model_dump()["provision"]["type"] == "permit"


@pytest.mark.parametrize(
    ("consent", "message"),
    [
        (_consent(resourceType="Patient"), "resourceType"),
        (_consent(id=None), "needs an id"),
        (
            {k: v for k, v in _consent().items() if k != "category"},
            "invalid FHIR Consent at category",
        ),
        (
            _consent(patient={"identifier": {"system": BSN_SYSTEM, "value": TEST_BSNS[0]}}),
            "carries a BSN",
        ),
    ],
)
def test_bad_consents_are_refused(consent: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_consent(consent)


def test_flag_care_team_and_communication_validate() -> None:
    subject = patient_reference(bsn=TEST_BSNS[0], pseudonym=PSN)
    flag = levensloop_flag(
        subject=subject, zvh="zvh:amsterdam", start=dt.date(2026, 1, 1), end=None, active=False
    )
    assert flag.status == "inactive"
    assert flag.model_dump()["code"]["coding"][0]["code"] == "levensloopaanpak"
    team = care_team(subject=subject, members=[LLC, CASUSREGISSEUR]).model_dump()
    assert len(team["participant"]) == 2
    note = communication(
        subject=subject,
        sender="dji",
        recipient="llz:fivoor",
        sent=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
        text="Detentie gestart",
        topic="detentie",
    )
    dumped = note.model_dump()
    assert dumped["recipient"][0]["identifier"]["value"] == "llz:fivoor"
    assert dumped["payload"][0]["contentString"] == "Detentie gestart"
