"""The bus flows on FastStream's in-memory TestKafkaBroker (the same flows run on tansu)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.app import build_broker
from hub.bus.codec import decode
from hub.bus.publisher import EventPublisher
from hub.core.errors import ContractError
from hub.core.topics import CASE, DEAD_LETTER, DETENTION, delivery_topic
from hub.schemas.case import TeamMember, TeamRole
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.envelope import partner_source
from hub.settings import HubSettings
from hub.state import audit
from hub.state.cases import load_case
from hub.state.database import make_engine, migrate, sessionmaker
from tests.data import TEST_BSNS, client_included, detention_started, pseudonymiser

SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])


async def test_published_event_arrives_with_cloudevents_headers() -> None:
    broker = KafkaBroker()
    received: list[KafkaMessage] = []

    @broker.subscriber(DETENTION.name, group_id="test")
    async def handler(message: KafkaMessage) -> None:
        received.append(message)

    async with TestKafkaBroker(broker):
        envelope = await EventPublisher(broker).publish_data(
            "nl.ketenhub.detention.started.v1",
            detention_started().model_dump(mode="json"),
            subject=SUBJECT,
            source=partner_source("dji"),
        )
    assert len(received) == 1
    message = received[0]
    assert message.headers["ce_id"] == envelope.id
    assert message.headers["ce_subject"] == SUBJECT
    back_envelope, event = decode(message.headers, message.body)
    assert back_envelope.correlationid == envelope.id
    assert event == detention_started()


@pytest.mark.parametrize(
    ("event_type", "data", "subject", "field"),
    [
        ("nl.ketenhub.detention.started.v1", {"start_date": "x"}, SUBJECT, "source_event_id"),
        ("nl.ketenhub.nope.v1", {}, SUBJECT, "type"),
        ("nl.ketenhub.detention.started.v1", None, None, "subject"),
        ("nl.ketenhub.detention.started.v1", None, TEST_BSNS[0], "subject"),
    ],
)
async def test_malformed_input_publishes_nothing(
    event_type: str, data: dict[str, object] | None, subject: str | None, field: str
) -> None:
    broker = KafkaBroker()

    @broker.subscriber(DETENTION.name, group_id="test")
    async def handler(message: KafkaMessage) -> None:
        raise AssertionError("nothing may be published")

    async with TestKafkaBroker(broker):
        with pytest.raises(ContractError) as info:
            await EventPublisher(broker).publish_data(
                event_type,
                data if data is not None else detention_started().model_dump(mode="json"),
                subject=subject,
                source=partner_source("dji"),
            )
        handler.mock.assert_not_called()
    assert info.value.field == field


def _hub(tmp_path: Path) -> tuple[AsyncEngine, KafkaBroker]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    broker, _, _ = build_broker(HubSettings(data_dir=tmp_path), engine)
    return engine, broker


async def test_router_applies_each_inclusion_once_and_sets_labels(tmp_path: Path) -> None:
    engine, broker = _hub(tmp_path)
    await migrate(engine)
    labels: list[KafkaMessage] = []

    @broker.subscriber(delivery_topic("politie").name, group_id="test-politie")
    async def on_politie(message: KafkaMessage) -> None:
        labels.append(message)

    included = client_included(
        team=(*client_included().team, TeamMember(partner="politie", role=TeamRole.POLITIE))
    )
    try:
        async with TestKafkaBroker(broker):
            publisher = EventPublisher(broker)
            for _ in range(2):  # the second is a redelivery of the same event id
                await publisher.publish_data(
                    "nl.ketenhub.case.included.v1",
                    included.model_dump(mode="json"),
                    subject=SUBJECT,
                    source=partner_source("zvh:amsterdam"),
                    event_id="incl-1",
                )
        async with sessionmaker(engine)() as session:
            case = await load_case(session, SUBJECT)
            records = [r async for r in audit.search(session, audit.AuditQuery())]
        assert case is not None
        assert case.included
        assert case.is_member("llz:fivoor")
        assert len(case.team) == 4
        assert len(labels) == 1
        _, delivery = decode(labels[0].headers, labels[0].body)
        assert isinstance(delivery, NotificationDelivery)
        assert delivery.flow == "B"
        assert set(delivery.content) == {
            "levensloopaanpak",
            "zvh",
            "included_since",
            "llc",
            "casusregisseur",
            "procesregisseur",
        }
        assert delivery.label_reference is not None
        assert delivery.label_reference.startswith("lla-")
        assert [(r["outcome"], r["recipient"]) for r in records] == [
            ("RECORDED", None),
            ("PERMIT_REDACTED", "politie"),
        ]
    finally:
        await engine.dispose()


async def test_malformed_record_is_dead_lettered_not_crashed(tmp_path: Path) -> None:
    engine, broker = _hub(tmp_path)
    await migrate(engine)
    dead: list[KafkaMessage] = []

    @broker.subscriber(DEAD_LETTER.name, group_id="test-dlq")
    async def on_dead(message: KafkaMessage) -> None:
        dead.append(message)

    try:
        async with TestKafkaBroker(broker):
            await broker.publish(b"{}", topic=CASE.name, headers={"ce_type": "nl.ketenhub.x.v1"})
        assert len(dead) == 1
        assert dead[0].headers["x-hub-error"] == "contract-violation"
        assert b'"consumer": "hub-router"' in dead[0].body
    finally:
        await engine.dispose()
