"""Connectors switched on by configuration, in a running hub on the embedded broker.

Iris posts a signed probation signal to the hub's webhook; the router decides; the ZVH
notifications connector posts it to the ZVH with the BSN (the ZVH may hold it). One
partner system to another, through the hub, with no code but configuration.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from hub.app import HubProcess, build_broker
from hub.bus.admin import ensure_topics
from hub.bus.publisher import EventPublisher
from hub.bus.sealing import scope_of
from hub.connectors import PartnerRequest, PartnerResponse, registry
from hub.connectors.gemeente import GemeenteCasusregisseur
from hub.connectors.json_notifications import JsonNotifications
from hub.connectors.kedo import KedoRegie
from hub.connectors.llz import LlcCommunication
from hub.connectors.pi import PiBackoffice
from hub.connectors.runtime.signing import signed_headers
from hub.connectors.testing import HttpPartner, MockTransport
from hub.connectors.zvh import ZvhNotifications
from hub.core.errors import ConfigurationError
from hub.core.polling import wait_for
from hub.core.topics import ROUTER_GROUP, delivery_topic
from hub.identity.pseudonym import Pseudonymiser
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientIncluded, TeamMember, TeamRole
from hub.schemas.detention import DetentionStarted
from hub.schemas.envelope import Envelope, partner_source
from hub.schemas.partners import known_kinds
from hub.settings import (
    DatabaseSettings,
    HttpSettings,
    HubSettings,
    KafkaSettings,
    PartnerSettings,
    RoutingSettings,
)
from hub.state import audit, holdback
from hub.state.cases import load_case
from hub.state.database import make_engine, migrate, sessionmaker
from tests.connectors.test_injus_kit import gebeurtenis
from tests.connectors.test_kedo_kit import ANSWER as KEDO_ANSWER
from tests.connectors.test_reclassering_kit import signal
from tests.data import TEST_NAMES, client_included, detention_started

BSN = "212121224"
SECRET = "iris-webhook-secret"


def test_a_misconfigured_connector_stops_the_start_naming_the_field(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path, connectors={"zvh-notifications": {}})
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    pseudonymiser = Pseudonymiser(active_key_id="k", keys={"k": secrets.token_bytes(32)})
    with pytest.raises(ConfigurationError) as info:
        build_broker(settings, engine, pseudonymiser=pseudonymiser)
    assert info.value.field == "connectors.zvh-notifications.base_url"
    unknown = settings.model_copy(update={"connectors": {"no-such": {}}})
    with pytest.raises(ConfigurationError) as info:
        build_broker(unknown, engine, pseudonymiser=pseudonymiser)
    assert info.value.field == "connectors.no-such"
    assert "zvh-notifications" in str(info.value)


async def _until_included(process: HubProcess, subject: str) -> None:
    async with asyncio.timeout(30):
        while True:
            async with sessionmaker(process.engine)() as session:
                if await load_case(session, subject) is not None:
                    return
            await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_a_signed_iris_signal_reaches_the_zvh_with_the_bsn(
    kafka_settings: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = HttpPartner()
    monkeypatch.setattr(ZvhNotifications, "transport", partner.transport)
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=0),
        connectors={
            "reclassering-iris-signals": {"webhook_secret": SECRET},
            "zvh-notifications": {"base_url": "https://zvh.example/api", "max_attempts": 2},
        },
    )
    # A key of its own, so no other test's events about this person reach this hub.
    pseudonymiser = Pseudonymiser(active_key_id="w1", keys={"w1": secrets.token_bytes(32)})
    subject = pseudonymiser.pseudonym(BSN)

    def about_this_client() -> list[PartnerRequest]:
        """The shared broker may hold other tests' deliveries for the ZVH too."""
        return [r for r in partner.requests if BSN in str(r.content) or subject in str(r.content)]

    process = HubProcess(settings, pseudonymiser)
    await migrate(process.engine)
    await process.start()
    try:
        included = client_included()
        envelope = Envelope.for_event(
            included, subject=subject, source=partner_source("zvh:amsterdam")
        )
        sealer = await process.keyring.current(subject, scope_of(included))
        await EventPublisher(process.broker).publish(included, envelope, sealer)
        await _until_included(process, subject)
        body = signal()
        async with httpx.AsyncClient(base_url=process.http_url) as client:
            refused = await client.post(
                "/connectors/reclassering-iris-signals/messages",
                content=body,
                headers=signed_headers(b"wrong", body),
            )
            accepted = await client.post(
                "/connectors/reclassering-iris-signals/messages",
                content=body,
                headers=signed_headers(SECRET.encode(), body),
            )
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert accepted.status_code == 202, accepted.text
        await wait_for(lambda: bool(about_this_client()))
    finally:
        await process.stop()
    (request,) = about_this_client()
    sent = json.loads(request.content)
    assert request.path == "/api/meldingen"
    assert sent["client"] == {"bsn": BSN}
    assert sent["stroom"] == "F"
    assert sent["inhoud"]["summary"] == "Locatieverbod overtreden."
    assert request.headers["idempotency-key"] == sent["meldingId"]


