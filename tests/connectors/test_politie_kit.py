"""The police connectors pass the kit: the label as a subscription (PUT, DELETE), and
signals that name the client by subscription only."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest

from hub.connectors import (
    ContractError,
    Delivery,
    InboundMessage,
    PartnerRequest,
    PartnerResponse,
)
from hub.connectors.politie import PolitieAbonnementen, PolitieSignalen
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.testing import (
    InboundConnectorSuite,
    InboundScenario,
    MockTransport,
    OutboundConnectorSuite,
    OutboundScenario,
)
from hub.connectors.testing.harness import Bus, Stores
from hub.schemas.signals import PoliceEncounter
from tests.connectors.label_content import LLC_NAME, REFERENCE, label_set, label_withdrawn

BSN, OTHER_BSN = "212121224", "123456782"
OFFICER = "A. Agent-Testpersoon"
SET, WITHDRAW = label_set("politie", "politie"), label_withdrawn("politie", "politie")


def signal(**changes: object) -> bytes:
    data: dict[str, object] = {
        "schemaVersie": "1",
        "signaalId": "POL-2026-000042",
        "abonnementId": REFERENCE,
        "tijdstip": "2026-11-23T22:10:00+01:00",
        "locatie": "Amsterdam-Oost",
        "omschrijving": "Aangetroffen in verwarde toestand, meegenomen naar bureau.",
        "agent": {"naam": OFFICER, "eenheid": "Basisteam Oost", "telefoon": "0900-8844"},
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


class TestPolitieAbonnementen(OutboundConnectorSuite):
    connector = PolitieAbonnementen
    config: ClassVar[dict[str, Any]] = {
        "base_url": "https://abonnementen.politie.example/api",
        "api_key": "politie-kit-key-1",
    }
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario("label set", SET, personal_data=(LLC_NAME,)),
        OutboundScenario("label withdrawn", WITHDRAW),
    ]


class TestPolitieSignalen(InboundConnectorSuite):
    connector = PolitieSignalen
    config: ClassVar[dict[str, Any]] = {"webhook_secret": "kit-webhook-secret-politie"}
    labels: ClassVar[dict[tuple[str, str], str]] = {("politie", REFERENCE): BSN}
    scenarios: ClassVar[list[InboundScenario]] = [
        InboundScenario(
            "an encounter on a subscription",
            body=signal(),
            expect=(PoliceEncounter,),
            personal_data=(OFFICER,),
        ),
        InboundScenario(
            "an encounter that also names the BSN",
            body=signal(signaalId="POL-2026-000043", bsn=BSN, agent=None),
            expect=(PoliceEncounter,),
            personal_data=(BSN,),
        ),
    ]
    edge_cases: ClassVar[dict[str, bytes]] = {
        "unknown-schema-version": signal(schemaVersie="2"),
        "missing-subject": signal(abonnementId=None),
    }


def _delivered(notification: Any, status: int = 200) -> PartnerRequest:
    requests: list[PartnerRequest] = []

    def answer(request: PartnerRequest) -> PartnerResponse:
        requests.append(request)
        return PartnerResponse(status, json={"status": status})

    connector = PolitieAbonnementen.from_config(TestPolitieAbonnementen.config)
    connector.transport = MockTransport(answer)
    delivery = Delivery(
        notification=notification,
        delivery_id=notification.idempotency_key,
        subject="psn-k1-" + "b" * 40,
        correlation_id="c-1",
    )
    asyncio.run(connector.deliver(delivery))
    (request,) = requests
    return request


def test_a_label_is_a_put_of_the_subscription_with_contact_validity_and_advice() -> None:
    request = _delivered(SET)
    assert request.method == "PUT"
    assert request.path == f"/api/abonnementen/{REFERENCE}"
    body = json.loads(request.content)
    assert body["label"] == "Levensloopaanpak"
    assert body["geldigheid"] == {"van": "2026-03-01", "tot": None}
    assert body["contact"]["name"] == LLC_NAME
    assert body["handelingsadvies"] == "Rustig benaderen; bel de LLC."
    assert body["persoon"] == {"pseudoniem": "psn-k1-" + "b" * 40}


def test_a_withdrawal_deletes_the_subscription_and_a_missing_one_counts_as_gone() -> None:
    request = _delivered(WITHDRAW, status=404)
    assert request.method == "DELETE"
    assert request.path == f"/api/abonnementen/{REFERENCE}"


async def _ingest(body: bytes) -> tuple[list[Any], str, Bus]:
    """What the runtime published for ``body``, and the labelled client's pseudonym."""
    async with Stores(labels={("politie", REFERENCE): BSN}) as stores:
        bus = Bus()
        runtime = InboundRuntime(
            PolitieSignalen.from_config(TestPolitieSignalen.config),
            sessions=stores.sessions,
            send=bus.send,
            pseudonymiser=stores.pseudonymiser,
            vault=stores.vault,
        )
        published = await runtime.ingest(InboundMessage(body=body))
        return published, stores.pseudonymiser.pseudonym(BSN), bus


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (signal(abonnementId="lla-never-set"), "holds no label"),
        (signal(bsn=OTHER_BSN), "another client"),
    ],
    ids=["unknown subscription", "subscription of another client"],
)
async def test_a_signal_on_a_subscription_the_hub_did_not_set_is_refused(
    body: bytes, why: str
) -> None:
    with pytest.raises(ContractError, match=why) as refused:
        await _ingest(body)
    assert refused.value.field == "abonnementId"


async def test_a_signal_on_a_known_subscription_is_about_its_client() -> None:
    (envelope,), subject, bus = await _ingest(signal())
    assert envelope.subject == subject
    assert envelope.type == PoliceEncounter.event_type()
    assert len(bus.records) == 1
