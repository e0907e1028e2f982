"""Shared fixtures: the embedded broker, the databases, and the log-leak guard."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.bus.admin import ensure_topics
from hub.bus.embedded import EmbeddedKafka
from hub.bus.topics import ALL_TOPICS
from hub.logs import configure_logging, make_formatter
from hub.settings import KafkaSettings, LogSettings
from hub.state.database import make_engine, migrate
from tests.data import TEST_BSNS, TEST_NAMES

POSTGRES_ADMIN_URL = os.environ.get(
    "HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging(LogSettings(level="DEBUG", format="json"))
    # Every statement twice, through the JSON scrubber, slowed the hub several-fold.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


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


async def _postgres_database() -> str | None:
    """A fresh database on the local PostgreSQL, or None when it does not answer."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN_URL)
    name = f"hubtest_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            database=url.database,
            timeout=3,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[AsyncEngine]:
    """A migrated state store, on SQLite and on PostgreSQL (skipped when it is absent)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    else:
        pg = await _postgres_database()
        if pg is None:
            pytest.skip(f"PostgreSQL does not answer at {POSTGRES_ADMIN_URL}")
        url = pg
    db = make_engine(url)
    await migrate(db)
    yield db
    await db.dispose()


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
