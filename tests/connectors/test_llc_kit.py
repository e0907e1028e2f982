"""The LLC connector passes the kit; its Communication is valid FHIR R4, says what
happened in Dutch, and names the Patient by BSN only where that was permitted."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, ClassVar

from fhir.resources.R4B.communication import Communication

from hub.connectors import Delivery
from hub.connectors.llz import LlcCommunication
from hub.connectors.testing import (
    HttpPartner,
    OutboundConnectorSuite,
    OutboundScenario,
    sample_delivery,
)
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.detention import DetentionStarted
from hub.schemas.fhir import BSN_SYSTEM, PSEUDONYM_SYSTEM

NAME = "Jansen-Testpersoon"
CONTENT = {
    "start_date": "2026-11-20",
    "facility": {"code": "PI-AMS", "name": "PI Amsterdam"},
    "expected_end_date": "2027-02-20",
    "casusregisseur": {
        "name": "C. Regisseur",
        "role": "casusregisseur",
        "organisation": "Gemeente Amsterdam",
        "phone": "020-0000000",
    },
    "person_name": NAME,
}
CATEGORIES = {
    "start_date": DataCategory.JUSTICE,
    "facility": DataCategory.JUSTICE,
    "expected_end_date": DataCategory.JUSTICE,
    "casusregisseur": DataCategory.CONTACT,
    "person_name": DataCategory.IDENTITY,
}
INTAKE = sample_delivery("llz:fivoor", DetentionStarted, CONTENT, CATEGORIES)
CORRECTED = sample_delivery("llz:fivoor", DetentionStarted, CONTENT, CATEGORIES, correction=True)


class TestLlcCommunication(OutboundConnectorSuite):
    connector = LlcCommunication
    config: ClassVar[dict[str, Any]] = {
        "base_url": "https://fhir.fivoor.example/fhir",
        "api_key": "llc-kit-key-77",
    }
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario("detention intake", INTAKE, bsn="212121224", personal_data=(NAME,)),
        OutboundScenario("a corrected intake", CORRECTED, bsn="212121224", personal_data=(NAME,)),
        OutboundScenario(
            "intake under the pseudonym",
            sample_delivery(
                "llz:fivoor",
                DetentionStarted,
                {"start_date": "2026-11-20"},
                {"start_date": DataCategory.JUSTICE},
            ),
        ),
    ]


def _sent(
    bsn: str | None, notification: NotificationDelivery = INTAKE
) -> tuple[Any, dict[str, Any]]:
    partner = HttpPartner()
    connector = LlcCommunication.from_config(TestLlcCommunication.config)
    connector.transport = partner.transport
    delivery = Delivery(
        notification=notification,
        delivery_id=notification.idempotency_key,
        subject="psn-k1-" + "a" * 40,
        correlation_id="c-1",
        bsn=bsn,
    )
    asyncio.run(connector.deliver(delivery))
    (request,) = partner.requests
    return request, json.loads(request.content)


def test_the_communication_is_valid_fhir_and_reads_as_a_detention_notice() -> None:
    request, body = _sent("212121224")
    Communication.model_validate(body)
    assert request.path == "/fhir/Communication"
    assert request.headers["content-type"] == "application/fhir+json"
    assert request.headers["if-none-exist"].endswith(INTAKE.idempotency_key)
    text = body["payload"][0]["contentString"]
    assert "Detentie gestart op 2026-11-20 in PI Amsterdam" in text
    assert "Verwachte einddatum: 2027-02-20" in text
    assert "C. Regisseur (Gemeente Amsterdam, 020-0000000)" in text
    attached = json.loads(base64.b64decode(body["payload"][1]["contentAttachment"]["data"]))
    assert attached == CONTENT
    assert body["subject"]["identifier"] == {"system": BSN_SYSTEM, "value": "212121224"}


def test_without_permission_the_patient_is_the_pseudonym() -> None:
    _, body = _sent(None)
    assert body["subject"]["identifier"]["system"] == PSEUDONYM_SYSTEM
    assert "212121224" not in json.dumps(body)


def test_a_corrected_start_reads_as_a_change_not_as_a_second_detention() -> None:
    _, body = _sent("212121224", CORRECTED)
    Communication.model_validate(body)
    text = body["payload"][0]["contentString"]
    assert text.startswith("Detentie gewijzigd: gestart op 2026-11-20 in PI Amsterdam.")
    assert "Detentie gestart" not in text
