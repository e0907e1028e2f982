"""Apache Kafka and PostgreSQL in containers (testcontainers): publishing with the
idempotent producer, and flow A end to end through them. Skips, with the reason in the
report, where no Docker engine answers; runs for real wherever one does."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from hub.bus.admin import ensure_topics
from hub.bus.broker import make_broker
from hub.bus.publisher import EventPublisher
from hub.connectors.testing.harness import wait_until
from hub.core.topics import ALL_TOPICS
from hub.schemas.envelope import partner_source
from hub.settings import KafkaSettings
from hub.simulators.population import inclusion, person
from hub.state import audit, idempotency
from hub.state.database import make_engine, migrate, sessionmaker
from tests.data import TEST_BSNS, detention_started, pseudonymiser
from tests.integration.simulated_chain import simulated_chain

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


async def test_flow_a_through_apache_kafka_and_postgres(tmp_path: Path) -> None:
    """An Injus detention start, through the hub on Apache Kafka (idempotent producer)
    and PostgreSQL, reaches the LLC as a FHIR Communication; the decision is audited."""
    _docker_engine_or_skip()
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer() as kafka, PostgresContainer("postgres:16", driver="asyncpg") as pg:
        settings = KafkaSettings(
            bootstrap_servers=kafka.get_bootstrap_server(), idempotent_producer=True
        )
        await ensure_topics(settings, ALL_TOPICS)
        bsn = "111222333"
        async with simulated_chain(
            settings, tmp_path, database_url=pg.get_connection_url()
        ) as chain:
            found = person(bsn)
            assert found is not None
            await chain.send("zvh", inclusion(found, "TC-INCL-1"))
            await chain.recorded(bsn, 1)
            await chain.send("injus", {"kind": "START", "bsn": bsn, "event_id": "TC-A-1"})

            async def llc_has_it() -> bool:
                return bool(await chain.received("llc", bsn))

            await wait_until(llc_has_it, timeout_s=60)
            (notice,) = await chain.received("llc", bsn)
            assert notice["body"]["resourceType"] == "Communication"
            async with sessionmaker(chain.hub.engine)() as session:
                assert (await audit.verify(session)).broken is None
