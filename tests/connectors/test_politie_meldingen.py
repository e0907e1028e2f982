"""The police's break-glass notice: a signal delivery that a conflict-of-duties decision
released to the police is posted to ``/meldingen`` with exactly the released fields and
a review marker, and it finds this connector while a label still finds the subscription
connector, though both read the police's one delivery topic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from hub.bus.codec import encode
from hub.connectors import ConfigurationError, Delivery, PartnerRequest, PartnerResponse
from hub.connectors.base import OutboundConnector
from hub.connectors.politie import PolitieAbonnementen, PolitieMeldingen
from hub.connectors.runtime.outbound import Origin, OutboundRuntime, Result
from hub.connectors.runtime.wiring import wire
from hub.connectors.testing import MockTransport, OutboundConnectorSuite, OutboundScenario
from hub.connectors.testing.harness import Stores
from hub.core.topics import delivery_topic
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import DecisionSummary, Flow, NotificationDelivery, Outcome
from hub.schemas.detention import DetentionStarted
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.schemas.signals import CrisisContact
from hub.settings import KafkaSettings
from hub.simulators.server import make_simulator
from tests.connectors.label_content import REFERENCE, label_set

ASSESSMENT = "Acuut psychotisch, dreigt met geweld tegen de buurman."
SUBJECT = "psn-k1-" + "c" * 40
CONFIG: dict[str, Any] = {"base_url": "https://meldingen.politie.example/api"}


def break_glass(
    content: dict[str, Any] | None = None, outcome: Outcome = Outcome.PERMIT_BREAK_GLASS
) -> NotificationDelivery:
    """A crisis contact as the router makes it for the police under a DOORBREKING: the
    assessment released, everything else of the contact removed."""
    released = {"assessment": ASSESSMENT} if content is None else content
    return NotificationDelivery(
        recipient="politie",
        recipient_role="politie",
        flow=Flow.F,
        purpose="voorkomen-ernstig-gevaar",
        source_type=CrisisContact.event_type(),
        idempotency_key="dlv-break-glass-1",
        decision=DecisionSummary(
            outcome=outcome,
            legal_bases=("conflict-van-plichten",),
            rule_ids=("conflict-van-plichten",),
            policy_version="sha256:test",
        ),
        content=released,
        content_categories=dict.fromkeys(released, DataCategory.MEDICAL),
        removed_fields=("occurred_at", "police_involved", "outcome", "crisis_team"),
    )


class TestPolitieMeldingen(OutboundConnectorSuite):
    connector = PolitieMeldingen
    config: ClassVar[dict[str, Any]] = {**CONFIG, "api_key": "politie-meldingen-kit-key"}
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario(
            "a break-glass crisis contact", break_glass(), personal_data=(ASSESSMENT,)
        ),
        OutboundScenario(
            "a break-glass crisis contact with the BSN permitted",
            break_glass().model_copy(update={"idempotency_key": "dlv-break-glass-2"}),
            bsn="212121224",
            personal_data=(ASSESSMENT,),
        ),
    ]


def _delivered(
    notification: NotificationDelivery, status: int = 201, bsn: str | None = None
) -> PartnerRequest:
    requests: list[PartnerRequest] = []

    def answer(request: PartnerRequest) -> PartnerResponse:
        requests.append(request)
        return PartnerResponse(status, json={"status": status})

    connector = PolitieMeldingen.from_config(CONFIG)
    connector.transport = MockTransport(answer)
    delivery = Delivery(
        notification=notification,
        delivery_id=notification.idempotency_key,
        subject=SUBJECT,
        correlation_id="c-1",
        bsn=bsn,
    )
    asyncio.run(connector.deliver(delivery))
    (request,) = requests
    return request


def test_the_notice_carries_exactly_the_released_fields_and_asks_for_review() -> None:
    request = _delivered(break_glass())
    assert (request.method, request.path) == ("POST", "/api/meldingen")
    assert request.headers["Idempotency-Key"] == "dlv-break-glass-1"
    body = json.loads(request.content)
    assert body["inhoud"] == {"assessment": ASSESSMENT}
    assert body["categorieen"] == {"assessment": "medical"}
    assert body["doorbreking"] is True
    assert body["toetsingVereist"] is True
    assert body["besluit"]["uitkomst"] == "PERMIT_BREAK_GLASS"
    assert body["besluit"]["grondslagen"] == ["conflict-van-plichten"]
    assert body["over"] == CrisisContact.event_type()
    assert body["meldingId"] == "dlv-break-glass-1"
    assert body["persoon"] == {"pseudoniem": SUBJECT}
    assert body["abonnementId"] is None
    assert "outcome" not in request.content.decode()  # not even a removed field's name


def test_the_bsn_is_sent_only_when_the_delivery_permits_it() -> None:
    body = json.loads(_delivered(break_glass(), bsn="212121224").content)
    assert body["persoon"] == {"bsn": "212121224"}


def test_a_notice_released_without_break_glass_is_not_marked_for_review() -> None:
    body = json.loads(_delivered(break_glass(outcome=Outcome.PERMIT)).content)
    assert (body["doorbreking"], body["toetsingVereist"]) == (False, False)


def test_a_409_means_the_police_have_the_notice_already() -> None:
    request = _delivered(break_glass(), status=409)
    assert request.headers["Idempotency-Key"] == "dlv-break-glass-1"


def _record(notification: NotificationDelivery) -> tuple[dict[str, str], bytes, Origin]:
    envelope = Envelope.for_event(
        notification, subject=SUBJECT, source=HUB_SOURCE, event_id=notification.idempotency_key
    )
    record = encode(notification, envelope)
    return record.headers, record.value, Origin(record.topic, 0, 0, record.key)


def _in_process(simulator: httpx.ASGITransport) -> MockTransport:
    """The simulator as the partner, in this process: each call goes to its ASGI app
    through httpx, as the tests' own calls to it do."""

    async def forward(request: PartnerRequest) -> PartnerResponse:
        async with httpx.AsyncClient(transport=simulator) as client:
            answer = await client.request(
                request.method, request.url, headers=dict(request.headers), content=request.content
            )
        return PartnerResponse(
            answer.status_code, headers=dict(answer.headers), content=answer.content
        )

    return MockTransport(forward)


