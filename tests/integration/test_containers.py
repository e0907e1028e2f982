"""Apache Kafka and PostgreSQL in containers (testcontainers). Skips where no Docker engine runs."""

from __future__ import annotations

import uuid

import pytest

from hub.bus.broker import make_broker
from hub.bus.publisher import EventPublisher
from hub.schemas.envelope import partner_source
from hub.settings import KafkaSettings
from hub.state import idempotency
from hub.state.database import make_engine, migrate, sessionmaker
from tests.data import TEST_BSNS, detention_started, pseudonymiser

pytestmark = pytest.mark.docker


def _docker_engine_or_skip() -> None:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # any failure to reach an engine means: skip, with the reason
        pytest.skip(
            f"no Docker engine answers ({type(exc).__name__}); testcontainers tests skipped"
        )


async def test_publish_and_idempotency_on_apache_kafka_and_postgres() -> None:
    _docker_engine_or_skip()
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer() as kafka, PostgresContainer("postgres:16", driver="asyncpg") as pg:
        settings = KafkaSettings(
            bootstrap_servers=kafka.get_bootstrap_server(), idempotent_producer=True
        )
        broker = make_broker(settings)
        async with broker:
            await broker.start()
            envelope = await EventPublisher(broker).publish_data(
                "nl.ketenhub.detention.started.v1",
                detention_started().model_dump(mode="json"),
                subject=pseudonymiser().pseudonym(TEST_BSNS[0]),
                source=partner_source("dji"),
            )
        engine = make_engine(pg.get_connection_url())
        await migrate(engine)
        async with sessionmaker(engine).begin() as session:
            assert await idempotency.claim(session, "it", envelope.id)
            assert not await idempotency.claim(session, "it", envelope.id)
            assert await idempotency.claim(session, "it", str(uuid.uuid4()))
        await engine.dispose()
