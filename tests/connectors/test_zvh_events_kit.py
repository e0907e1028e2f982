"""The ZVH events connector passes the kit for all six kinds, and names its ZVH."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from hub.connectors import ContractError, InboundMessage
from hub.connectors.testing import InboundConnectorSuite, InboundScenario
from hub.connectors.zvh import ZvhEvents
from hub.schemas.case import ClientExcluded, ClientIncluded, ClientMoved
from hub.schemas.consent import (
    ConflictOfDutiesDecided,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitleRecorded,
)
from hub.schemas.fhir import BSN_SYSTEM
from tests.data import fhir_consent

BSN = "123456782"
OTHER = "111222333"
PERSON = {"naam": "P. Regisseur", "rol": "procesregisseur", "organisatie": "ZVH Amsterdam"}


def event(soort: str, event_id: str, **body: Any) -> bytes:
    data = {"schemaVersie": "1", "id": event_id, "soort": soort, "bsn": BSN, "zvh": "zvh:amsterdam"}
    data.update(body)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


INCLUSIE = event(
    "INCLUSIE",
    "ZVH-1",
    datum="2026-03-01",
    gemeente="GM0363",
    team=[
        {"partner": "zvh:amsterdam", "rol": "procesregisseur"},
        {"partner": "llz:fivoor", "rol": "levensloopcoordinator"},
        {"partner": "politie", "rol": "politie"},
    ],
    llc={**PERSON, "rol": "levensloopcoordinator", "partner": "llz:fivoor"},
    casusregisseur={**PERSON, "rol": "casusregisseur", "partner": "gemeente:GM0363"},
    procesregisseur=PERSON,
)


def _scenario(name: str, body: bytes, expect: type) -> InboundScenario:
    return InboundScenario(name, body, (expect,), personal_data=(BSN,))


class TestZvhEvents(InboundConnectorSuite):
    connector = ZvhEvents
    config: ClassVar[dict[str, Any]] = {"webhook_secret": "zvh-kit-secret"}
    scenarios: ClassVar[list[InboundScenario]] = [
        _scenario("inclusion", INCLUSIE, ClientIncluded),
        _scenario(
            "exclusion",
            event("EXCLUSIE", "ZVH-2", datum="2028-03-01", reden="stable-two-years"),
            ClientExcluded,
        ),
        _scenario(
            "move",
            event(
                "VERHUIZING",
                "ZVH-3",
                naarZvh="zvh:utrecht",
                datum="2027-01-01",
                procesregisseur=PERSON,
            ),
            ClientMoved,
        ),
        _scenario(
            "consent",
            event(
                "TOESTEMMING",
                "ZVH-4",
                consent=fhir_consent("c-9", actor="llz:fivoor", patient=BSN),
            ),
            ConsentRecorded,
        ),
        _scenario(
            "consent withdrawn",
            event(
                "TOESTEMMING",
                "ZVH-5",
                consent={
                    **fhir_consent("c-9", actor="llz:fivoor", patient=BSN),
                    "status": "inactive",
                },
            ),
            ConsentWithdrawn,
        ),
        _scenario(
            "title",
            event(
                "TITEL",
                "ZVH-6",
                titelId="ZM-1",
                titel="zorgmachtiging",
                afgegevenDoor="rechter",
                inclusiefLevensloopaanpak=True,
                geldigVan="2026-01-01",
                geldigTot="2026-12-31",
            ),
            LegalTitleRecorded,
        ),
        _scenario(
            "conflict of duties",
            event(
                "DOORBREKING",
                "ZVH-7",
                besluitId="DB-1",
                besluitDoor={**PERSON, "rol": "psychiater"},
                ontvanger="llz:fivoor",
                vrijgegeven=["assessment"],
                reden="Acuut gevaar voor derden.",
                besluitOp="2026-11-23T08:00:00+00:00",
                geldigTot="2026-11-30T08:00:00+00:00",
            ),
            ConflictOfDutiesDecided,
        ),
    ]
    edge_cases: ClassVar[dict[str, bytes]] = {
        "unknown-schema-version": event("INCLUSIE", "ZVH-X", schemaVersie="2"),
        "missing-subject": event("EXCLUSIE", "ZVH-Y", bsn=None, datum="2028-03-01"),
        "unknown-kind": event("ONTSLAG", "ZVH-Z"),
        "zvh-not-a-zvh": event(
            "EXCLUSIE", "ZVH-W", zvh="gemeente:GM0363", datum="2028-03-01", reden="closed"
        ),
    }


def test_the_message_names_its_zvh_as_the_sender() -> None:
    (item,) = ZvhEvents.from_config({}).translate(InboundMessage(body=INCLUSIE))
    assert item.partner == "zvh:amsterdam"
    assert isinstance(item.event, ClientIncluded)
    assert len(item.event.team) == 3


def test_an_inclusion_that_makes_a_care_provider_the_police_is_refused_naming_the_member() -> None:
    """The outside look: a ZVH registered ``llz:ok`` as ``politie``, and it was sent the
    police's label. A role its kind cannot hold is refused at the edge."""
    team = [
        {"partner": "llz:fivoor", "rol": "levensloopcoordinator"},
        {"partner": "llz:ok", "rol": "politie"},
    ]
    body = event("INCLUSIE", "ZVH-10", datum="2026-03-01", gemeente="GM0363", team=team)
    with pytest.raises(ContractError, match="cannot be politie in a team") as info:
        ZvhEvents.from_config({}).translate(InboundMessage(body=body))
    assert info.value.field == "team.1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            event(
                "VERHUIZING",
                "ZVH-11",
                naarZvh="politie",
                datum="2027-01-01",
                procesregisseur=PERSON,
            ),
            "naarZvh",
        ),
        (
            event(
                "VERHUIZING", "ZVH-12", naarZvh="llz:x", datum="2027-01-01", procesregisseur=PERSON
            ),
            "naarZvh",
        ),
        (INCLUSIE.replace(b'"zvh": "zvh:amsterdam"', b'"zvh": "politie"'), "zvh"),
    ],
)
def test_only_a_zvh_can_take_over_process_direction(body: bytes, field: str) -> None:
    """The second outside look: a move to the police was accepted, and routing it then
    failed on the police as procesregisseur. Only a ZVH can be the ZVH."""
    with pytest.raises(ContractError, match="is not a ZVH") as info:
        ZvhEvents.from_config({}).translate(InboundMessage(body=body))
    assert info.value.field == field


def test_a_withdrawn_consent_needs_its_id() -> None:
    consent = {**fhir_consent("c-9", patient=BSN), "status": "inactive"}
    del consent["id"]
    with pytest.raises(ContractError) as info:
        ZvhEvents.from_config({}).translate(
            InboundMessage(body=event("TOESTEMMING", "ZVH-8", consent=consent))
        )
    assert info.value.field == "consent.id"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"patient": {"identifier": {"system": BSN_SYSTEM, "value": "111222333"}}},
            "consent.patient",
        ),
        ({"patient": "someone"}, "consent.patient"),
        ({"id": ["a"]}, "consent.id"),
        ({"resourceType": "Patient"}, "consent.resourceType"),
    ],
)
def test_a_withdrawal_names_its_consent_and_this_client(change: dict[str, Any], field: str) -> None:
    """Found by an outside look: a withdrawal skipped every check."""
    consent = {**fhir_consent("c-9", patient=BSN), "status": "inactive", **change}
    with pytest.raises(ContractError) as info:
        ZvhEvents.from_config({}).translate(
            InboundMessage(body=event("TOESTEMMING", "ZVH-9", consent=consent))
        )
    assert info.value.field == field
