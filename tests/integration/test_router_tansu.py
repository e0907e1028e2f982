"""Acceptance on the embedded broker: consent changes what the LLC receives, and every
step is visible in ``hub audit search``.

A medical-plus-justice signal (a crisis-service contact) for a client without consent
reaches the LLC with only the justice and contact fields; after a consent event the next
one arrives whole; after withdrawal the medical fields are stripped again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from hub.app import build_broker
from hub.bus.codec import decode
from hub.bus.publisher import EventPublisher
from hub.cli import app
from hub.core.topics import delivery_topic
from hub.identity.pseudonym import Pseudonymiser
from hub.schemas.base import CanonicalEvent
from hub.schemas.consent import ConsentRecorded, ConsentWithdrawn
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.envelope import Envelope, partner_source
from hub.settings import DatabaseSettings, HubSettings, KafkaSettings
from hub.state import audit
from hub.state.database import make_engine, migrate, sessionmaker
from tests.data import TEST_BSNS, client_included, crisis_contact, fhir_consent

pytestmark = pytest.mark.integration
# A key of its own: the session's broker is shared, and other tests' events about the
# same test person must not reach this test's router or consumer.
SUBJECT = Pseudonymiser(active_key_id="rt", keys={"rt": secrets.token_bytes(32)}).pseudonym(
    TEST_BSNS[2]
)
MEDICAL = {"assessment", "outcome"}


@pytest.fixture
async def deliveries(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        delivery_topic("llz").name,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        group_id=f"it-llc-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        session_timeout_ms=kafka_settings.session_timeout_ms,
        heartbeat_interval_ms=kafka_settings.heartbeat_interval_ms,
    )
    await consumer.start()
    yield consumer
    await consumer.stop()


async def _next_delivery(consumer: AIOKafkaConsumer) -> NotificationDelivery:
    async with asyncio.timeout(30):
        while True:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    if record.key == SUBJECT.encode():
                        _, delivery = decode(record.headers, record.value)
                        assert isinstance(delivery, NotificationDelivery)
                        return delivery


async def _until_audited(engine: AsyncEngine, event_id: str) -> None:
    async with asyncio.timeout(30):
        while True:
            async with sessionmaker(engine)() as session:
                query = audit.AuditQuery(event_id=event_id)
                if [r async for r in audit.search(session, query)]:
                    return
            await asyncio.sleep(0.05)


async def test_consent_and_withdrawal_change_what_the_llc_receives(
    kafka_settings: KafkaSettings, deliveries: AIOKafkaConsumer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    settings = HubSettings(
        data_dir=tmp_path, kafka=kafka_settings, database=DatabaseSettings(url=url)
    )
    engine = make_engine(url)
    await migrate(engine)
    broker, _, _ = build_broker(settings, engine)
    publisher = EventPublisher(broker)

    async def publish(event: CanonicalEvent, sender: str) -> str:
        envelope = Envelope.for_event(event, subject=SUBJECT, source=partner_source(sender))
        await publisher.publish(event, envelope)
        return envelope.id

    try:
        async with broker:
            await broker.start()
            await _until_audited(engine, await publish(client_included(), "zvh:amsterdam"))

            await publish(crisis_contact(), "crisis:amsterdam")
            first = await _next_delivery(deliveries)
            assert MEDICAL.isdisjoint(first.content)
            assert set(first.removed_fields) == MEDICAL
            assert first.content["police_involved"] is True

            consent = ConsentRecorded(
                consent=fhir_consent("c-1", actor="llz:fivoor", patient=SUBJECT)
            )
            await _until_audited(engine, await publish(consent, "zvh:amsterdam"))
            await publish(crisis_contact(), "crisis:amsterdam")
            second = await _next_delivery(deliveries)
            assert set(second.content) >= MEDICAL
            assert second.removed_fields == ()

            withdrawal = ConsentWithdrawn(consent_id="c-1", withdrawn_at=dt.datetime.now(dt.UTC))
            await _until_audited(engine, await publish(withdrawal, "zvh:amsterdam"))
            await publish(crisis_contact(), "crisis:amsterdam")
            third = await _next_delivery(deliveries)
            assert set(third.removed_fields) == MEDICAL
    finally:
        await engine.dispose()

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["audit", "search", "--subject", SUBJECT, "--partner", "llz:fivoor"],
        env={"HUB_DATABASE__URL": url},
    )
    assert result.exit_code == 0, result.output
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["outcome"] for s in steps] == ["PERMIT_REDACTED", "PERMIT", "PERMIT_REDACTED"]
    assert [s["consent_id"] for s in steps] == [None, "c-1", None]
    assert steps[1]["legal_bases"] == ["bsn-bevoegd", "consent", "wgs-samenwerkingsverband"]
    assert steps[0]["removed_fields"] == ["assessment", "outcome"]
