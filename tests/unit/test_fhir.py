"""FHIR R4 mapping helpers."""

from __future__ import annotations

import datetime as dt

from hub.schemas.fhir import (
    care_team,
    communication,
    levensloop_flag,
    patient_reference,
)
from tests.data import CASUSREGISSEUR, LLC, TEST_BSNS

PSN = "psn-t1-" + "a" * 40


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
