"""The two places the hub runs in the tests: embedded (tansu and SQLite, as `make up`)
and the production path (Apache Kafka with the idempotent producer, and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from hub.bus.admin import ensure_topics
from hub.bus.apache_kafka import ApacheKafka, unavailable
from hub.core.topics import ALL_TOPICS
from hub.settings import KafkaSettings
from hub.state.embedded_postgres import create_database

EMBEDDED, PRODUCTION = "embedded", "production"
REQUIRED = "HUB_REQUIRE_PRODUCTION_PATH"
"""Set by CI, on a machine kind that has Java, Maven and the PostgreSQL wheel: a
production-path test that cannot run there fails instead of skipping."""


BOTH_PATHS = [
    pytest.param(EMBEDDED, id="tansu-sqlite"),
    pytest.param(
        PRODUCTION, id="kafka-postgres", marks=[pytest.mark.apache_kafka, pytest.mark.postgres]
    ),
]
"""A fixture's parameters for running its tests on both paths."""


def apache_kafka_or_skip() -> None:
    """Skip, with the reason, where Apache Kafka cannot run (fail where CI requires it)."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get(REQUIRED):
        pytest.fail(f"Apache Kafka is required here ({REQUIRED}) but {reason}")
    pytest.skip(f"Apache Kafka tests skipped: {reason}")


def postgres_or_skip(reason: str) -> None:
    if os.environ.get(REQUIRED):
        pytest.fail(f"PostgreSQL is required here ({REQUIRED}) but {reason}")
    pytest.skip(f"no PostgreSQL: {reason}")


@dataclass(frozen=True)
class Backend:
    """A broker and a store for one test; ``database_url`` None means SQLite in the
    test's own folder."""

    name: str
    kafka: KafkaSettings
    database_url: str | None = None
    cluster: ApacheKafka | None = None
    """The Apache Kafka nodes, where the test owns them (to kill one, say)."""

    @property
    def production(self) -> bool:
        return self.name == PRODUCTION

    def sqlite_or(self, tmp: object) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{tmp}/hub.db"


def production_kafka(kafka: ApacheKafka) -> KafkaSettings:
    """The hub's shipped Kafka defaults, with the idempotent producer on (as production
    runs Apache Kafka) and the cluster's replication factor for new topics."""
    return KafkaSettings(
        bootstrap_servers=kafka.bootstrap_servers,
        idempotent_producer=True,
        replication_factor=kafka.replication_factor,
    )


async def cluster_ready(settings: KafkaSettings, brokers: int, timeout_s: float = 90) -> None:
    """Wait until all ``brokers`` are registered, then create the hub's topics."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await admin.start()
            seen = len((await admin.describe_cluster())["brokers"])
        except Exception:  # a broker still starting refuses or times out: ask again
            seen = 0
        finally:
            await admin.close()
        if seen >= brokers:
            await ensure_topics(settings, ALL_TOPICS)
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"only {seen} of {brokers} Apache Kafka brokers registered")


async def fresh_database(admin_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``admin_url``."""
    return await create_database(admin_url, f"hubtest_{uuid.uuid4().hex[:12]}")