@pytest.mark.integration
async def test_flow_a_from_the_injus_xml_through_kedo_to_every_partner(
    kafka_settings: KafkaSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    """Injus START by signed webhook; KEDO (a fake) says included; the gemeente, the LLC
    (a FHIR Communication), the ZVH and the PI backoffice each get their notification.
    A second person whom KEDO does not know yields nothing but a "no case" audit."""
    partners = {name: HttpPartner() for name in ("gemeente", "llc", "zvh", "pi")}
    for cls, name in (
        (GemeenteCasusregisseur, "gemeente"),
        (LlcCommunication, "llc"),
        (ZvhNotifications, "zvh"),
        (PiBackoffice, "pi"),
    ):
        monkeypatch.setattr(cls, "transport", partners[name].transport)
    known = "999999990"
    kedo_seen: list[str] = []

    def kedo(request: PartnerRequest) -> PartnerResponse:
        kedo_seen.append(request.path)
        if request.path.endswith(f"/{known}"):
            return PartnerResponse(200, json=KEDO_ANSWER)
        return PartnerResponse(404)

    monkeypatch.setattr(KedoRegie, "transport", MockTransport(kedo))

    def about(partner: HttpPartner) -> list[PartnerRequest]:
        """This test's notices: the session's broker may still hold earlier tests' ones."""
        return [r for r in partner.requests if known.encode() in r.content]

    api = {"base_url": "https://partner.example/api"}
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=0),
        connectors={
            "injus-detentie": {"webhook_secret": SECRET},
            "kedo-regie": {"base_url": "https://kedo.example/api"},
            "gemeente-casusregisseur": api,
            "llc-communication": {"base_url": "https://fhir.example/fhir"},
            "zvh-notifications": api,
            "pi-backoffice": api,
        },
    )
    pseudonymiser = Pseudonymiser(active_key_id="a1", keys={"a1": secrets.token_bytes(32)})
    process = HubProcess(settings, pseudonymiser)
    await migrate(process.engine)
    await process.start()
    try:
        async with httpx.AsyncClient(base_url=process.http_url) as client:
            posted = time.perf_counter()
            for bsn, event_id in ((known, "INJUS-A-1"), ("111222333", "INJUS-A-2")):
                body = gebeurtenis(event_id=event_id, bsn=bsn)
                response = await client.post(
                    "/connectors/injus-detentie/messages",
                    content=body,
                    headers={**signed_headers(SECRET.encode(), body), "content-type": "text/xml"},
                )
                assert response.status_code == 202, response.text
        await wait_for(lambda: bool(about(partners["llc"])))
        latency = time.perf_counter() - posted
        await wait_for(lambda: all(about(p) for p in partners.values()))
        await _until_audited(process, "NO_CASE")
    finally:
        await process.stop()
    report(f"[flow A] Injus POST to the LLC's FHIR Communication: {latency * 1000:.0f} ms")
    sent = {name: json.loads(about(p)[0].content) for name, p in partners.items()}
    assert all(len(about(p)) == 1 for p in partners.values()), "one notice each, no more"
    assert sent["llc"]["resourceType"] == "Communication"
    assert sent["llc"]["subject"]["identifier"]["value"] == known
    assert "PI Amsterdam" in sent["llc"]["payload"][0]["contentString"]
    assert sent["pi"]["melding"] == "in-levensloopaanpak"
    assert sent["pi"]["levensloopcoordinator"]["organisation"] == "Fivoor"
    assert "detention_title" not in json.dumps(sent["pi"]), "a PI gets only the label"
    assert sent["gemeente"]["stroom"] == "A"
    assert sent["zvh"]["client"] == {"bsn": known}
    # The health probe may call too, and the session's broker may hold another test's
    # detention of the same (kit) BSN, so only the two look-ups are required.
    assert {"/api/regie/111222333", f"/api/regie/{known}"} <= set(kedo_seen)


