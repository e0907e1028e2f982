"""Test data: fictitious persons with BSNs that pass the 11-check, and event builders."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.identity.pseudonym import Pseudonymiser
from hub.schemas.case import ClientIncluded, TeamMember, TeamRole
from hub.schemas.common import Contact, Facility
from hub.schemas.detention import DetentionStarted

TEST_KEY = bytes(range(32))
TEST_BSNS = ("111222333", "123456782", "999999990", "212121224")
TEST_NAMES = ("Jansen-Testpersoon", "Pietersma-Testpersoon")

LLC = Contact(
    name="L. Coördinator",
    role="levensloopcoordinator",
    organisation="Fivoor",
    partner="llz:fivoor",
    phone="010-0000000",
)
CASUSREGISSEUR = Contact(
    name="C. Regisseur",
    role="casusregisseur",
    organisation="Gemeente Amsterdam",
    partner="gemeente:GM0363",
)
PROCESREGISSEUR = Contact(
    name="P. Regisseur",
    role="procesregisseur",
    organisation="ZVH Amsterdam-Amstelland",
    partner="zvh:amsterdam",
)


def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(active_key_id="t1", keys={"t1": TEST_KEY})


def detention_started(**overrides: Any) -> DetentionStarted:
    data: dict[str, Any] = {
        "source_event_id": "INJUS-0001",
        "skn": "SKN12345",
        "person_name": TEST_NAMES[0],
        "birth_date": dt.date(1990, 5, 17),
        "municipality": "GM0363",
        "facility": Facility(code="PI-AMS", name="PI Amsterdam"),
        "start_date": dt.date(2026, 11, 20),
        "detention_title": "voorlopige hechtenis",
    }
    data.update(overrides)
    return DetentionStarted(**data)


def client_included(**overrides: Any) -> ClientIncluded:
    data: dict[str, Any] = {
        "zvh": "zvh:amsterdam",
        "included_since": dt.date(2026, 3, 1),
        "municipality": "GM0363",
        "team": (
            TeamMember(partner="zvh:amsterdam", role=TeamRole.PROCESREGISSEUR),
            TeamMember(partner="llz:fivoor", role=TeamRole.LEVENSLOOPCOORDINATOR),
            TeamMember(partner="gemeente:GM0363", role=TeamRole.CASUSREGISSEUR),
        ),
        "llc": LLC,
        "casusregisseur": CASUSREGISSEUR,
        "procesregisseur": PROCESREGISSEUR,
    }
    data.update(overrides)
    return ClientIncluded(**data)
