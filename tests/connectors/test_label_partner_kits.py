"""The Iris melding and the crisis connectors pass the kit: the label as an XML melding
and afmelding, as a FHIR transaction Bundle, and crisis contacts in."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring
from fhir.resources.R4B.bundle import Bundle

from hub.connectors import Delivery, OutboundConnector, PartnerRequest, PartnerResponse
from hub.connectors.crisis import CrisisContacten, CrisisVooraanmelding
from hub.connectors.reclassering import IrisMeldingen
from hub.connectors.testing import (
    InboundConnectorSuite,
    InboundScenario,
    MockTransport,
    OutboundConnectorSuite,
    OutboundScenario,
)
from hub.schemas.fhir import BSN_SYSTEM
from hub.schemas.signals import CrisisContact
from tests.connectors.label_content import LLC_NAME, REFERENCE, label_set, label_withdrawn

BSN = "212121224"
PSEUDONYM = "psn-k1-" + "c" * 40
CRISIS_NURSE = "V. Verpleegkundige-Testpersoon"
IRIS_SET = label_set("reclassering", "reclassering")
IRIS_WITHDRAW = label_withdrawn("reclassering", "reclassering")
CRISIS_SET = label_set("crisis:amsterdam", "crisisdienst")
CRISIS_WITHDRAW = label_withdrawn("crisis:amsterdam", "crisisdienst")


def crisis_contact(**changes: object) -> bytes:
    data: dict[str, object] = {
        "schemaVersie": "1",
        "contactId": "GGZ-AMS-2026-0815",
        "regio": "amsterdam",
        "bsn": BSN,
        "tijdstip": "2026-11-23T03:40:00+01:00",
        "politieAanwezig": True,
        "beoordeling": "Psychotisch decompensatie, geen suïcidaliteit.",
        "uitkomst": "Opname IBS",
        "crisisteam": {"naam": CRISIS_NURSE, "telefoon": "020-5555555"},
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


class TestIrisMeldingen(OutboundConnectorSuite):
    connector = IrisMeldingen
    config: ClassVar[dict[str, Any]] = {
        "base_url": "https://iris.reclassering.example/iris",
        "api_key": "iris-kit-key-5",
    }
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario("aanmelding", IRIS_SET, personal_data=(LLC_NAME,)),
        OutboundScenario("afmelding", IRIS_WITHDRAW),
    ]


class TestCrisisVooraanmelding(OutboundConnectorSuite):
    connector = CrisisVooraanmelding
    config: ClassVar[dict[str, Any]] = {
        "base_url": "https://fhir.crisis-amsterdam.example/fhir",
        "api_key": "crisis-kit-key-9",
    }
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario("pre-registration", CRISIS_SET, bsn=BSN, personal_data=(LLC_NAME,)),
        OutboundScenario("withdrawal", CRISIS_WITHDRAW, bsn=BSN),
    ]


class TestCrisisContacten(InboundConnectorSuite):
    connector = CrisisContacten
    config: ClassVar[dict[str, Any]] = {"webhook_secret": "kit-webhook-secret-crisis"}
    labels: ClassVar[dict[tuple[str, str], str]] = {("crisis:amsterdam", REFERENCE): BSN}
    scenarios: ClassVar[list[InboundScenario]] = [
        InboundScenario(
            "a crisis contact by BSN",
            body=crisis_contact(),
            expect=(CrisisContact,),
            personal_data=(BSN, CRISIS_NURSE),
        ),
        InboundScenario(
            "a crisis contact by Flag identifier only",
            body=crisis_contact(contactId="GGZ-AMS-2026-0816", bsn=None, flagId=REFERENCE),
            expect=(CrisisContact,),
            personal_data=(CRISIS_NURSE,),
        ),
    ]
    edge_cases: ClassVar[dict[str, bytes]] = {
        "unknown-schema-version": crisis_contact(schemaVersie="0"),
        "missing-subject": crisis_contact(bsn=None),
    }


def _sent(connector: OutboundConnector[Any], notification: Any, bsn: str | None) -> PartnerRequest:
    requests: list[PartnerRequest] = []

    def answer(request: PartnerRequest) -> PartnerResponse:
        requests.append(request)
        return PartnerResponse(200, json={"resourceType": "Bundle", "type": "transaction-response"})

    connector.transport = MockTransport(answer)  # type: ignore[attr-defined]
    delivery = Delivery(
        notification=notification,
        delivery_id=notification.idempotency_key,
        subject=PSEUDONYM,
        correlation_id="c-9",
        bsn=bsn,
    )
    asyncio.run(connector.deliver(delivery))
    (request,) = requests
    return request


def _iris(notification: Any) -> Element:
    connector = IrisMeldingen.from_config(TestIrisMeldingen.config)
    request = _sent(connector, notification, None)
    assert request.headers["content-type"] == "application/xml"
    root: Element = fromstring(request.content)
    return root


def test_iris_gets_a_melding_and_an_afmelding_under_the_same_melding_id() -> None:
    melding, afmelding = _iris(IRIS_SET), _iris(IRIS_WITHDRAW)
    assert melding.get("soort") == "aanmelding"
    assert afmelding.get("soort") == "afmelding"
    assert melding.findtext("meldingId") == afmelding.findtext("meldingId") == REFERENCE
    assert melding.findtext("client/pseudoniem") == PSEUDONYM
    assert melding.findtext("levensloopcoordinator/naam") == LLC_NAME
    assert melding.findtext("levensloopaanpak/sinds") == "2026-03-01"
    assert afmelding.findtext("datum") == "2028-03-01"


def _bundle(notification: Any) -> dict[str, Any]:
    connector = CrisisVooraanmelding.from_config(TestCrisisVooraanmelding.config)
    request = _sent(connector, notification, BSN)
    assert request.headers["content-type"] == "application/fhir+json"
    body: dict[str, Any] = json.loads(request.content)
    Bundle.model_validate(body)
    return body


def test_the_pre_registration_is_a_transaction_of_patient_flag_and_care_team() -> None:
    body = _bundle(CRISIS_SET)
    assert body["type"] == "transaction"
    patient, flag, team = (e for e in body["entry"])
    assert patient["request"] == {
        "method": "POST",
        "url": "Patient",
        "ifNoneExist": f"identifier={BSN_SYSTEM}|{BSN}",
    }
    assert flag["request"]["method"] == "PUT"
    assert flag["request"]["url"].endswith(REFERENCE)
    assert flag["resource"]["status"] == "active"
    assert flag["resource"]["code"]["coding"][0]["display"] == "Levensloopaanpak"
    assert flag["resource"]["period"] == {"start": "2026-03-01"}
    assert flag["resource"]["author"]["identifier"]["value"] == "zvh:amsterdam"
    assert flag["resource"]["subject"]["reference"] == patient["fullUrl"]
    members = [p["member"]["display"] for p in team["resource"]["participant"]]
    assert members == [
        f"{LLC_NAME} (Fivoor, 010-0000000)",
        "C. Regisseur (Gemeente Amsterdam, 020-0000000)",
    ]


def test_withdrawal_sets_the_same_flag_and_care_team_inactive() -> None:
    before, after = _bundle(CRISIS_SET), _bundle(CRISIS_WITHDRAW)
    assert [e["request"]["url"] for e in before["entry"]] == [
        e["request"]["url"] for e in after["entry"]
    ]
    _, flag, team = after["entry"]
    assert flag["resource"]["status"] == "inactive"
    assert flag["resource"]["period"] == {"end": "2028-03-01"}
    assert team["resource"]["status"] == "inactive"
