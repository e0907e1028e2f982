"""The relay tells a new, empty broker from the one the store knew: by the cluster id,
and by a partition whose end offset went back. Read on Apache Kafka, where a consumer's
cached metadata knows no topics until asked (the offsets must still be found), and on
tansu, whose cluster id never changes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import GroupCoordinatorNotAvailableError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.bus.admin import consumer_lag, ensure_topics
from hub.bus.apache_kafka import ApacheKafka
from hub.bus.embedded import EmbeddedKafka
from hub.core.record import KafkaRecord
from hub.core.topics import ALL_TOPICS, DETENTION
from hub.core.topics import ROUTER_GROUP as ROUTER
from hub.relay import Relay
from hub.settings import KafkaSettings
from hub.state.database import make_engine, migrate, sessionmaker
from tests.backends import production_kafka

pytestmark = [pytest.mark.integration, pytest.mark.apache_kafka, pytest.mark.postgres]


async def _nothing(records: Sequence[KafkaRecord]) -> None:
    assert not records, "nothing is unsettled, so nothing is sent again"


async def _produce(settings: KafkaSettings, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(DETENTION.name, b"x", key=f"k{n}".encode())
    finally:
        await producer.stop()


@pytest.fixture
async def store(postgres_url: str) -> AsyncEngine:
    engine = make_engine(postgres_url)
    await migrate(engine)
    return engine


async def test_a_new_cluster_or_a_partition_gone_back_is_a_new_broker(
    apache_kafka: ApacheKafka, store: AsyncEngine
) -> None:
    sessions = sessionmaker(store)
    kafka = production_kafka(apache_kafka)
    relay = Relay(sessions, _nothing, kafka, router=ROUTER)
    assert not await relay.broker_is_new()  # the first look, with nothing left to send
    await _produce(kafka, 5)
    assert not await relay.broker_is_new()
    for _ in range(50):  # a new cluster creates its offsets topic on first use
        try:
            lag = await consumer_lag(kafka, {"nobody-read-this": (DETENTION.name,)})
            break
        except GroupCoordinatorNotAvailableError:
            await asyncio.sleep(0.2)
    assert lag["nobody-read-this"] >= 5, "the partitions were found on Apache Kafka"

    with EmbeddedKafka() as first, EmbeddedKafka() as second:
        on_first = KafkaSettings(bootstrap_servers=first.bootstrap_servers)
        await ensure_topics(on_first, ALL_TOPICS)
        moved = Relay(sessions, _nothing, on_first, router=ROUTER)
        assert await moved.broker_is_new(), "another cluster id"
        await moved.redrive()
        assert not await moved.broker_is_new()
        await _produce(on_first, 5)
        assert not await moved.broker_is_new()

        on_second = KafkaSettings(bootstrap_servers=second.bootstrap_servers)
        await ensure_topics(on_second, ALL_TOPICS)
        replaced = Relay(sessions, _nothing, on_second, router=ROUTER)
        assert await replaced.broker_is_new(), "the same cluster id, its partitions gone back"
    await store.dispose()
