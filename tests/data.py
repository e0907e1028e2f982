"""Test data: fictitious persons with BSNs that pass the 11-check, and event builders."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.identity.pseudonym import Pseudonymiser
from hub.schemas.case import ClientIncluded, KedoLookupResult, TeamMember, TeamRole
from hub.schemas.common import Contact, Facility
from hub.schemas.consent import ConflictDecision, ConflictOfDutiesDecided
from hub.schemas.detention import DetentionStarted
from hub.schemas.fhir import BSN_SYSTEM, PARTNER_SYSTEM, PSEUDONYM_SYSTEM
from hub.schemas.signals import CrisisContact

TEST_KEY = bytes(range(32))
TEST_BSNS = ("111222333", "123456782", "999999990", "212121224", "300000005")
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


def crisis_contact(**overrides: Any) -> CrisisContact:
    """A medical-plus-justice signal (flow F): assessment and outcome are medical."""
    data: dict[str, Any] = {
        "occurred_at": dt.datetime(2026, 11, 22, 23, 10, tzinfo=dt.UTC),
        "police_involved": True,
        "assessment": "Acute psychose, gevaar voor anderen.",
        "outcome": "Opgenomen met crisismaatregel.",
        "crisis_team": Contact(
            name="Crisisteam Noord",
            role="crisisdienst",
            organisation="GGZ Crisisdienst",
            partner="crisis:amsterdam",
        ),
    }
    data.update(overrides)
    return CrisisContact(**data)


def kedo_hit(**overrides: Any) -> KedoLookupResult:
    data: dict[str, Any] = {
        "found": True,
        "zvh": "zvh:amsterdam",
        "case_type": "levensloopaanpak",
        "included": True,
        "included_since": dt.date(2026, 3, 1),
        "llc": LLC,
        "casusregisseur": CASUSREGISSEUR,
        "looked_up_at": dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC),
    }
    data.update(overrides)
    return KedoLookupResult(**data)


def fhir_consent(
    cid: str,
    kind: str = "permit",
    actor: str | None = None,
    cls: str | None = None,
    start: str = "2026-01-01",
    end: str | None = None,
    nested: list[dict[str, Any]] | None = None,
    patient: str | None = None,
) -> dict[str, Any]:
    """A Consent in the hub's profile about ``patient``: a pseudonym, or a BSN as a partner
    names the client (by default the pseudonym of the first test BSN)."""
    who = patient or pseudonymiser().pseudonym(TEST_BSNS[0])
    system = PSEUDONYM_SYSTEM if who.startswith("psn-") else BSN_SYSTEM
    provision: dict[str, Any] = {
        "type": kind,
        "period": {"start": start, **({"end": end} if end else {})},
    }
    if actor:
        provision["actor"] = [
            {
                "role": {"coding": [{"code": "IRCP"}]},
                "reference": {"identifier": {"system": PARTNER_SYSTEM, "value": actor}},
            }
        ]
    if cls:
        provision["class"] = [{"code": cls}]
    if nested:
        provision["provision"] = nested
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "medical"}]}],
        "patient": {"identifier": {"system": system, "value": who}},
        "provision": provision,
    }


def conflict_decision(about: str, now: dt.datetime, **changes: Any) -> ConflictDecision:
    """A DOORBREKING as the policy reads it: the police may have the crisis assessment of
    the client ``about`` from an hour before ``now`` until a day after."""
    data: dict[str, Any] = {
        "subject": about,
        "decision_id": "DVP-1",
        "decided_by": "Dr. A. Arts",
        "recipient": "politie",
        "releases": ("assessment",),
        "reason": "Acuut gevaar voor derden.",
        "decided_at": now - dt.timedelta(hours=1),
        "valid_until": now + dt.timedelta(days=1),
    }
    data.update(changes)
    return ConflictDecision.model_validate(data)


def doorbreking(decision_id: str, now: dt.datetime) -> ConflictOfDutiesDecided:
    """A ZVH's DOORBREKING on the bus: the police may have the medical fields, decided
    an hour before ``now``, valid until a day after."""
    return ConflictOfDutiesDecided(
        decision_id=decision_id,
        decided_by=LLC,
        recipient="politie",
        releases=("medical",),
        reason="Acuut gevaar voor derden.",
        decided_at=now - dt.timedelta(hours=1),
        valid_until=now + dt.timedelta(days=1),
    )
