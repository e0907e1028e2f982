"""The bus over real TCP on the embedded tansu broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from hub.bus.admin import BrokerWatch
from hub.bus.broker import make_broker
from hub.bus.codec import decode
from hub.bus.embedded import EmbeddedKafka, answers_kafka
from hub.bus.publisher import EventPublisher
from hub.core.topics import DETENTION
from hub.schemas.envelope import partner_source
from hub.settings import KafkaSettings
from tests.data import TEST_BSNS, detention_started, pseudonymiser

pytestmark = pytest.mark.integration


def test_embedded_broker_answers_the_kafka_protocol(embedded_kafka: EmbeddedKafka) -> None:
    assert embedded_kafka.running
    assert answers_kafka(embedded_kafka.host, embedded_kafka.port)


async def _consume_one(
    settings: KafkaSettings, topic: str, key: bytes
) -> tuple[dict[str, bytes], bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"it-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        if record.key == key:
                            return dict(record.headers), record.value
    finally:
        await consumer.stop()


async def test_event_crosses_real_tcp_with_headers_intact(kafka_settings: KafkaSettings) -> None:
    subject = pseudonymiser().pseudonym(TEST_BSNS[2])
    broker = make_broker(kafka_settings)
    async with broker:
        await broker.start()
        envelope = await EventPublisher(broker).publish_data(
            "nl.ketenhub.detention.started.v1",
            detention_started().model_dump(mode="json"),
            subject=subject,
            source=partner_source("dji"),
            correlation_id="flow-a-1",
        )
    headers, value = await _consume_one(kafka_settings, DETENTION.name, subject.encode())
    assert headers["ce_id"] == envelope.id.encode()
    assert headers["ce_correlationid"] == b"flow-a-1"
    assert headers["ce_datacategories"] == b"identity,justice"
    back_envelope, event = decode(headers, value)
    assert back_envelope == envelope
    assert event == detention_started()
    assert TEST_BSNS[2].encode() not in value + b"".join(headers.values())


async def test_the_relay_looks_at_the_broker_over_clients_it_keeps_open(
    kafka_settings: KafkaSettings,
) -> None:
    """Every look through one admin client and one consumer (each look had opened two,
    every two seconds); a failed look closes them, so the next one opens new ones."""
    watch = BrokerWatch(kafka_settings, [DETENTION.name])
    first = await watch.read()
    clients = watch._clients
    assert clients is not None
    again = await watch.read()
    assert watch._clients is clients, "the same clients for the next look"
    assert again.cluster_id == first.cluster_id
    assert set(again.ends) == set(first.ends) == {f"{DETENTION.name}:{n}" for n in range(6)}
    await watch.close()
    assert watch._clients is None
    gone = BrokerWatch(KafkaSettings(bootstrap_servers="127.0.0.1:1"), [DETENTION.name])
    with pytest.raises(KafkaError):
        await gone.read()
    assert gone._clients is None, "a failed look keeps nothing open"


async def test_a_broker_started_again_on_the_same_address_is_a_new_cluster() -> None:
    """tansu holds everything in memory, so a broker started again on the address of one
    that died is a new cluster, and its cluster id says so. Under tansu's fixed default
    id only offsets that went back gave it away, and new traffic carried every partition
    past them before the relay looked: events and deliveries lost with the old broker
    were never sent again (CI, tests/chaos/test_broker_restart.py, 67 of 160 decided)."""
    broker = EmbeddedKafka().start()
    watch = BrokerWatch(KafkaSettings(bootstrap_servers=broker.bootstrap_servers), [])
    try:
        first = await watch.read()
        assert first.cluster_id == broker.cluster_id
        broker.kill()
        with pytest.raises(KafkaError):
            await watch.read()
        broker.start()
        again = await watch.read()
        assert again.cluster_id == broker.cluster_id != first.cluster_id
    finally:
        await watch.close()
        broker.stop()