async def _until_audited(process: HubProcess, outcome: str) -> None:
    async with asyncio.timeout(30):
        while True:
            async with sessionmaker(process.engine)() as session:
                found = [r async for r in audit.search(session, audit.AuditQuery(outcome=outcome))]
            if found:
                return
            await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_while_kedo_is_down_the_event_waits_and_then_arrives(
    kafka_settings: KafkaSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_personal_data_in_logs: Any,
) -> None:
    """KEDO answers 503 longer than one look-up's budget: the event is parked (the
    partition moves on), retried in the background, and then delivered."""
    zvh = HttpPartner()
    calls: list[int] = []

    def kedo(request: PartnerRequest) -> PartnerResponse:
        calls.append(1)
        if len(calls) <= 6:
            return PartnerResponse(503)
        return PartnerResponse(200, json=KEDO_ANSWER)

    monkeypatch.setattr(ZvhNotifications, "transport", zvh.transport)
    monkeypatch.setattr(KedoRegie, "transport", MockTransport(kedo))
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=0),
        routing=RoutingSettings(retry_interval_s=0.2),
        connectors={
            "injus-detentie": {"webhook_secret": SECRET},
            "kedo-regie": {"base_url": "https://kedo.example/api", "budget_s": 0.3},
            "zvh-notifications": {"base_url": "https://zvh.example/api"},
        },
    )
    pseudonymiser = Pseudonymiser(active_key_id="p1", keys={"p1": secrets.token_bytes(32)})
    process = HubProcess(settings, pseudonymiser)
    await migrate(process.engine)
    await process.start()
    try:
        body = gebeurtenis(event_id="INJUS-P-1", bsn="999999990")
        async with httpx.AsyncClient(base_url=process.http_url) as client:
            response = await client.post(
                "/connectors/injus-detentie/messages",
                content=body,
                headers=signed_headers(SECRET.encode(), body),
            )
        assert response.status_code == 202
        await wait_for(lambda: any(b"999999990" in r.content for r in zvh.requests))
        async with sessionmaker(process.engine)() as session:
            assert await holdback.pending(session, ROUTER_GROUP) == 0
    finally:
        await process.stop()
    assert any('"event_parked"' in line for line in no_personal_data_in_logs.lines)


@pytest.mark.integration
async def test_a_configured_kinds_partner_gets_its_notice_through_a_running_hub(
    kafka_settings: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind the hub was not built with (``ggz``, from ``HUB_PARTNERS__KINDS``): its
    partner is on a client's team, the hub makes its delivery topic at start, the router
    addresses it, and a partner's connector serving the kind posts the notice."""
    kinds = {"ggz": {"qualifier": "[a-z0-9-]{1,40}", "role": "zorgaanbieder"}}
    monkeypatch.setenv("HUB_PARTNERS__KINDS", json.dumps(kinds))
    known_kinds.cache_clear()

    class GgzMeldingen(JsonNotifications):
        """As a partner's own package would declare it, serving every ggz partner."""

        name: ClassVar[str] = "ggz-meldingen"
        version: ClassVar[str] = "0.1.0"
        partner: ClassVar[str] = "ggz"
        accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (DetentionStarted,)

    partner = HttpPartner()
    monkeypatch.setattr(GgzMeldingen, "transport", partner.transport)
    built_in = registry.installed()
    monkeypatch.setattr(registry, "installed", lambda: {**built_in, "ggz-meldingen": GgzMeldingen})
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=0),
        partners=PartnerSettings.model_validate({"kinds": kinds}),
        connectors={"ggz-meldingen": {"base_url": "https://ggz.example/api"}},
    )
    pseudonymiser = Pseudonymiser(active_key_id="g1", keys={"g1": secrets.token_bytes(32)})
    subject = pseudonymiser.pseudonym(BSN)
    team = (TeamMember(partner="ggz:parnassia", role=TeamRole.LEVENSLOOPCOORDINATOR),)
    process = HubProcess(settings, pseudonymiser)
    await migrate(process.engine)
    await process.start()
    try:
        made_at_start = not await ensure_topics(kafka_settings, [delivery_topic("ggz")])
        publisher = EventPublisher(process.broker)
        for event, source in (
            (client_included(team=team), "zvh:amsterdam"),
            (detention_started(source_event_id="INJUS-GGZ-1"), "dji"),
        ):
            envelope = Envelope.for_event(event, subject=subject, source=partner_source(source))
            await publisher.publish(
                event, envelope, await process.keyring.current(subject, scope_of(event))
            )
            if isinstance(event, ClientIncluded):
                await _until_included(process, subject)
        await wait_for(lambda: any(r.method == "POST" for r in partner.requests))
        async with sessionmaker(process.engine)() as session:
            query = audit.AuditQuery(partner="ggz:parnassia")
            decisions = [r async for r in audit.search(session, query)]
    finally:
        await process.stop()
        known_kinds.cache_clear()
    (request,) = [r for r in partner.requests if r.method == "POST"]
    sent = json.loads(request.content)
    assert (request.path, sent["ontvanger"], sent["stroom"]) == (
        "/api/meldingen",
        "ggz:parnassia",
        "A",
    )
    # The kind was configured with a role, not with a BSN authority: the policy sends the
    # notice without the BSN and the name (DESIGN §4), as to any such partner.
    text = request.content.decode()
    assert BSN not in text
    assert TEST_NAMES[0] not in text
    assert "PI Amsterdam" in text
    assert [(d["recipient"], d["outcome"]) for d in decisions] == [
        ("ggz:parnassia", "PERMIT_REDACTED")
    ]
    assert made_at_start, "the hub made delivery.ggz.v1 when it started"