@asynccontextmanager
async def _wired(
    stores: Stores, connectors: list[OutboundConnector[Any]]
) -> AsyncIterator[dict[str, OutboundRuntime]]:
    """The connectors' runtimes as the hub wires them, on the in-memory broker (where
    a dead letter goes)."""
    broker = KafkaBroker()
    wired = wire(
        connectors,
        broker=broker,
        kafka=KafkaSettings(),
        sessions=stores.sessions,
        pseudonymiser=stores.pseudonymiser,
    )
    async with TestKafkaBroker(broker):
        yield {r.connector.name: r for r in wired.outbound_runtimes}


async def test_a_crisis_contact_reaches_the_police_simulator_and_a_label_the_subscription() -> None:
    """Both police connectors wired as the hub wires them, against the police simulator:
    each delivers its own event and skips the other's, and nothing is dead-lettered."""
    simulator = make_simulator("politie")
    police = httpx.ASGITransport(app=simulator)
    notices = PolitieMeldingen.from_config({"base_url": "http://politie.sim/api"})
    subscriptions = PolitieAbonnementen.from_config({"base_url": "http://politie.sim/api"})
    notices.transport = subscriptions.transport = _in_process(police)
    async with Stores() as stores:
        crisis, label = _record(break_glass()), _record(label_set("politie", "politie"))
        async with _wired(stores, [subscriptions, notices]) as runtimes:
            handled = {
                (name, what): await runtime.handle(*record)
                for name, runtime in runtimes.items()
                for what, record in (("crisis", crisis), ("label", label))
            }
    assert handled == {
        ("politie-meldingen", "crisis"): Result.DELIVERED,
        ("politie-meldingen", "label"): Result.NOT_OURS,
        ("politie-abonnementen", "crisis"): Result.NOT_OURS,
        ("politie-abonnementen", "label"): Result.DELIVERED,
    }
    async with httpx.AsyncClient(transport=police, base_url="http://politie.sim") as client:
        held = (await client.get("/_sim/state")).json()["resources"]
        received = (await client.get("/_sim/received")).json()["received"]
    assert held["/api/meldingen/dlv-break-glass-1"]["inhoud"] == {"assessment": ASSESSMENT}
    assert held["/api/meldingen/dlv-break-glass-1"]["toetsingVereist"] is True
    assert f"/api/abonnementen/{REFERENCE}" in held
    assert sorted((r["method"], r["path"]) for r in received) == [
        ("POST", "/api/meldingen"),
        ("PUT", f"/api/abonnementen/{REFERENCE}"),
    ]


async def test_the_subscription_connector_in_a_process_of_its_own_leaves_a_notice_alone() -> None:
    """A deployment runs each connector alone: the installed notice connector still
    counts, so the crisis contact is not refused in the police's subscription lane."""
    async with (
        Stores() as stores,
        _wired(stores, [PolitieAbonnementen.from_config(CONFIG)]) as runtimes,
    ):
        (result,) = [await r.handle(*_record(break_glass())) for r in runtimes.values()]
    assert result is Result.NOT_OURS


async def test_an_event_no_police_connector_accepts_is_still_dead_lettered() -> None:
    """Skipping another connector's event must not turn into losing one nobody takes."""
    stray = break_glass().model_copy(
        update={"source_type": DetentionStarted.event_type(), "idempotency_key": "dlv-stray"}
    )
    notices = PolitieMeldingen.from_config(CONFIG)
    subscriptions = PolitieAbonnementen.from_config(CONFIG)
    async with Stores() as stores, _wired(stores, [subscriptions, notices]) as runtimes:
        results = [await r.handle(*_record(stray)) for r in runtimes.values()]
    assert results == [Result.DEAD_LETTERED, Result.DEAD_LETTERED]


async def test_two_connectors_that_would_both_deliver_one_event_are_refused() -> None:
    class SecondSubscriptions(PolitieAbonnementen):
        name: ClassVar[str] = "politie-abonnementen-twee"

    async with Stores() as stores:
        with pytest.raises(ConfigurationError, match="both deliver") as refused:
            wire(
                [PolitieAbonnementen.from_config(CONFIG), SecondSubscriptions.from_config(CONFIG)],
                broker=KafkaBroker(),
                kafka=KafkaSettings(),
                sessions=stores.sessions,
                pseudonymiser=stores.pseudonymiser,
            )
    assert refused.value.field == "connectors.politie-abonnementen-twee"


def test_both_police_connectors_read_the_police_delivery_topic() -> None:
    topic = delivery_topic("politie").name
    assert PolitieMeldingen.topics() == PolitieAbonnementen.topics() == (topic,)
