"""The gemeente and PI backoffice notification connectors pass the kit, and the PI gets
the melding it can act on."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from hub.connectors import Delivery
from hub.connectors.gemeente import GemeenteCasusregisseur
from hub.connectors.json_notifications import JsonNotifications
from hub.connectors.pi import PiBackoffice
from hub.connectors.testing import (
    HttpPartner,
    OutboundConnectorSuite,
    OutboundScenario,
    sample_delivery,
)
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import Flow, NotificationDelivery
from hub.schemas.detention import DetentionEnded, DetentionStarted, DetentionTransferred

NAME = "Jansen-Testpersoon"
LLC = {"name": "L. Coördinator", "role": "levensloopcoordinator", "organisation": "Fivoor"}
PI_CONTENT = {
    "levensloopaanpak": True,
    "zvh": "zvh:amsterdam",
    "llc": LLC,
    "facility": {"code": "PI-AMS", "name": "PI Amsterdam"},
    "person_name": NAME,
}
PI_CATEGORIES = {
    "levensloopaanpak": DataCategory.LABEL,
    "zvh": DataCategory.LABEL,
    "llc": DataCategory.CONTACT,
    "facility": DataCategory.JUSTICE,
    "person_name": DataCategory.IDENTITY,
}
CONFIG: dict[str, Any] = {"base_url": "https://partner.example/api", "api_key": "kit-key-0042"}


class TestGemeenteCasusregisseur(OutboundConnectorSuite):
    connector = GemeenteCasusregisseur
    config: ClassVar[dict[str, Any]] = CONFIG
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario(
            "intake at the municipality of origin",
            notification=sample_delivery(
                "gemeente:GM0363",
                DetentionStarted,
                {"person_name": NAME, "start_date": "2026-11-20"},
                {"person_name": DataCategory.IDENTITY, "start_date": DataCategory.JUSTICE},
                role="casusregisseur",
            ),
            bsn="111222333",
            personal_data=(NAME,),
        ),
        OutboundScenario(
            "release at the municipality of release",
            notification=sample_delivery(
                "gemeente:GM0344",
                DetentionEnded,
                {"end_date": "2026-12-01"},
                {"end_date": DataCategory.JUSTICE},
                flow=Flow.E,
                role="casusregisseur",
            ),
        ),
    ]


class TestPiBackoffice(OutboundConnectorSuite):
    connector = PiBackoffice
    config: ClassVar[dict[str, Any]] = CONFIG
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario(
            "intake",
            notification=sample_delivery(
                "pi:pi-ams", DetentionStarted, PI_CONTENT, PI_CATEGORIES, role="pi-backoffice"
            ),
            bsn="999999990",
            personal_data=(NAME,),
        ),
        OutboundScenario(
            "a corrected intake",
            notification=sample_delivery(
                "pi:pi-vug",
                DetentionStarted,
                PI_CONTENT,
                PI_CATEGORIES,
                role="pi-backoffice",
                correction=True,
            ),
            bsn="999999990",
            personal_data=(NAME,),
        ),
        OutboundScenario(
            "transfer to the receiving PI",
            notification=sample_delivery(
                "pi:pi-vug",
                DetentionTransferred,
                PI_CONTENT,
                PI_CATEGORIES,
                flow=Flow.D,
                role="pi-backoffice",
            ),
        ),
    ]


def _body(connector: JsonNotifications, notification: NotificationDelivery) -> dict[str, Any]:
    """What the partner receives for ``notification``."""
    partner = HttpPartner()
    connector.transport = partner.transport
    delivery = Delivery(
        notification=notification,
        delivery_id=notification.idempotency_key,
        subject="psn-k1-" + "0" * 40,
        correlation_id="c-1",
    )
    asyncio.run(connector.deliver(delivery))
    (request,) = partner.requests
    body: dict[str, Any] = json.loads(request.content)
    return body


def test_a_melding_says_whether_it_corrects_an_earlier_one_of_the_stay() -> None:
    gemeente = GemeenteCasusregisseur.from_config(CONFIG)
    intake = TestGemeenteCasusregisseur.scenarios[0].notification
    assert _body(gemeente, intake)["correctie"] is False
    corrected = intake.model_copy(update={"correction": True})
    assert _body(gemeente, corrected)["correctie"] is True
    pi = PiBackoffice.from_config(CONFIG)
    assert _body(pi, TestPiBackoffice.scenarios[0].notification)["correctie"] is False
    assert _body(pi, TestPiBackoffice.scenarios[1].notification)["correctie"] is True


def test_the_pi_melding_says_in_levensloopaanpak_with_the_llc_to_call() -> None:
    partner = HttpPartner()
    connector = PiBackoffice.from_config(CONFIG)
    connector.transport = partner.transport
    notification = TestPiBackoffice.scenarios[0].notification
    delivery = Delivery(
        notification=notification,
        delivery_id=notification.idempotency_key,
        subject="psn-k1-" + "0" * 40,
        correlation_id="c-1",
        bsn="999999990",
    )
    asyncio.run(connector.deliver(delivery))
    (request,) = partner.requests
    body = json.loads(request.content)
    assert body["melding"] == "in-levensloopaanpak"
    assert body["levensloopcoordinator"] == LLC
    assert body["gedetineerde"]["bsn"] == "999999990"
    assert body["inrichting"] == "pi:pi-ams"
    assert request.headers["idempotency-key"] == notification.idempotency_key
