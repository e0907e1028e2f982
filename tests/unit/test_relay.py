"""A new broker is owed a re-drive until one completes, whatever the broker looks like
by then. On tansu a re-drive can fail (a write that raced the topics' creation is
answered UNKNOWN_SERVER_ERROR), and while it waits the new broker fills with new
traffic past the mark of the one it replaced: a second look alone saw nothing new, so
what was lost with the old broker was never sent again (the CI failure of
tests/chaos/test_broker_restart.py). The broker is a double here: what matters is what
the relay does with what it sees, on the shipped SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiokafka.errors import UnknownError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import relay as relay_module
from hub.bus.admin import BrokerState
from hub.core.record import KafkaRecord
from hub.core.topics import DETENTION, ROUTER_GROUP, TopicSpec
from hub.relay import Redriven, Relay
from hub.settings import KafkaSettings
from hub.state import accepted
from hub.state.database import make_engine, migrate, sessionmaker

PARTITION = f"{DETENTION.name}:0"
LOST = KafkaRecord(DETENTION.name, b"psn-k1-client", b"sealed", {"ce_id": "e-1"})


class Broker:
    """What the relay is shown of the broker, and what it was sent; a send fails while
    ``refusing``."""

    def __init__(self) -> None:
        self.ends = {PARTITION: 0}
        self.refusing = False
        self.sent: list[KafkaRecord] = []

    async def read(self) -> BrokerState:
        return BrokerState("tansu_cluster", dict(self.ends))

    async def close(self) -> None:
        pass

    async def create(self, settings: KafkaSettings, specs: Sequence[TopicSpec]) -> list[str]:
        return []

    async def send(self, records: Sequence[KafkaRecord]) -> None:
        if self.refusing:
            raise UnknownError()
        self.sent += records


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Broker:
    """The relay's two looks at Kafka (hub.bus.admin) answered by the double."""
    double = Broker()
    monkeypatch.setattr(relay_module, "BrokerWatch", lambda settings, topics: double)
    monkeypatch.setattr(relay_module, "ensure_topics", double.create)
    return double


async def test_a_failed_redrive_is_owed_until_one_completes_even_after_a_restart(
    store: AsyncEngine, broker: Broker
) -> None:
    sessions = sessionmaker(store)
    kafka = KafkaSettings()
    relay = Relay(sessions, broker.send, kafka, router=ROUTER_GROUP)
    assert await relay.check() is None  # the first look: nothing left from before
    async with sessions.begin() as session:  # published to the old broker, not routed
        kept = await accepted.accept(session, "e-1", "psn-k1-client", LOST)
        await accepted.mark_published(session, [kept.seq])
    broker.ends = {PARTITION: 10}
    assert await relay.check() is None  # the old broker, grown: the mark follows

    broker.ends = {PARTITION: 2}  # a new, empty broker took its place
    broker.refusing = True
    with pytest.raises(UnknownError):
        await relay.check()
    assert broker.sent == []

    broker.ends = {PARTITION: 50}  # new traffic carried it past the old mark
    broker.refusing = False
    restarted = Relay(sessions, broker.send, kafka, router=ROUTER_GROUP)
    redriven = await restarted.check()
    assert redriven == Redriven(events=1, deliveries=0)
    assert broker.sent == [LOST]

    assert await restarted.check() is None  # settled: nothing is sent twice
    assert broker.sent == [LOST]
